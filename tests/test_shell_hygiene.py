"""What a shell task's child gets from the server, and what it does not (issue 19, SECURITY.md "Shell tasks").

Each test reads the child itself where it can: /proc/PID/environ for its environment, /proc/PID/fd for
its descriptors, kill(pid, 0) for whether it still runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from pathlib import Path

import httpx
import pytest

from taskboard.client import TaskboardClient
from tests.helpers import start_task, wait_for_status, wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

KEY = "k-0123456789abcdef-secret"


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for its reaper."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] != b"Z"


async def read_pid(path: Path, timeout: float = 20.0) -> int:
    async def ready() -> int | None:
        text = path.read_text().strip() if path.exists() else ""
        return int(text) if text.isdigit() else None
    return await wait_until(ready, timeout)


def listening_inodes() -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[3] == "0A":  # TCP_LISTEN
                    inodes.add(fields[9])
    return inodes


async def test_a_child_gets_no_server_secret_in_its_environment(start_server, tmp_path: Path) -> None:
    server = start_server("--enable-shell", "--shell-env", "EXTRA_OK",
                          env={"TASKBOARD_API_KEY": KEY, "AWS_SECRET_ACCESS_KEY": "aws-secret", "EXTRA_OK": "yes"})
    marker = tmp_path / "pid"
    async with TaskboardClient(server.url, api_key=KEY) as client:
        task = await start_task(client, "env", assigned_agent="shell",
                                params={"command": f"echo $$ > {marker}; exec sleep 60"})
        pid = await read_pid(marker)
        await wait_until(lambda: _async(b"sleep" in Path(f"/proc/{pid}/cmdline").read_bytes()))
        environ = dict(item.split(b"=", 1) for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if item)
        assert b"TASKBOARD_API_KEY" not in environ
        assert b"AWS_SECRET_ACCESS_KEY" not in environ
        assert KEY.encode() not in Path(f"/proc/{pid}/environ").read_bytes()
        assert environ[b"TASKBOARD_TASK_ID"] == task.id.encode()
        assert environ[b"EXTRA_OK"] == b"yes"  # what a child needs is named with --shell-env
        assert b"PATH" in environ
        await client.cancel(task.id)


async def _async(value: object) -> object:
    return value


async def first_line(client: TaskboardClient, task_id: str, prefix: str, timeout: float = 20.0) -> str:
    async def find() -> str:
        async with contextlib.aclosing(client.stream_logs(task_id)) as entries:
            async for entry in entries:
                if entry.message.startswith(prefix):
                    return entry.message
        raise AssertionError(f"no log line starting {prefix!r}")
    return await asyncio.wait_for(find(), timeout)


async def test_a_task_cannot_answer_its_own_permission_request(start_server) -> None:
    """The attack of finding 3: a task asks to run `rm -rf /important`, then approves it itself with the
    key it inherited. With the key kept from it, its call is a 401 and the request stays pending."""
    server = start_server("--enable-shell", env={"TASKBOARD_API_KEY": KEY})
    approve = (
        "import json, os, sys, time, urllib.request, urllib.error\n"
        f"base = {server.url!r}\n"
        "headers = {'X-API-Key': os.environ.get('TASKBOARD_API_KEY', ''), 'Content-Type': 'application/json'}\n"
        "tid = os.environ['TASKBOARD_TASK_ID']\n"
        "try:\n"
        "    for _ in range(200):\n"
        "        req = urllib.request.Request(base + '/api/permissions?status=pending&taskId=' + tid, headers=headers)\n"
        "        pending = json.load(urllib.request.urlopen(req))\n"
        "        if pending: break\n"
        "        time.sleep(0.05)\n"
        "    body = json.dumps({'notificationId': pending[0]['id'], 'behavior': 'allow'}).encode()\n"
        "    req = urllib.request.Request(base + '/api/tasks/' + tid + '/respond', body, headers, method='POST')\n"
        "    print('self-approval: answered', urllib.request.urlopen(req).status, file=sys.stderr)\n"
        "except urllib.error.HTTPError as e:\n"
        "    print('self-approval: refused', e.code, file=sys.stderr)\n"
    )
    # The request goes out first; the stdout reader then waits for its answer, so the script reports
    # on stderr.
    script = ("echo '::taskboard {\"type\":\"permission\",\"tool\":\"Bash\","
              "\"input\":{\"command\":\"rm -rf /important\"}}'\n"
              f"{sys.executable} -c {_sh_quote(approve)}\n"
              "read answer; echo \"answer: $answer\"")
    async with TaskboardClient(server.url, api_key=KEY) as client:
        task = await start_task(client, "self-approve", assigned_agent="shell", params={"command": script})
        assert await first_line(client, task.id, "self-approval:") == "self-approval: refused 401"
        pending = await client.list_permissions("pending", task_id=task.id)
        assert [p.tool_input for p in pending] == [{"command": "rm -rf /important"}]
        await client.cancel(task.id)


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


async def test_a_child_holds_no_descriptor_of_the_server(start_server, tmp_path: Path) -> None:
    server = start_server("--enable-shell")
    marker = tmp_path / "pid"
    async with TaskboardClient(server.url) as client:
        task = await start_task(client, "fds", assigned_agent="shell",
                                params={"command": f"echo $$ > {marker}; exec sleep 60"})
        pid = await read_pid(marker)
        await wait_until(lambda: _async(b"sleep" in Path(f"/proc/{pid}/cmdline").read_bytes()))
        fds = {int(fd): os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        assert set(fds) == {0, 1, 2}, fds  # its stdin, stdout and stderr, nothing else of the server's
        listening = listening_inodes()
        assert not [t for t in fds.values() if t.startswith("socket:[") and t[8:-1] in listening]
        await client.cancel(task.id)


async def test_a_leftover_child_does_not_keep_the_port(start_server, tmp_path: Path) -> None:
    """After a SIGKILL of the server, a restart on the same port works, whatever its tasks left behind."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    db = tmp_path / "port.db"
    server = start_server("--enable-shell", "--port", str(port), db=db)
    marker = tmp_path / "pid"
    async with TaskboardClient(server.url) as client:
        await start_task(client, "leftover", assigned_agent="shell",
                         params={"command": f"setsid sleep 311 & echo $! > {marker}; exec sleep 60"})
        leftover = await read_pid(marker)
    try:
        server.kill()
        assert alive(leftover)  # it escaped the group; it must not hold the port anyway
        restarted = start_server("--enable-shell", "--port", str(port), db=db)
        async with httpx.AsyncClient(base_url=restarted.url) as http:
            assert (await http.get("/api/health")).status_code == 200
    finally:
        os.kill(leftover, 9)


