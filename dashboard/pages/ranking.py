"""Ranking: the platforms' scores with the indicator breakdown and the change versus the previous period, from
``supervision.indicators.ranking`` (a county ranks its own platforms, an operator sees its own line)."""

from __future__ import annotations

from typing import Any

from dash import Input, Output, State, html

from dashboard.i18n import t
from dashboard.pages.common import default_period, guarded, parse_period, period_picker, table
from dashboard.session import db, viewer
from dashboard.session import lang as current_lang
from supervision.indicators.indicators import NAMES
from supervision.indicators.ranking import ranking as ranking_of

__all__ = ["register", "render"]


def _value(ind: dict[str, Any] | None) -> Any:
    if not isinstance(ind, dict):
        return ind
    v = ind.get("value", ind.get("rate"))
    return f"{v:.1f}" if isinstance(v, (int, float)) else v  # the service gives percentages (0–100)


def _change(n: int | None) -> str:
    if n is None:
        return "–"
    return f"↑{n}" if n > 0 else (f"↓{-n}" if n < 0 else "＝")


def _table(first: str | None, last: str | None, lg: str) -> Any:
    v = viewer()
    with db() as session:
        period = parse_period(first, last, default_period(session, v.scope))
        answer = ranking_of(session, v.scope, period[0], period[1])
        rows = [r.as_wire() for r in answer.rows]
    names = list(NAMES)
    cols = [t("rank", lg), t("platform", lg), t("score", lg), t("change", lg)] + [
        NAMES[n][1 if lg == "en" else 0] for n in names]
    body = [[r["rank"], r["operatorName"], None if r["score"] is None else round(r["score"], 2),
             _change(r["rankChange"])] + [_value(r["indicators"].get(n)) for n in names] for r in rows]
    return html.Div([
        html.Div(f"{period[0]} … {period[1]} · {t('config_version', lg)} {answer.config_version}",
                 className="muted", id="ranking-note"),
        table(cols, body, "ranking-table"),
    ])


def render(query: dict[str, str], lang: str) -> Any:
    v = viewer()
    with db() as session:
        period = default_period(session, v.scope)
    return html.Div([
        html.Div([period_picker("ranking", period, lang),
                  html.Button(t("apply", lang), id="ranking-apply", n_clicks=0, className="btn")],
                 className="filters"),
        html.Div(guarded(lambda: _table(None, None, lang), lang), id="ranking-content"),
    ])


def register(app) -> None:
    @app.callback(Output("ranking-content", "children"), Input("ranking-apply", "n_clicks"),
                  State("ranking-dates", "start_date"), State("ranking-dates", "end_date"),
                  prevent_initial_call=True)
    def apply(_n, first, last):
        lg = current_lang()
        return guarded(lambda: _table(first, last, lg), lg)
