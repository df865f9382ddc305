"""A deterministic simulated agent.

It writes assistant and tool_use log lines, reports progress, records token
usage and cost, saves a checkpoint after every step (so resume continues from
there), and, when its params ask for it, requests a permission or asks a
question. Its behaviour is a function of the task id and params, never of the
clock, so tests and the demo board are reproducible.

params (all optional):
  steps           number of steps (default: 5-12, from the task id)
  stepSeconds     seconds per step before speed-up (default: 5-30 s in total)
  permission      true, or {"tool": ..., "input": {...}, "message": ..., "atStep": n}
  question        a question string, or {"message": ..., "atStep": n}
  failAtStep      fail with an error at that step
  holdAtStep      stop at that step and stay running until cancelled (a board frozen mid-run, for screenshots)
  costPerStepMicros  override the per-step cost (to exercise the budget)
  output          "markdown" (default), "code", "json" or "text"
  diff            true: the run reports a (fixed) unified diff of what it changed, as a coding agent does
"""

from __future__ import annotations

import json
import random
from typing import Any

from taskboard_backend.runtimes.base import RunContext, RunOutcome, RuntimeFailure

MODEL_ID = "claude-sonnet-4-6-20250514"
# Per-token prices in microdollars: $3 per million input tokens, $15 per million output tokens.
INPUT_MICROS_PER_TOKEN = 3
OUTPUT_MICROS_PER_TOKEN = 15

# What a demo coding task "changed" (params.diff), shown in the detail pane as an agent's turn diff is.
DEMO_DIFF = "\n".join((
    "diff --git a/src/report.py b/src/report.py",
    "index 3b18e51..a9c2f07 100644",
    "--- a/src/report.py",
    "+++ b/src/report.py",
    "@@ -1,4 +1,5 @@",
    " def total(rows):",
    "-    return sum(r.amount for r in rows)",
    "+    # Refunds are negative rows: leave them out of the revenue total.",
    "+    return sum(r.amount for r in rows if r.amount > 0)",
    " ",
    "diff --git a/NOTES.md b/NOTES.md",
    "new file mode 100644",
    "--- /dev/null",
    "+++ b/NOTES.md",
    "@@ -0,0 +1 @@",
    "+Revenue excludes refunds from 2026-11 on.",
    "",
))

_THOUGHTS = [
    "Reading the brief and planning the approach",
    "Collecting the relevant sources",
    "Cross-checking figures against the raw data",
    "Drafting the first section",
    "Looking for edge cases the brief did not mention",
    "Refining the summary",
    "Checking the output format",
    "Verifying every claim has a source",
    "Tightening the wording",
    "Preparing the final report",
]
_FILES = [
    "src/data/revenue.csv", "docs/brief.md", "src/report/template.md", "data/q4/summary.json",
    "notes/interviews.txt", "src/analysis/trends.py", "README.md", "data/customers.parquet",
]


