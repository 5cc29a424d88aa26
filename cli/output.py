"""What every command prints through: one rich console, and the way to stop with an error."""

from __future__ import annotations

import datetime as dt
from typing import NoReturn

import typer
from rich.console import Console

__all__ = ["console", "day_range", "fail"]

console = Console()


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `message` in red and exit with `code` (2: refused input, 1: the system is not there)."""
    console.print(f"[red]{message}[/]")
    raise typer.Exit(code)


def day_range(date_from: str, date_to: str) -> tuple[dt.date, dt.date]:
    """The ``--from`` / ``--to`` days of a range command, both included; refused with a usage error otherwise."""
    try:
        d0, d1 = dt.date.fromisoformat(date_from), dt.date.fromisoformat(date_to)
    except ValueError as e:
        raise typer.BadParameter(f"dates must be YYYY-MM-DD: {e}") from None
    if d1 < d0:
        raise typer.BadParameter(f"--to ({d1}) is before --from ({d0})")
    return d0, d1
