"""The dashboard for people: the page at ``/`` and its files (plain ES modules, vendored libraries) at ``/static``."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = resources.files("telemetron_oracle_api") / "static"


def mount(app: FastAPI) -> None:
    static = str(STATIC_DIR)
    app.mount("/static", StaticFiles(directory=static), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(f"{static}/index.html", headers={"Cache-Control": "no-cache"})
