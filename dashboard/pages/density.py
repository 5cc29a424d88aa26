"""Density: the province's fixes per H3 cell by period, source and resolution, from the server-side roll-up
(``supervision.statistics.density``; a city or county user gets its own division's cells). At most 50,000 cells
per layer; the browser draws the hexagons from their ids (H3HexagonLayer)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dash import Input, Output, State, dcc, html
from deckgl_dash import DeckGL

from auth.scope import ScopeError
from dashboard import charts, maps
from dashboard.i18n import t
from dashboard.session import db, viewer
from dashboard.session import lang as current_lang
from supervision.statistics import density as density_service

__all__ = ["MAX_CELLS", "register", "render"]

MAX_CELLS = 50_000


def _layers(res: int, source: str | None, first: str | None, last: str | None, lg: str
            ) -> tuple[list[dict[str, Any]], str]:
    with db() as session:
        fc = density_service.density_geojson(
            session, (-180.0, -90.0, 180.0, 90.0), scope=viewer().scope, res=int(res), source=source,
            date_from=dt.date.fromisoformat(first) if first else None,
            date_to=dt.date.fromisoformat(last) if last else None, limit=MAX_CELLS)
    n = len(fc["features"])
    summary = (f"{fc['from'] or '–'} … {fc['to'] or '–'} · {n:,} {t('cells', lg)} · {t('fixes_total', lg)} "
               f"{fc['totalFixes']:,}" + (f" {t('truncated', lg)}" if fc["truncated"] else ""))
    return maps.base_layers() + [charts.hexagon_layer("density", fc)], summary


def render(query: dict[str, str], lang: str) -> Any:
    try:
        layers, summary = _layers(7, None, None, None, lang)
    except ScopeError:
        return html.Div(t("no_statistics", lang), className="notice")
    sources = [{"label": t("both", lang), "value": "both"}, {"label": t("fixes_app", lang), "value": "app"},
               {"label": t("fixes_beidou", lang), "value": "beidou"}]
    return html.Div([
        html.Div([
            html.Label([t("period", lang), dcc.DatePickerRange(id="density-dates", display_format="YYYY-MM-DD")]),
            html.Label([t("source", lang), dcc.RadioItems(id="density-source", options=sources, value="both",
                                                        inline=True)]),
            html.Label([t("resolution", lang), dcc.Dropdown(id="density-res", options=list(density_service.DENSITY_RES),
                                                            value=7, clearable=False, className="dd")]),
            html.Button(t("apply", lang), id="density-apply", n_clicks=0, className="btn"),
        ], className="filters"),
        html.Div(summary, id="density-summary", className="muted"),
        html.Div(DeckGL(id="density-map", layers=layers,
                        initial_view_state=maps.scope_view(viewer().scope.division_prefix),
                        tooltip={"html": "{hex}: {v}"},
                        style={"position": "relative", "width": "100%", "height": "100%"}),
                 className="mapbox", style={"height": "calc(100vh - 170px)"}),
    ])


def register(app) -> None:
    @app.callback(Output("density-map", "layers"), Output("density-summary", "children"),
                  Input("density-apply", "n_clicks"), State("density-res", "value"),
                  State("density-source", "value"), State("density-dates", "start_date"),
                  State("density-dates", "end_date"), prevent_initial_call=True)
    def apply(_n, res, source, first, last):
        return _layers(res, None if source == "both" else source, first, last, current_lang())
