"""A loopback-only network namespace for the calling thread, for tests that run a real agent.

Why: the `claude-code` tests start the real Claude Code CLI, which must never reach a non-loopback
address. `sealed()` moves the calling thread (the test's event loop thread) into a new network
namespace that has nothing but `lo`, and moves it back afterwards. A network namespace belongs to a
thread, and what it starts inherits it: the server, the CLI it spawns, the stand-in's listening
socket and the test's own client all live in the sealed namespace, and reach each other on
127.0.0.1 there. Nothing else exists in it, so any other address is unreachable.

Needs root (CAP_SYS_ADMIN) and `ip`; where a namespace cannot be made the test is skipped, saying why
(CI sets TASKBOARD_TESTS_NEED_NAMESPACE=1, and there it fails instead: those tests must really run).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _call(name: str, *args: int) -> None:
    if getattr(_libc, name)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")


def interfaces() -> list[str]:
    """The interfaces the calling thread's namespace has (from `ip`, which inherits it)."""
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if line.strip()]


def _cannot(reason: str) -> None:
    if os.environ.get("TASKBOARD_TESTS_NEED_NAMESPACE"):
        pytest.fail(reason)
    pytest.skip(reason)


@contextlib.contextmanager
def sealed() -> Iterator[None]:
    if shutil.which("ip") is None:
        _cannot("no loopback-only network namespace: the `ip` command is missing")
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        try:
            _call("unshare", CLONE_NEWNET)
        except OSError as exc:
            _cannot(f"no loopback-only network namespace could be made ({exc}); these tests run a "
                    "real agent and need one (run them as root)")
        try:
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True, capture_output=True)
            names = interfaces()
            assert names == ["lo"], f"the sealed namespace has more than loopback: {names}"
            yield
        finally:
            _call("setns", original, CLONE_NEWNET)
    finally:
        os.close(original)
