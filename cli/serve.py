"""``wlhy serve``: the app (API, /exchange, health) on uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.output import console
from core.config import get_settings


def serve(
    host: Annotated[str | None, typer.Option(help="default WLHY_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="default WLHY_PORT or 8000")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
) -> None:
    """Serve the app (API under /api/v1, health at /healthz)."""
    import uvicorn

    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    console.print(f"serving on [bold]http://{host}:{port}[/]  (/healthz, /api/v1, /docs)")
    uvicorn.run("api.main:create_app", factory=True, host=host, port=port, workers=workers, log_level="info")
