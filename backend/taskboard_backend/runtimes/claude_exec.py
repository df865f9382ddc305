"""Started by the Claude Agent SDK in place of the Claude Code CLI; execs the real one.

Why it exists: the SDK starts the CLI with the server's whole environment merged under the one it is
given, so a variable the runtime never meant to pass (TASKBOARD_API_KEY, a cloud token) would
reach the agent. This program keeps only the variables named in TASKBOARD_CLAUDE_KEEP (the
runtime's allow-list and the few the SDK sets itself), puts the CLI in a session and process group
of its own (so cancel can end the CLI and every tool process it started, and nothing of the
server's group), and execs the CLI named by TASKBOARD_CLAUDE_CLI. Only os and sys: it runs under
`python -I -S`, in a few milliseconds.
"""

import os
import sys


def main() -> None:
    keep = [name for name in os.environ.get("TASKBOARD_CLAUDE_KEEP", "").split(",") if name]
    cli = os.environ.get("TASKBOARD_CLAUDE_CLI")
    if not cli:
        sys.stderr.write("claude_exec: TASKBOARD_CLAUDE_CLI is not set\n")
        sys.exit(2)
    env = {name: os.environ[name] for name in keep if name in os.environ}
    try:
        os.setsid()
    except OSError:
        pass  # already a group leader
    os.execve(cli, [cli, *sys.argv[1:]], env)


if __name__ == "__main__":
    main()
