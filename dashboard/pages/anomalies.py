"""Anomalies: filters, counts by group and platform, the list, and a drill-down to the document and its map (the
waybill inspector). Through ``supervision.anomalies.service`` with the viewer's Scope."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dash import Input, Output, State, dcc, html

from dashboard import charts
from dashboard.i18n import t
from dashboard.session import db, viewer
from dashboard.session import lang as current_lang
from store.anomalies import ANOMALY_TYPES, GROUPS
from supervision.anomalies import service as anomalies_service

__all__ = ["register", "render"]

_LIMIT = 200


def _filters(group, code, status, severity, first, last) -> anomalies_service.AnomalyFilter:
    return anomalies_service.AnomalyFilter(
        group=group or None, code=code or None, status=status or None, severity=severity or None,
        date_from=dt.date.fromisoformat(first) if first else None,
        date_to=dt.date.fromisoformat(last) if last else None)


def _content(f: anomalies_service.AnomalyFilter, lg: str) -> list[Any]:
    import flask

    base = (flask.request.script_root or "") + "/waybill"
    scope = viewer().scope
    with db() as session:
        found = anomalies_service.list_anomalies(db_session=session, scope=scope, filters=f, limit=_LIMIT)
        counts = anomalies_service.counts(db_session=session, scope=scope, filters=f)
        rows = []
        for a in found.items:
            doc = f"{a.document_kind} {a.document_key}"
            link = (dcc.Link(t("open_map", lg), href=f"{base}?id={a.document_id}", refresh=True)
                    if a.document_kind == "waybill" and a.document_id else "")
            rows.append(html.Tr([html.Td(a.id), html.Td(f"{a.detected_at:%Y-%m-%d %H:%M}"), html.Td(a.code),
                                 html.Td(a.severity), html.Td(a.status), html.Td(a.operator_id or ""),
                                 html.Td(doc), html.Td(a.reason_en if lg == "en" else a.reason_zh), html.Td(link)]))
    groups = {(GROUPS.get(g, (g, g))[1 if lg == "en" else 0]): n for g, n in counts["byGroup"].items()}
    ops = dict(list(counts["byOperator"].items())[:20])
    head = html.Tr([html.Th(x) for x in ("#", t("detected_at", lg), t("filter_code", lg), t("filter_severity", lg),
                                         t("filter_status", lg), t("platform", lg), t("document", lg),
                                         t("reason", lg), "")])
    return [
        html.Div(f"{t('total', lg)}: {found.total:,}", id="anom-total", className="muted"),
        html.Div([
            html.Div([html.H4(t("by_group", lg)), charts.bar(list(groups), list(groups.values()), "anom-groups")],
                     className="panel"),
            html.Div([html.H4(t("by_operator", lg)), charts.bar([str(k) for k in ops], list(ops.values()),
                                                                 "anom-ops")], className="panel"),
        ], className="grid2"),
        html.Table([html.Thead(head), html.Tbody(rows)], className="tbl", id="anom-table",
                   style={"marginTop": "10px"}),
    ]


def render(query: dict[str, str], lang: str) -> Any:
    if viewer().scope.aggregates_only:
        return html.Div(t("analyst_no_documents", lang), className="notice")
    en = lang == "en"
    groups = [{"label": f"{g} {names[1] if en else names[0]}", "value": g} for g, names in GROUPS.items()]
    codes = [{"label": f"{c} {a.name_en if en else a.name_zh}", "value": c} for c, a in ANOMALY_TYPES.items()]
    statuses = [{"label": s, "value": s} for s in ("open", "resolved", "pending_check", "appealed", "upheld",
                                                   "overturned")]
    severities = [{"label": s, "value": s} for s in ("warning", "severe")]

    def dd(key, options, label):
        return html.Label([t(label, lang), dcc.Dropdown(id=f"anom-{key}", options=options, className="dd",
                                                        value=query.get(key))])

    return html.Div([
        html.Div([dd("group", groups, "filter_group"), dd("code", codes, "filter_code"),
                  dd("status", statuses, "filter_status"), dd("severity", severities, "filter_severity"),
                  html.Label([t("period", lang), dcc.DatePickerRange(id="anom-dates", display_format="YYYY-MM-DD")]),
                  html.Button(t("apply", lang), id="anom-apply", n_clicks=0, className="btn")], className="filters"),
        html.Div(_content(_filters(query.get("group"), query.get("code"), None, None, None, None), lang),
                 id="anom-content"),
    ])


def register(app) -> None:
    @app.callback(Output("anom-content", "children"), Input("anom-apply", "n_clicks"),
                  State("anom-group", "value"), State("anom-code", "value"), State("anom-status", "value"),
                  State("anom-severity", "value"), State("anom-dates", "start_date"),
                  State("anom-dates", "end_date"), prevent_initial_call=True)
    def apply(_n, group, code, status, severity, first, last):
        return _content(_filters(group, code, status, severity, first, last), current_lang())
