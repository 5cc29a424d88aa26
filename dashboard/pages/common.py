"""What several pages share: the default period, a date-range filter, a table, a guarded service call."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dash import dcc, html

from auth.scope import ScopeError
from core.beijing import today
from core.errors import ForbiddenError, InvalidInputError, NotFoundError
from dashboard.i18n import t

__all__ = ["default_period", "guarded", "parse_period", "period_picker", "table"]

#: Days in the default period (ending on the latest day the density roll-up holds, else today).
DEFAULT_DAYS = 30


def default_period(session, scope) -> tuple[dt.date, dt.date]:
    """The last 30 days of the data: the province's latest rolled-up day where the scope may read statistics."""
    from supervision.statistics import density

    last = today()
    try:
        fc = density.density_geojson(session, (0.0, 0.0, 0.0, 0.0), scope=scope, res=5, limit=1)
        if fc.get("to"):
            last = dt.date.fromisoformat(fc["to"])
    except ScopeError:
        pass
    return last - dt.timedelta(days=DEFAULT_DAYS - 1), last


def parse_period(first: str | None, last: str | None, default: tuple[dt.date, dt.date]) -> tuple[dt.date, dt.date]:
    a = dt.date.fromisoformat(first[:10]) if first else default[0]
    b = dt.date.fromisoformat(last[:10]) if last else default[1]
    return a, b


def period_picker(key: str, period: tuple[dt.date, dt.date], lang: str) -> html.Label:
    return html.Label([t("period", lang), dcc.DatePickerRange(
        id=f"{key}-dates", start_date=period[0].isoformat(), end_date=period[1].isoformat(),
        display_format="YYYY-MM-DD")])


def table(columns: list[str], rows: list[list[Any]], table_id: str) -> html.Table:
    return html.Table([html.Thead(html.Tr([html.Th(c) for c in columns])),
                       html.Tbody([html.Tr([html.Td(_cell(v)) for v in r]) for r in rows])],
                      className="tbl", id=table_id)


def _cell(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, dt.datetime):
        from core.beijing import BEIJING

        return v.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
    return v if v is not None else ""


def guarded(fn, lang: str):
    """Run a page's service call; a refusal or bad input becomes a notice instead of a broken page."""
    try:
        return fn()
    except (ForbiddenError, NotFoundError, InvalidInputError) as e:
        return html.Div(f"{t('not_allowed', lang)} {e}", className="notice", id="page-refused")
