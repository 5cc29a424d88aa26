"""Alarms and workflows: the queue a regulator works through (accept or reject a rectification, close), the
platform's acknowledgement and rectification, and the appeals — through ``supervision.alarms.service`` and
``supervision.appeals.service`` (every step audited there)."""

from __future__ import annotations

from typing import Any

import flask
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from core.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from dashboard.i18n import t
from dashboard.pages.common import table
from dashboard.session import db, viewer
from dashboard.session import lang as current_lang
from supervision.alarms import service as alarms_service
from supervision.appeals import service as appeals_service

__all__ = ["register", "render"]

_OPERATOR_ACTIONS = ("acknowledge", "submit_rectification")
_REGULATOR_ACTIONS = ("accept", "reject", "close")


def _actions_for(role: str) -> tuple[str, ...]:
    if role == "operator":
        return _OPERATOR_ACTIONS
    if role in ("county", "city", "province", "admin"):
        return _REGULATOR_ACTIONS + (("acknowledge",) if role in ("province", "admin") else ())
    return ()


def _list(lg: str, message: str = "") -> Any:
    v = viewer()
    en = lg == "en"
    with db() as session:
        alarms = alarms_service.list_alarms(db_session=session, scope=v.scope,
                                            filters=alarms_service.AlarmFilter(open_only=True), limit=200)
        rows = [alarms_service.as_dict(a) for a in alarms.items]
        appeals = appeals_service.list_appeals(db_session=session, scope=v.scope, limit=100)
        appeal_rows = [appeals_service.as_dict(a, session) for a in appeals.items]
    actions = _actions_for(v.role)
    body = []
    for a in rows:
        buttons = [html.Button(t(act, lg), id={"type": "alarm-act", "alarm": a["id"], "action": act}, n_clicks=0,
                               className="btn", style={"marginRight": "4px"}) for act in actions]
        body.append([a["id"], a["textEn"] if en else a["textZh"], a["level"] if en else a["levelZh"],
                     a["status"] if en else a["statusZh"], a["raisedAt"], a["dueAt"], html.Span(buttons)])
    cols = ["#", t("alarm_text", lg), t("alarm_level", lg), t("alarm_status", lg), t("raised_at", lg),
            t("due_at", lg), t("actions", lg)]
    appeal_cols = ["#", t("filter_code", lg), t("alarm_status", lg), "outcome", t("due_at", lg)]
    return html.Div([
        html.Div(message, id="alarm-message", className="notice" if message else "muted"),
        table(cols, body, "alarm-table"),
        html.H4(t("appeals", lg)),
        table(appeal_cols, [[p["id"], p["code"], p["status"], p["outcome"] or "", p["dueAt"]] for p in appeal_rows],
              "appeal-table"),
    ])


def render(query: dict[str, str], lang: str) -> Any:
    return html.Div([
        html.Div([html.Label([t("rectification_text", lang),
                              dcc.Input(id="alarm-text", className="input", style={"width": "420px"})])],
                 className="filters"),
        html.Div(_list(lang), id="alarm-content"),
    ])


def register(app) -> None:
    @app.callback(Output("alarm-content", "children"), Input({"type": "alarm-act", "alarm": ALL, "action": ALL},
                                                             "n_clicks"),
                  State("alarm-text", "value"), prevent_initial_call=True)
    def act(clicks, text):
        lg = current_lang()
        trig = ctx.triggered_id
        if not trig or not any(clicks or []):
            return no_update
        v = viewer()
        try:
            with db() as session:
                alarm = alarms_service.transition(db_session=session, scope=v.scope, alarm_id=int(trig["alarm"]),
                                                  action=trig["action"], text=text or None,
                                                  ip=flask.request.remote_addr)
                message = f"#{alarm.id}: {t('done', lg)} → {alarm.status}"
        except (ConflictError, ForbiddenError, InvalidInputError, NotFoundError) as e:
            message = f"{t('not_allowed', lg)} {e}"
        return _list(lg, message)
