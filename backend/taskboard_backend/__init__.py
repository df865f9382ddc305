"""The bundled taskboard server: FastAPI + aiosqlite."""

from taskboard_backend.app import create_app
from taskboard_backend.settings import Settings

__all__ = ["Settings", "create_app"]
