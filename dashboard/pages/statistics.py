"""Statistics and OD flows: scale figures by period, platform, division and cargo type (chart, table, CSV) from
``supervision.statistics.scale``; arcs between divisions or H3 cells, width by tonnes, from
``supervision.statistics.flows`` — both with the analyst privacy floor the services apply."""

from __future__ import annotations

import csv
import io
from typing import Any

from dash import Input, Output, State, dcc, html
from deckgl_dash import DeckGL

from core.errors import ForbiddenError, InvalidInputError
from dashboard import charts, maps
from dashboard.i18n import t
from dashboard.pages.common import default_period, guarded, parse_period, period_picker, table
from dashboard.session import db, viewer
from dashboard.session import lang as current_lang
from supervision.statistics import flows as flows_service
from supervision.statistics import scale as scale_service

__all__ = ["register", "render", "render_flows"]

_COLUMNS = ("period", "operatorName", "divisionName", "cargoTypeCode", "waybills", "vehicles", "tonnes", "tonneKm",
            "amount")


def _privacy(answer: dict[str, Any], lg: str) -> str:
    p = answer.get("privacy") or {}
    return f"{t('privacy', lg)} {p.get('note_en' if lg == 'en' else 'note_zh')}" if p.get("applied") else ""


def _scale(first: str | None, last: str | None, by: str, group: list[str], lg: str) -> Any:
    v = viewer()
    with db() as session:
        period = parse_period(first, last, default_period(session, v.scope))
        answer = scale_service.scale(session, v.scope, first=period[0], last=period[1], by=by or "day",
                                     group=group or [])
    rows = answer["rows"]
    series: dict[str, float] = {}
    for r in rows:
        series[r["period"]] = series.get(r["period"], 0) + r["waybills"]
    cols = [c for c in _COLUMNS if c in ("period", "waybills", "vehicles", "tonnes", "tonneKm", "amount")
            or (c == "operatorName" and "operator" in group) or (c == "divisionName" and "division" in group)
            or (c == "cargoTypeCode" and "cargo" in group)]
    return html.Div([
        html.Div(f"{answer['from']} … {answer['to']} · {_privacy(answer, lg)}", className="muted", id="scale-note"),
        html.Div([html.H4(t("waybills", lg)), charts.bar(list(series), list(series.values()), "scale")],
                 className="panel"),
        table(cols, [[r.get(c) for c in cols] for r in rows[:500]], "scale-table"),
    ])


def render(query: dict[str, str], lang: str) -> Any:
    v = viewer()
    with db() as session:
        period = default_period(session, v.scope)
    groups = [{"label": t(g, lang), "value": g} for g in ("operator", "division", "cargo")]
    return html.Div([
        html.Div([
            period_picker("scale", period, lang),
            html.Label([t("by_period", lang), dcc.RadioItems(id="scale-by", value="day", inline=True, options=[
                {"label": t("day", lang), "value": "day"}, {"label": t("month", lang), "value": "month"}])]),
            html.Label([t("group_by", lang), dcc.Checklist(id="scale-group", options=groups, value=[],
                                                           inline=True)]),
            html.Button(t("apply", lang), id="scale-apply", n_clicks=0, className="btn"),
            html.Button(t("download_csv", lang), id="scale-csv", n_clicks=0, className="btn"),
            dcc.Download(id="scale-download"),
        ], className="filters"),
        html.Div(guarded(lambda: _scale(None, None, "day", [], lang), lang), id="scale-content"),
    ])


