"""What every command prints through: one rich console, and the way to stop with an error."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

__all__ = ["console", "fail"]

console = Console()


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `message` in red and exit with `code` (2: refused input, 1: the system is not there)."""
    console.print(f"[red]{message}[/]")
    raise typer.Exit(code)
