"""The real Codex CLI for the openai-codex-app-server tests, installed from npm on first use and kept.

Why: the tests must run the binary an operator would install (`npm install -g @openai/codex`), pinned
to the version the runtime's protocol notes were taken from. tests/codex/package.json and its lock pin
@openai/codex (and its native optional dependency @openai/codex-linux-x64); `npm ci` there installs it
into tests/codex/node_modules (ignored by git), once: later runs find it there. Several test workers may
ask at once, so the install holds a file lock. `.ci/run` installs it before the tests, as it does the
browser test's driver. Where npm is missing or the install fails, the tests are skipped saying why (in
CI, with TASKBOARD_TESTS_NEED_NAMESPACE=1, they fail instead: they must really run there).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).parent / "codex"
# The npm package's own entry point: the runtime finds the native binary behind it, as it would for
# an operator's `codex` on PATH.
WRAPPER = HERE / "node_modules" / "@openai" / "codex" / "bin" / "codex.js"
NATIVE = HERE / "node_modules" / "@openai" / "codex-linux-x64" / "vendor" / "x86_64-unknown-linux-musl" / "bin" / "codex"


def _cannot(reason: str) -> None:
    import pytest  # only here: .ci/run runs this module with a bare python3

    if os.environ.get("TASKBOARD_TESTS_NEED_NAMESPACE"):
        pytest.fail(reason)
    pytest.skip(reason)


def installed() -> bool:
    """The pinned version is there, native binary and all (a changed pin installs again)."""
    try:
        pinned = json.loads((HERE / "package.json").read_text())["dependencies"]["@openai/codex"]
        have = json.loads((WRAPPER.parent.parent / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return False
    return have == pinned and NATIVE.exists()


def codex_wrapper() -> Path:
    if installed():
        return WRAPPER
    if shutil.which("npm") is None:
        _cannot("the Codex tests need npm to install @openai/codex (tests/codex/package.json)")
    with open(HERE / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not installed():
            done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE,
                                  capture_output=True, text=True, timeout=600, check=False,
                                  stdin=subprocess.DEVNULL)
            if done.returncode != 0 or not installed():
                _cannot(f"npm ci in tests/codex failed: {(done.stderr or done.stdout).strip()[-500:]}")
    return WRAPPER


if __name__ == "__main__":  # .ci/run: install it before the tests (python -m tests.codex_cli)
    if not installed():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, check=True,
                       stdin=subprocess.DEVNULL)
    print(WRAPPER)
