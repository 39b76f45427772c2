"""The analysts' console: server-rendered pages under ``/console/`` (spec/console.md), served
by the receiver itself and calling the same services as the API."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["install_console"]


def install_console(app: FastAPI) -> None:
    """Mount the console's pages, its static files and its security headers on ``app``."""
    # Imported here so that ``python -m strive_server.console.vendor`` loads no web code.
    from fastapi.staticfiles import StaticFiles  # noqa: PLC0415

    from strive_server.console.pages import router  # noqa: PLC0415
    from strive_server.console.web import HERE, STATIC_PREFIX, security_headers  # noqa: PLC0415

    app.include_router(router)
    app.mount(STATIC_PREFIX, StaticFiles(directory=HERE / "static"), name="console-static")
    app.middleware("http")(security_headers)
