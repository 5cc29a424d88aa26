"""One page of a list query: the rows, how many match in all, and where the page starts (API.md's lists)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

__all__ = ["Page", "page"]

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """``items`` of one page; ``total`` matches in all; ``limit``/``offset`` as asked."""

    items: list[T]
    total: int
    limit: int
    offset: int


def page(db_session: Session, query: Select, *, order_by, limit: int, offset: int) -> Page:
    """Run ``query`` for one page (ordered by ``order_by``) and count all its matches."""
    total = db_session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = list(db_session.scalars(query.order_by(*order_by).limit(limit).offset(offset)))
    return Page(items=rows, total=total, limit=limit, offset=offset)
