"""Filter the board by status (several at once) and project."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Select, SelectionList

from taskboard.models import Project, TaskStatus
from taskboard.tui.board import BoardFilter


class FilterScreen(ModalScreen[BoardFilter | None]):
    DEFAULT_CSS = """
    FilterScreen {
        align: center middle;
    }
    FilterScreen > Vertical {
        width: 60;
        height: auto;
        border: thick $accent;
        background: $surface;
        padding: 0 2;
    }
    FilterScreen SelectionList {
        height: auto;
    }
    FilterScreen Label {
        margin-top: 1;
        color: $text-muted;
    }
    FilterScreen #filter-buttons {
        height: auto;
        margin: 1 0;
    }
    FilterScreen Button {
        margin-right: 2;
    }
    """
    BINDINGS = [
        Binding("escape,q", "dismiss(None)", "Cancel"),
        Binding("ctrl+s", "apply", "Apply"),
    ]

    def __init__(self, current: BoardFilter, projects: list[Project]) -> None:
        super().__init__()
        self.current = current
        self.projects = projects

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Filter"
            yield Label("Statuses (space toggles; none selected shows all)")
            yield SelectionList[str](*[(s.value, s.value, s in self.current.statuses) for s in TaskStatus],
                                     id="statuses")
            yield Label("Project")
            yield Select([(p.name, p.id) for p in self.projects], prompt="all projects", id="project",
                         value=self.current.project_id or Select.NULL)
            with Horizontal(id="filter-buttons"):
                yield Button("Apply (ctrl+s)", id="apply", variant="primary")
                yield Button("Clear", id="clear")

    @on(Button.Pressed, "#apply")
    def action_apply(self) -> None:
        statuses = frozenset(TaskStatus(s) for s in self.query_one("#statuses", SelectionList).selected)
        project = self.query_one("#project", Select).value
        self.dismiss(BoardFilter(statuses=statuses, project_id=None if project is Select.NULL else str(project),
                                 text=self.current.text))

    @on(Button.Pressed, "#clear")
    def _clear(self) -> None:
        self.dismiss(BoardFilter())
