"""taskboard: a terminal monitor for long-running agent tasks."""

__version__ = "0.1.0"