def _flows(first: str | None, last: str | None, level: str, lg: str) -> tuple[list[dict[str, Any]], Any]:
    v = viewer()
    with db() as session:
        period = parse_period(first, last, default_period(session, v.scope))
        answer = flows_service.flows(session, v.scope, level=level or "city", first=period[0], last=period[1])
    rows = [r for r in answer["rows"] if r.get("originLon") is not None and r.get("destinationLon") is not None
            and (r["originLon"], r["originLat"]) != (r["destinationLon"], r["destinationLat"])]
    top = max((r["tonnes"] for r in rows), default=1.0) or 1.0
    data = [{"s": [r["originLon"], r["originLat"]], "t": [r["destinationLon"], r["destinationLat"]],
             "w": 1 + 11 * r["tonnes"] / top, "name": f"{r['originName']} → {r['destinationName']}",
             "tonnes": r["tonnes"]} for r in rows]
    arc = {"@@type": "ArcLayer", "id": "flows", "data": data, "getSourcePosition": "@@=s",
           "getTargetPosition": "@@=t", "getWidth": "@@=w", "widthUnits": "pixels",
           "getSourceColor": [31, 119, 180, 220], "getTargetColor": [214, 39, 40, 220], "pickable": True}
    cols = ["originName", "destinationName", "waybills", "vehicles", "tonnes", "tonneKm"]
    info = html.Div([
        html.Div(f"{answer['from']} … {answer['to']} · {len(rows)} · {_privacy(answer, lg)}", className="muted",
                 id="flows-note"),
        table(cols, [[r.get(c) for c in cols] for r in answer["rows"][:200]], "flows-table"),
    ])
    return maps.base_layers() + [arc], info


def render_flows(query: dict[str, str], lang: str) -> Any:
    v = viewer()
    with db() as session:
        period = default_period(session, v.scope)
    try:
        layers, info = _flows(None, None, "city", lang)
    except (ForbiddenError, InvalidInputError) as e:
        return html.Div(f"{t('not_allowed', lang)} {e}", className="notice", id="page-refused")
    levels = [{"label": x, "value": x} for x in ("province", "city", "county", "h3")]
    return html.Div([
        html.Div([period_picker("flows", period, lang),
                  html.Label([t("level", lang), dcc.Dropdown(id="flows-level", options=levels, value="city",
                                                             clearable=False, className="dd")]),
                  html.Button(t("apply", lang), id="flows-apply", n_clicks=0, className="btn")],
                 className="filters"),
        html.Div(DeckGL(id="flows-map", layers=layers, initial_view_state=maps.scope_view(v.scope.division_prefix),
                        tooltip={"html": "{name}: {tonnes} t"},
                        style={"position": "relative", "width": "100%", "height": "100%"}), className="mapbox"),
        html.Div(info, id="flows-info"),
    ])


def register(app) -> None:
    @app.callback(Output("scale-content", "children"), Input("scale-apply", "n_clicks"),
                  State("scale-dates", "start_date"), State("scale-dates", "end_date"), State("scale-by", "value"),
                  State("scale-group", "value"), prevent_initial_call=True)
    def apply(_n, first, last, by, group):
        lg = current_lang()
        return guarded(lambda: _scale(first, last, by, group, lg), lg)

    @app.callback(Output("scale-download", "data"), Input("scale-csv", "n_clicks"),
                  State("scale-dates", "start_date"), State("scale-dates", "end_date"), State("scale-by", "value"),
                  State("scale-group", "value"), prevent_initial_call=True)
    def download(_n, first, last, by, group):
        v = viewer()
        with db() as session:
            period = parse_period(first, last, default_period(session, v.scope))
            answer = scale_service.scale(session, v.scope, first=period[0], last=period[1], by=by or "day",
                                         group=group or [])
        out = io.StringIO()
        out.write("\ufeff")  # Excel reads UTF-8 with a BOM (as api/export.csv_response)
        writer = csv.DictWriter(out, fieldnames=list(scale_service.SCALE_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(answer["rows"])
        return {"content": out.getvalue(), "filename": f"scale-{period[0]}-{period[1]}.csv",
                "type": "text/csv"}

    @app.callback(Output("flows-map", "layers"), Output("flows-info", "children"), Input("flows-apply", "n_clicks"),
                  State("flows-dates", "start_date"), State("flows-dates", "end_date"),
                  State("flows-level", "value"), prevent_initial_call=True)
    def apply_flows(_n, first, last, level):
        return _flows(first, last, level, current_lang())