async def test_a_task_ends_when_its_command_ends(client: TaskboardClient, tmp_path: Path) -> None:
    """`sleep N &` and `(sleep N &)` hold stdout open; the task is over when the shell is, and so are they."""
    for n, command in enumerate(["sleep 311 & echo $! > {m}; echo started",
                                 "(sleep 315 >/dev/null 2>&1 & echo $! > {m}); echo done"]):
        marker = tmp_path / f"pid{n}"
        task = await start_task(client, f"background {n}", assigned_agent="shell",
                                params={"command": command.format(m=marker)})
        done = await wait_for_status(client, task.id, "completed", "failed", timeout=10)
        assert done.status == "completed", done.error
        pid = await read_pid(marker)
        await wait_until(lambda pid=pid: _async(not alive(pid)), timeout=5)


async def test_cancel_ends_the_group_even_when_the_shell_ignores_it(client: TaskboardClient,
                                                                     tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    task = await start_task(client, "stubborn", assigned_agent="shell",
                            params={"command": f"trap '' TERM; sleep 313 & echo $! > {marker}; wait"})
    pid = await read_pid(marker)
    await client.cancel(task.id)
    await wait_until(lambda: _async(not alive(pid)), timeout=6)


async def test_a_70_kb_line_is_cut_with_a_marker_and_the_task_goes_on(client: TaskboardClient) -> None:
    command = "head -c 70000 /dev/zero | tr '\\0' x; echo; echo after"
    task = await start_task(client, "long line", assigned_agent="shell", params={"command": command})
    done = await wait_for_status(client, task.id, "completed", "failed", timeout=15)
    assert done.status == "completed", done.error
    lines = [e.message async for e in client.stream_logs(task.id)]
    long = [line for line in lines if line.startswith("xxxx")]
    assert len(long) == 1 and "[… line truncated: 70000 bytes in all]" in long[0]
    assert "after" in lines


async def test_a_negative_cost_is_refused(start_server) -> None:
    server = start_server("--enable-shell", "--daily-budget", "1")
    command = ("echo '::taskboard {\"type\":\"usage\",\"inputTokens\":1,\"outputTokens\":1,"
               "\"costMicros\":-900000000}'; echo '::taskboard {\"type\":\"usage\",\"inputTokens\":-5}'")
    async with TaskboardClient(server.url) as client:
        task = await start_task(client, "refund", assigned_agent="shell", params={"command": command})
        done = await wait_for_status(client, task.id, "completed", "failed")
        assert done.status == "completed"
        assert done.cost_micros == 0 and (done.total_tokens or 0) == 0
        lines = [e.message async for e in client.stream_logs(task.id)]
        assert "Protocol line refused: costMicros must be a whole number, 0 or more (got -900000000)" in lines
        assert "Protocol line refused: inputTokens must be a whole number, 0 or more (got -5)" in lines


def test_the_server_warns_when_shell_tasks_could_call_it_without_a_key(start_server) -> None:
    warning = "the shell runtime is on and there is no API key"
    assert any(warning in line for line in start_server("--enable-shell").output)
    assert not any(warning in line for line in start_server("--enable-shell", env={"TASKBOARD_API_KEY": KEY}).output)
