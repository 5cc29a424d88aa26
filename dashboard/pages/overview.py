"""Overview: KPIs, the anomalies' trend and groups, alarm counts where the alarm service exists, and the province's
activity map (density aggregates). What each role sees follows its Scope: an analyst aggregates only, a platform
its own documents and no province statistics."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dash import html
from deckgl_dash import DeckGL

from auth.scope import ScopeError
from core.beijing import now as beijing_now
from dashboard import charts, maps
from dashboard.i18n import t
from dashboard.session import db, viewer
from store.anomalies import GROUPS
from supervision.anomalies import service as anomalies_service
from supervision.basedata import operators as operators_service
from supervision.statistics import density as density_service
from supervision.waybills import service as waybills_service

__all__ = ["register", "render"]

_TREND_DAYS = 14


def _kpi(label: str, value: Any, key: str) -> html.Div:
    return html.Div([html.Div(label, className="muted"), html.Div(f"{value:,}" if isinstance(value, int) else value,
                                                                  className="value")],
                    className="kpi", id=f"kpi-{key}")


def render(query: dict[str, str], lang: str) -> Any:
    scope = viewer().scope
    kpis: list[Any] = []
    panels: list[Any] = []
    with db() as session:
        if not scope.aggregates_only:
            kpis.append(_kpi(t("kpi_waybills", lang), waybills_service.list_waybills(
                db_session=session, scope=scope, limit=1).total, "waybills"))
            kpis.append(_kpi(t("kpi_operators", lang), operators_service.list_operators(
                db_session=session, scope=scope, limit=1).total, "operators"))
            total = anomalies_service.list_anomalies(db_session=session, scope=scope, limit=1).total
            open_ = anomalies_service.list_anomalies(db_session=session, scope=scope, limit=1,
                                                     filters=anomalies_service.AnomalyFilter(status="open")).total
            kpis += [_kpi(t("kpi_anomalies", lang), total, "anomalies"), _kpi(t("kpi_open", lang), open_, "open")]
            counts = anomalies_service.counts(db_session=session, scope=scope)
            today = beijing_now().date()
            days = [today - dt.timedelta(days=k) for k in range(_TREND_DAYS - 1, -1, -1)]
            trend = [anomalies_service.list_anomalies(
                db_session=session, scope=scope, limit=1,
                filters=anomalies_service.AnomalyFilter(date_from=d, date_to=d)).total for d in days]
            groups = {(GROUPS.get(g, (g, g))[1 if lang == "en" else 0]): n for g, n in counts["byGroup"].items()}
            panels.append(html.Div([
                html.Div([html.H4(t("trend_anomalies", lang)),
                          charts.line([d.isoformat() for d in days], trend, "trend")], className="panel"),
                html.Div([html.H4(t("by_group", lang)), charts.bar(list(groups), list(groups.values()), "groups")],
                         className="panel"),
            ], className="grid2"))
        else:
            panels.append(html.Div(t("aggregates_only", lang), className="notice"))
        try:
            fc = density_service.density_geojson(session, (-180, -90, 180, 90), scope=scope, res=6, limit=20_000)
        except ScopeError:
            fc = None
    if fc is not None:
        kpis.append(_kpi(t("kpi_fixes", lang), fc["totalFixes"], "fixes"))
        layers = maps.base_layers() + [charts.hexagon_layer("activity", fc)]
        panels.append(html.Div([html.H4(t("activity_map", lang)), html.Div(DeckGL(
            id="overview-map", layers=layers, initial_view_state=maps.scope_view(scope.division_prefix),
            tooltip={"html": "{hex}: {v}"}, style={"position": "relative", "width": "100%", "height": "100%"}),
            className="mapbox")], className="panel", style={"marginTop": "10px"}))
    return html.Div([html.Div(kpis, className="kpis"), *panels])


def register(app) -> None:
    """No callbacks: the overview is built once per visit."""
