"""One page of a list query: the rows, how many match in all, and where the page starts (API.md's lists)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Select, func, inspect, select
from sqlalchemy.orm import Session

from core.errors import InvalidInputError

__all__ = ["Page", "narrow", "order", "page"]

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """``items`` of one page; ``total`` matches in all; ``limit``/``offset`` as asked."""

    items: list[T]
    total: int
    limit: int
    offset: int


def page(db_session: Session, query: Select, *, order_by, limit: int, offset: int, plain: bool = False,
         count: Select | None = None) -> Page:
    """Run ``query`` for one page (ordered by ``order_by``) and count all its matches.

    ``plain``: the items are read-only Core rows of the selected entity's columns (attribute access as on the
    ORM object, no identity map or instance state): for pages that are only rendered, not changed. ``count``: a
    cheaper SELECT of the same number of matches, when the caller knows one.
    """
    if count is None:
        count = select(func.count()).select_from(query.order_by(None).subquery())
    total = db_session.scalar(count) or 0
    q = query.order_by(*order_by).limit(limit).offset(offset)
    if plain:
        columns = inspect(query.column_descriptions[0]["entity"]).selectable.c
        rows = list(db_session.execute(q.with_only_columns(*columns)).all())
    else:
        rows = list(db_session.scalars(q))
    return Page(items=rows, total=total, limit=limit, offset=offset)


def narrow(query: Select, equal: dict | None = None, *, prefix: dict | None = None) -> Select:
    """``query`` with ``column == value`` for each given (not None, not empty) value of ``equal`` and
    ``column LIKE value%`` for each of ``prefix`` (division codes): the filters of every list, written once."""
    for column, value in (equal or {}).items():
        if value is not None and value != "":
            query = query.where(column == value)
    for column, value in (prefix or {}).items():
        if value:
            query = query.where(column.like(f"{value}%"))
    return query


def order(sorts: dict, sort: str, tie) -> list:
    """ORDER BY of a list sorted by the API name ``sort`` (``-`` in front: descending), ties broken by ``tie``
    (descending, i.e. newest first).

    Raises
    ------
    InvalidInputError
        For a name not in ``sorts``.
    """
    key = sort.lstrip("-")
    if key not in sorts:
        raise InvalidInputError(f"sort must be one of {sorted(sorts)} (prefix - for descending); got {sort!r}")
    return [sorts[key].desc() if sort.startswith("-") else sorts[key].asc(), tie.desc()]
