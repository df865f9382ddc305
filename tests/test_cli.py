"""The scripting CLI, run as a person or a script would (a subprocess), against the real backend and
the contract servers: --json that parses, tables for people, contexts from a config file, and the
exit codes (0 ok, 1 refused, 2 usage or config, 3 unreachable)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from taskboard.client import TaskboardClient
from tests.helpers import LONG, start_task, wait_for_status, wait_until
from tests.server import ServerProcess


def taskboard(*args: str, config: Path | None = None, env: dict[str, str] | None = None,
              timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("TASKBOARD_")}
    full.update({"NO_COLOR": "1", "COLUMNS": "200", "TASKBOARD_CONFIG": str(config or "/nonexistent/config.toml")})
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "taskboard", *args], capture_output=True, text=True,
                          env=full, timeout=timeout, stdin=subprocess.DEVNULL, check=False)


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------- the bundled backend


async def test_every_verb_against_the_backend(server: ServerProcess, client: TaskboardClient) -> None:
    url = ("--url", server.url)
    created = as_json(taskboard("create", "cli planned task", "-d", "from the CLI", "-p", "1", *url, "--json"))
    assert created["status"] == "planned" and created["priority"] == 1 and created["title"] == "cli planned task"
    endless = {**LONG, "costPerStepMicros": 0}  # runs until cancelled, however slow this machine is
    started = as_json(taskboard("run", "cli run", "--params", json.dumps(endless), *url, "--json"))
    await wait_for_status(client, started["id"], "running")

    listed = as_json(taskboard("ls", *url, "--json", "-n", "1000"))
    assert {created["id"], started["id"]} <= {t["id"] for t in listed}
    running = as_json(taskboard("ls", "--status", "running", *url, "--json", "-n", "1000"))
    assert started["id"] in {t["id"] for t in running} and all(t["status"] == "running" for t in running)
    table = taskboard("ls", *url)
    assert table.returncode == 0 and "cli planned task" in table.stdout and "STATUS" in table.stdout

    shown = as_json(taskboard("show", created["id"], *url, "--json"))
    assert shown["description"] == "from the CLI"
    assert "from the CLI" in taskboard("show", created["id"], *url).stdout

    lines = taskboard("logs", started["id"], *url, "--json")
    assert lines.returncode == 0
    entries = [json.loads(line) for line in lines.stdout.splitlines()]
    assert entries and all("message" in e and "eventType" in e for e in entries)

    assert taskboard("cancel", started["id"], *url).returncode == 0
    await wait_for_status(client, started["id"], "cancelled")
    again = taskboard("cancel", started["id"], *url)
    assert again.returncode == 1 and "the server refused (400)" in again.stderr
    assert as_json(taskboard("resume", started["id"], *url, "--json"))["taskId"] == started["id"]
    await wait_for_status(client, started["id"], "running")
    await client.cancel(started["id"])

    assert taskboard("show", "no-such-task", *url).returncode == 1
    assert as_json(taskboard("cleanup", "--older-than", "0", *url, "--json"))["deleted"] >= 0


async def test_approve_deny_and_message_from_the_cli(server: ServerProcess, client: TaskboardClient) -> None:
    url = ("--url", server.url)
    asks = {"steps": 3, "stepSeconds": 0.02,
            "permission": {"tool": "Bash", "input": {"command": "npm test"}, "atStep": 1}}
    first = await start_task(client, "needs approval", params=asks)
    second = await start_task(client, "gets denied", params=asks)
    for task in (first, second):
        await wait_until(lambda t=task: client.list_permissions("pending", task_id=t.id))
    approved = as_json(taskboard("approve", first.id, *url, "--json"))
    assert approved["behavior"] == "allow" and approved["tool"] == "Bash"
    await wait_for_status(client, first.id, "completed")
    assert taskboard("deny", second.id, "-m", "not now", *url).returncode == 0
    await wait_for_status(client, second.id, "failed", "completed", "cancelled")
    nothing = taskboard("approve", first.id, *url)
    assert nothing.returncode == 1 and "no permission request waiting" in nothing.stderr

    asking = await start_task(client, "asks a question",
                              params={"steps": 3, "stepSeconds": 0.02, "question": "Which region?"})
    await wait_for_status(client, asking.id, "awaiting_input")
    answered = as_json(taskboard("msg", asking.id, "eu-west-1", *url, "--json"))
    assert answered["id"] == asking.id
    await wait_for_status(client, asking.id, "completed")
    assert (await client.list_messages(asking.id))[-1].message == "eu-west-1"


def test_exit_codes_for_usage_and_unreachable() -> None:
    unreachable = taskboard("ls", "--url", "http://127.0.0.1:9")
    assert unreachable.returncode == 3 and "Cannot reach http://127.0.0.1:9" in unreachable.stderr
    assert taskboard("ls", "--limit", "0").returncode == 2  # click's usage error
    assert taskboard("show").returncode == 2
    bad = taskboard("ls", "--dialect", "klingon", "--url", "http://127.0.0.1:9")
    assert bad.returncode == 2 and "unknown dialect 'klingon'" in bad.stderr
    version = taskboard("--version")
    assert version.returncode == 0 and version.stdout.startswith("taskboard, version")


# ---------------------------------------------------------------------------- the config file


def test_contexts_list_names_where_keys_come_from_and_never_the_key(tmp_path: Path) -> None:
    config = write_config(tmp_path, '''
default_context = "local"

[contexts.local]
url = "http://127.0.0.1:8765"

[contexts.research]
url = "https://tasks.example.com"
dialect = "v1-envelope"
api_key = "s3cret-in-file"
read_only = true

[contexts.graph]
url = "https://cortex.example.com"
dialect = "cortex"
api_key_env = "GRAPH_KEY"
poll_interval = 5
''')
    table = taskboard("contexts", config=config, env={"GRAPH_KEY": "s3cret-in-env"})
    assert table.returncode == 0
    assert "s3cret" not in table.stdout + table.stderr
    assert "$GRAPH_KEY (set)" in table.stdout and "in the file" in table.stdout and "read-only" in table.stdout
    data = as_json(taskboard("contexts", "--json", config=config))
    assert "s3cret" not in json.dumps(data)
    by_name = {c["name"]: c for c in data["contexts"]}
    assert by_name["local"]["default"] and by_name["graph"]["key"] == "$GRAPH_KEY (not set)"
    assert by_name["graph"]["pollInterval"] == 5 and by_name["research"]["readOnly"] is True


@pytest.mark.parametrize(("text", "expected"), [
    ('[contexts.a]\nurl = "http://x"\nread_only = yes\n', "line 3"),  # TOML syntax: tomllib's line
    ('[contexts.a]\nurl = "http://x"\n\ndialect = "soap"\n', "line 4: contexts.a.dialect: unknown dialect 'soap'"),
    ('[contexts.a]\nurl = "http://x"\n[contexts.b]\nurl = "ftp://y"\n', "line 4: contexts.b.url: required"),
    ('[contexts.a]\nurl = "http://x"\npoll_interval = 0.1\n', "line 3: contexts.a.poll_interval: must be a number"),
    ('[contexts.a]\nurl = "http://x"\nworkspace_id = "w"\n', "line 3: contexts.a.workspace_id: unknown key"),
    ('[contexts.a]\nurl = "http://x"\ndialect = "background-tasks"\n', "contexts.a.workspace_id: required"),
    ('default_context = "b"\n[contexts.a]\nurl = "http://x"\n', "line 1: default_context: names no context"),
    ('[contexts.a]\nurl = "http://x"\napi_key = "k"\napi_key_env = "K"\n',
     "line 4: contexts.a.api_key_env: give api_key or api_key_env, not both"),
])
def test_a_broken_config_names_the_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    config = write_config(tmp_path, text)
    result = taskboard("ls", "--context", "a", config=config)
    assert result.returncode == 2
    assert str(config) in result.stderr and expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_key_from_an_unset_variable_is_a_config_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, '[contexts.a]\nurl = "http://127.0.0.1:9"\napi_key_env = "NOT_SET_HERE"\n')
    result = taskboard("ls", "-c", "a", config=config)
    assert result.returncode == 2 and "$NOT_SET_HERE, which is not set" in result.stderr


# ---------------------------------------------------------------------------- other APIs, through contexts


def control(server: ServerProcess, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, server.url + path, json=body)
    response.raise_for_status()
    return response.json()


def test_verbs_on_every_dialect_through_contexts(contract_server: Callable[..., ServerProcess],
                                                 server: ServerProcess, tmp_path: Path) -> None:
    v1, cortex, background, agents = (contract_server("v1-envelope"), contract_server("cortex", api_key="ck"),
                                      contract_server("background-tasks"), contract_server("agent-platform"))
    control(v1, "POST", "/_contract/tasks", {"status": "running", "progress": 50})
    control(cortex, "POST", "/_contract/tasks", {"task_id": "t1", "status": "running"})
    control(cortex, "POST", "/_contract/tasks", {"task_id": "t2", "status": "completed",
                                                  "result": {"communities": 7}})
    control(agents, "PUT", "/_contract/agents/agent-1", {"state": "active"})
    workspace = str(uuid.uuid4())
    config = write_config(tmp_path, f'''
[contexts.native]
url = "{server.url}"
[contexts.v1]
url = "{v1.url}"
dialect = "v1-envelope"
[contexts.graph]
url = "{cortex.url}"
dialect = "cortex"
api_key_env = "GRAPH_KEY"
[contexts.bg]
url = "{background.url}"
dialect = "background-tasks"
workspace_id = "{workspace}"
conversation_id = "{uuid.uuid4()}"
[contexts.agents]
url = "{agents.url}"
dialect = "agent-platform"
agent_id = "agent-1"
registry_path = "{tmp_path / 'registry.json'}"
[contexts.watched]
url = "{v1.url}"
dialect = "v1-envelope"
read_only = true
''')

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return taskboard(*args, config=config, env={"GRAPH_KEY": "ck"})

    # v1-envelope: list, show, cancel; no create, with the reason.
    rows = as_json(cli("ls", "-c", "v1", "--json"))
    assert [(r["id"], r["status"], r["progress"]["current"]) for r in rows] == [("1", "running", 50)]
    refused = cli("create", "x", "-c", "v1")
    assert refused.returncode == 1 and "created by its pipelines" in refused.stderr
    watched = cli("cancel", "1", "-c", "watched")
    assert watched.returncode == 1 and "read-only" in watched.stderr
    assert cli("cancel", "1", "-c", "v1").returncode == 0
    assert as_json(cli("show", "1", "-c", "v1", "--json"))["status"] == "cancelled"

    # cortex: the key from the environment, cleanup, cancel by DELETE.
    assert as_json(cli("cleanup", "-c", "graph", "--json")) == {"deleted": 0, "taskIds": []}
    assert cli("cancel", "t1", "-c", "graph").returncode == 0
    assert as_json(cli("show", "t2", "-c", "graph", "--json"))["resultData"] == {"communities": 7}
    assert '{"communities": 7}' in cli("show", "t2", "-c", "graph").stdout
    assert taskboard("ls", "-c", "graph", config=config, env={"GRAPH_KEY": "wrong"}).returncode == 1

    # background-tasks: spawn with a task type, then its progress log.
    spawned = as_json(cli("run", "-d", "Synthesize Q1 interviews", "--set", "task_type=synthesis", "-c", "bg",
                          "--json"))
    assert spawned["status"] == "queued" and spawned["taskType"] == "synthesis"
    log = cli("logs", spawned["id"], "-c", "bg")
    assert log.returncode == 0 and "Task created" in log.stdout
    assert [r["id"] for r in as_json(cli("ls", "-c", "bg", "--json"))] == [spawned["id"]]
    assert cli("cancel", spawned["id"], "-c", "bg").returncode == 0
    assert as_json(cli("show", spawned["id"], "-c", "bg", "--json"))["status"] == "cancelled"
    resume = cli("resume", spawned["id"], "-c", "bg")
    assert resume.returncode == 1 and "cannot resume a task; spawn a new one" in resume.stderr

    # agent-platform: submit with a priority and metadata, message only when awaiting input.
    submitted = as_json(cli("create", "Summarize the report", "-p", "8", "--params", '{"team": "ops"}',
                            "-c", "agents", "--json"))
    assert submitted["priority"] == 8 and submitted["assignedAgent"] == "agent-1"
    early = cli("msg", submitted["id"], "hello", "-c", "agents")
    assert early.returncode == 1 and "messages go to running tasks" in early.stderr
    control(agents, "PATCH", f"/_contract/tasks/{submitted['id']}", {"status": "awaiting_input"})
    assert as_json(cli("msg", submitted["id"], "use Q3", "-c", "agents", "--json"))["status"] == "running"
    assert [r["id"] for r in as_json(cli("ls", "-c", "agents", "--json"))] == [submitted["id"]]
    assert cli("cancel", submitted["id"], "-c", "agents").returncode == 0
    assert as_json(cli("show", submitted["id"], "-c", "agents", "--json"))["status"] == "cancelled"
    resume = cli("resume", submitted["id"], "-c", "agents")
    assert resume.returncode == 1 and "submit it again" in resume.stderr

    # auto: probed, and the answer is the right API.
    auto = taskboard("ls", "--url", v1.url, "--dialect", "auto", "--json")
    assert as_json(auto)[0]["id"] == "1"
    assert f"{v1.url} speaks v1-envelope (GET /api/v1/tasks answered with a {{code, message, data}}" in auto.stderr


async def _web_terminal(url: str, until: bytes, timeout: float = 20) -> bytes:
    import aiohttp  # textual-serve's own dependency

    received = b""
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.send_str(json.dumps(["resize", {"width": 120, "height": 30}]))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                async for message in ws:
                    received += message.data if isinstance(message.data, bytes) else str(message.data).encode()
                    if until in received:
                        break
    return received


def test_web_serves_the_board_on_loopback(server: ServerProcess) -> None:
    import socket
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKBOARD_")}
    env["TASKBOARD_CONFIG"] = "/nonexistent/config.toml"
    proc = subprocess.Popen([sys.executable, "-m", "taskboard", "web", "--port", str(port), "--url", server.url],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(f"taskboard: web board at http://127.0.0.1:{port}/?token=")
        token = line.split("?token=", 1)[1].split()[0]
        deadline = time.monotonic() + 20
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/?token={token}", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert f"ws://127.0.0.1:{port}/ws" in page.text  # the page opens the board's websocket
        # Through that websocket, as the browser would: the board itself, on our server.
        screen = asyncio.run(_web_terminal(f"http://127.0.0.1:{port}/ws?token={token}", until=server.url.encode()))
        assert b"taskboard" in screen and server.url.encode() in screen
    finally:
        proc.terminate()
        proc.wait(10)