def _int(params: dict[str, Any], key: str, default: int) -> int:
    value = params.get(key, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _num(params: dict[str, Any], key: str, default: float) -> float:
    value = params.get(key, default)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


class DemoRuntime:
    id = "demo"
    name = "Demo agent"
    description = "A simulated agent: logs, progress, cost, permission requests and questions, no real work."

    async def run(self, ctx: RunContext) -> RunOutcome:
        params = ctx.params or {}
        rng = random.Random(ctx.task_id)
        steps = max(1, min(_int(params, "steps", rng.randint(5, 12)), 1000))
        step_seconds = _num(params, "stepSeconds", rng.uniform(5, 30) / steps)
        start = 0
        if ctx.resumed and ctx.checkpoint:
            start = min(int(ctx.checkpoint.get("step", 0)), steps)
            await ctx.log("system", f"Resumed from checkpoint after step {start} of {steps}")
        elif ctx.resumed:
            await ctx.log("system", "Resumed with no checkpoint yet: starting from the first step")
        else:
            await ctx.log("system", f"Starting: {ctx.title}")

        permission = params.get("permission")
        permission_step = None
        if permission:
            permission_step = _int(permission, "atStep", max(1, steps // 2)) if isinstance(permission, dict) \
                else max(1, steps // 2)
        question = params.get("question")
        question_step = None
        if question:
            question_step = _int(question, "atStep", max(1, (steps * 2) // 3)) if isinstance(question, dict) \
                else max(1, (steps * 2) // 3)
        fail_step = params.get("failAtStep") if isinstance(params.get("failAtStep"), int) else None
        cost_override = params.get("costPerStepMicros")

        notes: list[str] = []
        hold_step = params.get("holdAtStep") if isinstance(params.get("holdAtStep"), int) else None
        for step in range(start + 1, steps + 1):
            if step == hold_step:
                await ctx.progress(step - 1, steps, phase="working", message=_THOUGHTS[(step - 1) % len(_THOUGHTS)])
                await ctx.sleep(10 ** 9)  # until cancelled
            await ctx.progress(step - 1, steps, phase="working", message=_THOUGHTS[(step - 1) % len(_THOUGHTS)])
            await ctx.log("assistant", f"{_THOUGHTS[(step - 1) % len(_THOUGHTS)]} (step {step}/{steps})")
            path = _FILES[rng.randrange(len(_FILES))]
            await ctx.log("tool_use", f"Reading file: {path}", {"tool": "Read", "input": {"file_path": path}})
            await ctx.sleep(step_seconds)
            await ctx.log("tool_result", f"Read {rng.randint(20, 900)} lines from {path}")

            if step == permission_step:
                spec = permission if isinstance(permission, dict) else {}
                tool = spec.get("tool", "Write")
                tool_input = spec.get("input") or {"file_path": f"/reports/{_slug(ctx.title)}.md"}
                message = spec.get("message") or f"I need to write the report to {tool_input.get('file_path', '?')}."
                decision = await ctx.request_permission(tool, tool_input, message)
                if decision.behavior == "allow":
                    effective = decision.updated_input or tool_input
                    await ctx.log("tool_use", f"{tool}: {json.dumps(effective, sort_keys=True)}",
                                  {"tool": tool, "input": effective})
                    notes.append(f"Wrote {effective.get('file_path', 'the output')}.")
                else:
                    why = f": {decision.message}" if decision.message else ""
                    await ctx.log("assistant", f"Permission for {tool} denied{why}; continuing without it")
                    notes.append(f"Skipped {tool} (denied).")

            if step == question_step:
                text = question.get("message") if isinstance(question, dict) else question
                answer = await ctx.ask(str(text))
                await ctx.log("assistant", f"Got the answer ({answer!r}); carrying on")
                notes.append(f"Asked: {text} Answer: {answer}")

            input_tokens = rng.randint(800, 3000)
            output_tokens = rng.randint(150, 900)
            cost = cost_override if isinstance(cost_override, int) else None
            await ctx.usage(input_tokens, output_tokens, MODEL_ID, cost)
            await ctx.save_checkpoint({"step": step})

            if fail_step is not None and step == fail_step:
                raise RuntimeFailure(f"Simulated failure at step {step}: the data source timed out")

        if params.get("diff") is True:
            await ctx.set_diff(DEMO_DIFF)
        await ctx.progress(steps, steps, phase="done", message="Finished")
        await ctx.log("assistant", "Done.")
        return demo_output(params.get("output", "markdown"), ctx.title, steps, notes)


def _slug(text: str) -> str:
    slug = "".join(ch.lower() if ch.isalnum() else "-" for ch in text).strip("-")
    return "-".join(filter(None, slug.split("-")))[:40] or "output"


def demo_output(kind: Any, title: str, steps: int, notes: list[str]) -> RunOutcome:
    if kind == "json":
        data = {"title": title, "steps": steps, "findings": 3, "notes": notes}
        return RunOutcome(result=json.dumps(data, indent=2), result_data=data)
    if kind == "code":
        code = (
            "def summarise(rows):\n"
            '    """Group revenue by quarter."""\n'
            "    totals = {}\n"
            "    for row in rows:\n"
            "        totals[row.quarter] = totals.get(row.quarter, 0) + row.amount\n"
            "    return totals\n"
        )
        return RunOutcome(result=code)
    if kind == "text":
        return RunOutcome(result=f"{title}: finished in {steps} steps. " + " ".join(notes))
    lines = [f"## {title}", "", f"Completed in {steps} steps.", "", "### Findings", "",
             "- Revenue grew 23% quarter over quarter", "- Churn fell to 2.1%", "- Two regions need follow-up"]
    if notes:
        lines += ["", "### Notes", ""] + [f"- {n}" for n in notes]
    return RunOutcome(result="\n".join(lines) + "\n")
