"""The new-task form: checked with the seed's own rules as you submit, server errors shown in place."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static
from textual.worker import Worker

from taskboard.client import ApiError, TaskboardError, ValidationFailed
from taskboard.client.base import TaskSource
from taskboard.models import (
    DESCRIPTION_MAX,
    TITLE_MAX,
    Project,
    Task,
    TaskCreate,
    flatten_validation_errors,
)
from taskboard.tui.messages import forward_worker_error
from taskboard.tui.screens.fit import fit_body

# Form fields in the order they are shown; the wire name is what errors are keyed by.
FIELDS = ("title", "description", "priority", "assignedAgent", "projectId", "params")


class NewTaskScreen(ModalScreen[Task | None]):
    DEFAULT_CSS = """
    NewTaskScreen {
        align: center middle;
    }
    NewTaskScreen > Vertical {
        width: 84;
        max-width: 98%;
        height: auto;
        max-height: 95%;
        border: thick $accent;
        background: $surface;
        padding: 0 2;
    }
    NewTaskScreen VerticalScroll {
        height: auto;
    }
    NewTaskScreen Input, NewTaskScreen Select {
        margin-right: 1;
    }
    NewTaskScreen Label {
        margin-top: 1;
        color: $text-muted;
    }
    NewTaskScreen .field-error {
        color: $error;
        height: auto;
    }
    NewTaskScreen Input.-invalid {
        border: tall $error;
    }
    NewTaskScreen #form-error {
        color: $error;
        height: auto;
    }
    NewTaskScreen #new-task-buttons {
        height: auto;
        margin: 1 0;
    }
    NewTaskScreen Button {
        margin-right: 2;
    }
    """
    BINDINGS = [
        Binding("escape,q", "dismiss(None)", "Cancel"),
        Binding("ctrl+s", "submit", "Create"),
    ]

    def __init__(self, client: TaskSource, *, projects: list[Project], agents: list[str],
                 project_id: str | None = None) -> None:
        super().__init__()
        self.client = client
        self.projects = projects
        self.agents = agents
        self.project_id = project_id
        # Another API's form has what that API takes (title, description, params); its tasks start at once.
        self.native = getattr(client, "dialect", "taskboard") == "taskboard"

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "New task"
            with VerticalScroll():
                yield Label(f"Title (required, up to {TITLE_MAX} characters)")
                yield Input(id="title", placeholder="what should the agent do?", compact=True)
                yield Static("", id="title-error", classes="field-error")
                yield Label("Description")
                yield Input(id="description", placeholder=f"optional, up to {DESCRIPTION_MAX} characters", compact=True)
                yield Static("", id="description-error", classes="field-error")
                yield Label("Priority", classes="native")
                yield Select([(f"P{p}  {name}", p) for p, name in
                              ((0, "urgent"), (1, "high"), (2, "normal"), (3, "low"))],
                             value=2, allow_blank=False, id="priority", compact=True)
                yield Static("", id="priority-error", classes="field-error")
                yield Label("Agent", classes="native")
                yield Select([(agent, agent) for agent in self.agents], prompt="server default",
                             id="assignedAgent", compact=True)
                yield Static("", id="assignedAgent-error", classes="field-error")
                yield Label("Project", classes="native")
                yield Select([(p.name, p.id) for p in self.projects], prompt="none", id="projectId",
                             value=self.project_id if self.project_id else Select.NULL, compact=True)
                yield Static("", id="projectId-error", classes="field-error")
                yield Label('Params (JSON object, e.g. {"steps": 5})')
                yield Input(id="params", placeholder="optional", compact=True)
                yield Static("", id="params-error", classes="field-error")
                yield Checkbox("Start now (queue and execute)", True, id="start", compact=True)
            yield Static("", id="form-error")
            with Horizontal(id="new-task-buttons"):
                yield Button("Create (ctrl+s)", id="create", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        if not self.native:
            for widget in self.query(".native"):
                widget.display = False
            for name in ("priority", "assignedAgent", "projectId", "start"):
                self.query_one(f"#{name}").display = False
        self._fit()
        self.query_one("#title", Input).focus()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        forward_worker_error(self, event)

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        # Borders 2, the buttons 3 and their margins 2, a line of form errors.
        fit_body(self.query_one(VerticalScroll), self.app.size.height, 8, share=0.95)

    # ------------------------------------------------------------------ submit

    def _body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"title": self.query_one("#title", Input).value}
        description = self.query_one("#description", Input).value
        if description:
            body["description"] = description
        if not self.native:
            return body
        body["priority"] = self.query_one("#priority", Select).value
        for name in ("assignedAgent", "projectId"):
            value = self.query_one(f"#{name}", Select).value
            if value is not Select.NULL:
                body[name] = value
        return body

    def _params(self) -> tuple[dict[str, Any] | None, str | None]:
        raw = self.query_one("#params", Input).value.strip()
        if not raw:
            return None, None
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            return None, f"Invalid JSON: {exc.msg} (column {exc.colno})"
        if not isinstance(value, dict):
            return None, "Expected object"
        return value, None

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#create")
    @on(Input.Submitted)
    def action_submit(self) -> None:
        self.show_errors({}, [])
        body = self._body()
        params, params_error = self._params()
        field_errors: dict[str, list[str]] = {}
        if params_error:
            field_errors["params"] = [params_error]
        elif params is not None:
            body["params"] = params
        try:
            TaskCreate.model_validate(body)
        except ValidationError as exc:
            _, found = flatten_validation_errors([dict(e) for e in exc.errors()])
            field_errors = {**found, **field_errors}
        if field_errors:
            self.show_errors(field_errors, [])
            return
        self._create(body)

    @work(exclusive=True, exit_on_error=False)
    async def _create(self, body: dict[str, Any]) -> None:
        start = self.query_one("#start", Checkbox).value
        button = self.query_one("#create", Button)
        button.disabled = True
        try:
            task = await (self.client.spawn(body) if start else self.client.create_task(body))
        except ValidationFailed as exc:
            self.show_errors(exc.field_errors, exc.form_errors)
        except ApiError as exc:
            self.show_errors({}, [f"{exc.status}: {exc.message}"])
        except TaskboardError as exc:
            self.show_errors({}, [str(exc)])
        else:
            self.dismiss(task)
        finally:
            button.disabled = False

    def show_errors(self, field_errors: dict[str, list[str]], form_errors: list[str]) -> None:
        """Put each message under its field; what belongs to no field goes under the form."""
        first = None
        for name in FIELDS:
            messages = field_errors.get(name, [])
            self.query_one(f"#{name}-error", Static).update("\n".join(messages))
            widget = self.query_one(f"#{name}")
            widget.set_class(bool(messages), "-invalid")
            if messages and first is None:
                first = widget
        stray = [f"{k}: {m}" for k, ms in field_errors.items() if k not in FIELDS for m in ms]
        self.query_one("#form-error", Static).update("\n".join([*form_errors, *stray]))
        if first is not None:
            first.focus()
