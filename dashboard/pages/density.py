"""Density: the province's fixes per H3 cell by period, source and resolution, from the server-side roll-up
(``supervision.statistics.density``; a city or county user gets its own division's cells, an analyst sees only
cells above the k-floor). At most 50,000 cells per layer; the browser draws the hexagons from their ids
(H3HexagonLayer).

The resolution follows the map's zoom (:data:`ZOOM_RES`, the one place to change it): the map reports its view
state, a browser-side callback turns the zoom into a resolution and only a change of resolution asks the server for
new cells. The dropdown stays as an explicit override ("auto" by default).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from dash import Input, Output, State, ctx, dcc, html, no_update
from deckgl_dash import DeckGL

from auth.scope import ScopeError
from dashboard import charts, maps
from dashboard.i18n import t
from dashboard.session import db, viewer
from dashboard.session import lang as current_lang
from supervision.statistics import density as density_service

__all__ = ["AUTO", "MAX_CELLS", "ZOOM_RES", "register", "render", "res_for_zoom"]

MAX_CELLS = 50_000
AUTO = "auto"
#: (zoom below, H3 resolution): the first row whose bound is above the map's zoom wins. Coarse cells for the
#: province, finer ones for a city, the finest rolled up for a county; every value is one of DENSITY_RES.
ZOOM_RES: tuple[tuple[float, int], ...] = ((7.0, 5), (9.0, 6), (math.inf, 7))


def res_for_zoom(zoom: float) -> int:
    """The H3 resolution shown at map zoom ``zoom``.

    >>> res_for_zoom(6.2), res_for_zoom(8), res_for_zoom(11)
    (5, 6, 7)
    """
    return next(res for below, res in ZOOM_RES if zoom < below)


def _layers(res: int, source: str | None, first: str | None, last: str | None, lg: str, auto: bool
            ) -> tuple[list[dict[str, Any]], str]:
    with db() as session:
        fc = density_service.density_geojson(
            session, (-180.0, -90.0, 180.0, 90.0), scope=viewer().scope, res=int(res), source=source,
            date_from=dt.date.fromisoformat(first) if first else None,
            date_to=dt.date.fromisoformat(last) if last else None, limit=MAX_CELLS)
    n = len(fc["features"])
    res_text = f"{t('resolution', lg)} {int(res)}" + (f" ({t('res_auto', lg)})" if auto else "")
    summary = (f"{fc['from'] or '–'} … {fc['to'] or '–'} · {res_text} · {n:,} {t('cells', lg)} · "
               f"{t('fixes_total', lg)} {fc['totalFixes']:,}" + (f" {t('truncated', lg)}" if fc["truncated"] else ""))
    return maps.base_layers() + [charts.hexagon_layer("density", fc)], summary


def render(query: dict[str, str], lang: str) -> Any:
    view = maps.scope_view(viewer().scope.division_prefix)
    res = res_for_zoom(view["zoom"])
    try:
        layers, summary = _layers(res, None, None, None, lang, auto=True)
    except ScopeError:
        return html.Div(t("no_statistics", lang), className="notice")
    sources = [{"label": t("both", lang), "value": "both"}, {"label": t("fixes_app", lang), "value": "app"},
               {"label": t("fixes_beidou", lang), "value": "beidou"}]
    res_options = [{"label": t("res_auto", lang), "value": AUTO}] + [
        {"label": str(r), "value": r} for r in density_service.DENSITY_RES]
    return html.Div([
        html.Div([
            html.Label([t("period", lang), dcc.DatePickerRange(id="density-dates", display_format="YYYY-MM-DD")]),
            html.Label([t("source", lang), dcc.RadioItems(id="density-source", options=sources, value="both",
                                                        inline=True)]),
            html.Label([t("resolution", lang), dcc.Dropdown(id="density-res", options=res_options, value=AUTO,
                                                            clearable=False, className="dd")]),
            html.Button(t("apply", lang), id="density-apply", n_clicks=0, className="btn"),
        ], className="filters"),
        html.Div(summary, id="density-summary", className="muted"),
        # the zoom → resolution table for the browser-side callback, and the resolution the zoom asks for
        dcc.Store(id="density-zoom-table", data=[[None if math.isinf(b) else b, r] for b, r in ZOOM_RES]),
        dcc.Store(id="density-zoom-res", data=res),
        html.Div(DeckGL(id="density-map", layers=layers, initial_view_state=view,
                        enable_events=["viewStateChange"], tooltip={"html": "{hex}: {v}"},
                        style={"position": "relative", "width": "100%", "height": "100%"}),
                 className="mapbox", style={"height": "calc(100vh - 170px)"}),
    ])


# The view state arrives on every frame of a pan or zoom: turn it into a resolution in the browser and let only a
# change of resolution reach the server.
_ZOOM_TO_RES_JS = """
function(viewState, table, current) {
    if (!viewState || viewState.zoom === undefined) { return window.dash_clientside.no_update; }
    let res = table[table.length - 1][1];
    for (const [below, r] of table) { if (below === null || viewState.zoom < below) { res = r; break; } }
    return res === current ? window.dash_clientside.no_update : res;
}
"""


def register(app) -> None:
    app.clientside_callback(_ZOOM_TO_RES_JS, Output("density-zoom-res", "data"), Input("density-map", "viewState"),
                            State("density-zoom-table", "data"), State("density-zoom-res", "data"),
                            prevent_initial_call=True)

    @app.callback(Output("density-map", "layers"), Output("density-summary", "children"),
                  Input("density-apply", "n_clicks"), Input("density-zoom-res", "data"),
                  State("density-res", "value"), State("density-source", "value"),
                  State("density-dates", "start_date"), State("density-dates", "end_date"),
                  prevent_initial_call=True)
    def apply(_n, zoom_res, chosen, source, first, last):
        auto = chosen in (None, AUTO)
        if ctx.triggered_id == "density-zoom-res" and not auto:
            return no_update, no_update  # an explicit resolution does not follow the zoom
        res = int(zoom_res) if auto else int(chosen)
        return _layers(res, None if source == "both" else source, first, last, current_lang(), auto)
