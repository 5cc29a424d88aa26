"""The platform's own view: its alarms waiting for it (shown at login), its ranking line and indicators, its
anomalies by group, and its exchange messages with their result codes (the weak-envelope notice where it applies).
Through the services with the operator's Scope."""

from __future__ import annotations

from typing import Any

from dash import html

from dashboard import charts
from dashboard.i18n import t
from dashboard.pages.common import default_period, table
from dashboard.session import db, viewer
from etl.exchange import archive
from store.anomalies import GROUPS
from supervision.alarms import service as alarms_service
from supervision.anomalies import service as anomalies_service
from supervision.indicators.ranking import ranking as ranking_of

__all__ = ["alarms_banner", "register", "render"]


def alarms_banner(lang: str) -> Any:
    """The operator's alarms waiting for its acknowledgement (OPEN or REJECTED), for the top of its pages."""
    v = viewer()
    if v.role != "operator" or v.operator_id is None:
        return None
    with db() as session:
        waiting = alarms_service.unacknowledged(session, v.operator_id)
    if not waiting:
        return None
    return html.Div([html.B(t("your_alarms", lang)), html.Ul([
        html.Li(a["textEn"] if lang == "en" else a["textZh"]) for a in waiting])], className="notice",
        id="platform-alarms")


def render(query: dict[str, str], lang: str) -> Any:
    v = viewer()
    en = lang == "en"
    with db() as session:
        counts = anomalies_service.counts(db_session=session, scope=v.scope)
        messages = archive.list_messages(db_session=session, scope=v.scope, limit=100).items
        msg_rows = [[m.id, m.received_at, m.ipc_type, m.document_name, m.result_code, m.result_msg,
                     t("weak_envelope", lang) if m.weak_envelope else ""] for m in messages]
        first, last = default_period(session, v.scope)
        ranking_rows = [r.as_wire() for r in ranking_of(session, v.scope, first, last).rows]
    groups = {(GROUPS.get(g, (g, g))[1 if en else 0]): n for g, n in counts["byGroup"].items()}
    rank_part = None
    if ranking_rows:
        r = ranking_rows[0]
        rank_part = html.Div([html.H4(t("nav_ranking", lang)), html.Div(
            f"{t('rank', lang)} {r['rank']} · {t('score', lang)} {r['score']} · {t('change', lang)} "
            f"{r['rankChange']}", id="platform-rank")], className="panel")
    return html.Div([
        alarms_banner(lang),
        html.Div([html.Div([html.H4(t("by_group", lang)), charts.bar(list(groups), list(groups.values()),
                                                                   "platform-groups")], className="panel"),
                  rank_part], className="grid2"),
        html.H4(t("messages", lang)),
        table(["#", t("received_at", lang), t("ipc_type", lang), t("document", lang), t("result_code", lang),
               "", ""], msg_rows, "platform-messages"),
    ])


def register(app) -> None:
    """No callbacks."""
