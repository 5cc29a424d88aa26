"""Alarms and workflows: the queue a regulator works through (accept or reject a rectification, close), the
platform's acknowledgement and rectification (with attachments), its appeals with evidence — through
``supervision.alarms.service`` and ``supervision.appeals.service`` (every step audited there, attachments checked
there: count, size, content type by magic bytes, SM3 digest, exactly as for the API).

Regulators see each rectification's and appeal's attachments with their SM3 digest and download them through
``/dashboard/attachment/…``, which asks the same services with the viewer's Scope (another platform's file answers
404 like an unknown one).
"""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from typing import Any

import flask
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from core.config import get_settings
from core.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from dashboard.i18n import t
from dashboard.pages.common import table
from dashboard.session import db, viewer
from dashboard.session import lang as current_lang
from supervision.alarms import service as alarms_service
from supervision.alarms.attachments import Upload
from supervision.anomalies import service as anomalies_service
from supervision.appeals import service as appeals_service

__all__ = ["register", "render", "uploads_of"]

_OPERATOR_ACTIONS = ("acknowledge", "submit_rectification")
_REGULATOR_ACTIONS = ("accept", "reject", "close")
_REFUSED = (ConflictError, ForbiddenError, InvalidInputError, NotFoundError)


def _actions_for(role: str) -> tuple[str, ...]:
    if role == "operator":
        return _OPERATOR_ACTIONS
    if role in ("county", "city", "province", "admin"):
        return _REGULATOR_ACTIONS + (("acknowledge",) if role in ("province", "admin") else ())
    return ()


def _prefix() -> str:
    return flask.request.script_root or ""


def uploads_of(contents: list[str] | str | None, filenames: list[str] | str | None) -> list[Upload]:
    """dcc.Upload's data URLs as the services' ``Upload``s (the checks themselves are the service's).

    Raises
    ------
    InvalidInputError
        A data URL that is not base64 (a broken browser upload).
    """
    if not contents:
        return []
    contents = [contents] if isinstance(contents, str) else list(contents)
    filenames = [filenames] if isinstance(filenames, str) else list(filenames or [])
    out = []
    for i, url in enumerate(contents):
        name = filenames[i] if i < len(filenames) else "attachment"
        try:
            data = base64.b64decode(url.split(",", 1)[1], validate=True)
        except (IndexError, ValueError, binascii.Error):
            raise InvalidInputError(f"attachment {name!r} could not be read (附件读取失败)") from None
        out.append(Upload(filename=name, data=data))
    return out


def _attachment_items(kind: str, owner: int, metas: list[dict[str, Any]], lg: str) -> list[Any]:
    """One line per file: owner, name, kind, size, the full SM3 digest, and its download link."""
    label = t("alarm" if kind == "alarm" else "appeal", lg)
    return [html.Li([
        f"{label} #{owner} · {m.get('filename')} · {m.get('kind')} · {m.get('size', 0):,} B · SM3 ",
        html.Code(m["digest"], className="digest"), " ",
        html.A(t("download", lg), href=f"{_prefix()}/attachment/{kind}/{owner}/{m['digest']}",
               className="download", **{"data-digest": m["digest"]}),
    ]) for m in metas]


def _list(lg: str, message: str = "", error: bool = False) -> Any:
    v = viewer()
    en = lg == "en"
    attachments: list[Any] = []
    with db() as session:
        alarms = alarms_service.list_alarms(db_session=session, scope=v.scope,
                                            filters=alarms_service.AlarmFilter(open_only=True), limit=200)
        rows = [alarms_service.as_dict(a) for a in alarms.items]
        by_alarm = alarms_service.rectifications_of(session, [a["id"] for a in rows])  # one query for the page
        for a in rows:
            for r in by_alarm[a["id"]]:
                attachments += _attachment_items("alarm", a["id"], r.attachments or [], lg)
        appeals = appeals_service.list_appeals(db_session=session, scope=v.scope, limit=100)
        appeal_rows = [appeals_service.as_dict(a, session, detail=True) for a in appeals.items]
    for p in appeal_rows:
        attachments += _attachment_items("appeal", p["id"], p["attachments"], lg)
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
        html.Div(message, id="alarm-message", role="alert" if error else None,
                 className=("notice error" if error else "notice") if message else "muted"),
        table(cols, body, "alarm-table"),
        html.H4(t("appeals", lg)),
        table(appeal_cols, [[p["id"], p["code"], p["status"], p["outcome"] or "", p["dueAt"]] for p in appeal_rows],
              "appeal-table"),
        html.H4(t("attachments", lg)),
        html.Ul(attachments, id="attachment-list") if attachments else html.Div("–", id="attachment-list",
                                                                                className="muted"),
    ])


def _upload(id_: str, lg: str) -> Any:
    s = get_settings()
    # the service's own limits, for the browser-side check (the service checks again)
    limits = {"maxBytes": s.attachment_max_bytes, "maxFiles": s.attachment_max_files,
              "tooBig": t("upload_too_big", lg, mb=f"{s.attachment_max_bytes / 2**20:g}"),
              "tooMany": t("upload_too_many", lg, n=s.attachment_max_files)}
    return html.Div([
        dcc.Upload(html.Span(t("attach_files", lg)), id=id_, multiple=True, className="upload",
                   style={"border": "1px dashed #999", "padding": "4px 10px", "cursor": "pointer"}),
        dcc.Store(id=f"{id_}-limits", data=limits),
        html.Span(id=f"{id_}-names", className="muted"),
    ], style={"display": "inline-flex", "gap": "8px", "alignItems": "center"})


# In the browser, before anything is sent: files over the service's size or count limit are refused and dropped
# (the callbacks that submit read ``contents`` only when the user acts). The size is the data URL's base64 length.
_CHECK_UPLOAD_JS = """
function(contents, filenames, limits) {
    const none = window.dash_clientside.no_update;
    if (!contents) { return [none, none, none]; }
    const names = filenames || [];
    if (contents.length > limits.maxFiles) {
        return [limits.tooMany.replace('{got}', contents.length), 'notice error', null];
    }
    const big = [];
    contents.forEach((url, i) => {
        const b64 = url.slice(url.indexOf(',') + 1);
        const pad = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
        const bytes = b64.length / 4 * 3 - pad;
        if (bytes > limits.maxBytes) {
            big.push((names[i] || 'attachment') + ' (' + (bytes / 1048576).toFixed(1) + ' MiB)');
        }
    });
    if (big.length) { return [limits.tooBig + ' ' + big.join(' · '), 'notice error', null]; }
    return [names.join(' · '), 'muted', none];
}
"""


def _appeal_form(lg: str, chosen: str | None) -> Any:
    """The platform's appeal of an open qualification anomaly, with its evidence (``?anomaly=<id>`` picks it)."""
    v = viewer()
    with db() as session:
        found = anomalies_service.list_anomalies(
            db_session=session, scope=v.scope, filters=anomalies_service.AnomalyFilter(status="open"), limit=200)
        options = [{"label": f"#{a.id} {a.code} ({a.document_kind} {a.document_id})", "value": a.id}
                   for a in found.items if a.code.startswith("QUAL_")]
    return html.Div([
        html.H4(t("file_appeal", lg)),
        html.Div([
            html.Label([t("anomaly", lg), dcc.Dropdown(id="appeal-anomaly", options=options, className="dd",
                                                       value=next((o["value"] for o in options
                                                                   if str(o["value"]) == chosen), None),
                                                       style={"width": "320px"})]),
            html.Label([t("appeal_statement", lg), dcc.Input(id="appeal-statement", className="input",
                                                             style={"width": "320px"})]),
            _upload("appeal-upload", lg),
            html.Button(t("file_appeal", lg), id="appeal-file", n_clicks=0, className="btn"),
        ], className="filters"),
        html.Div(id="appeal-message", className="muted"),
    ])


def render(query: dict[str, str], lang: str) -> Any:
    operator = viewer().role == "operator"
    rectify = [html.Label([t("rectification_text", lang),
                           dcc.Input(id="alarm-text", className="input", style={"width": "420px"})])]
    # present for every role (the action callback reads it), shown to the platform only
    rectify.append(html.Div(_upload("alarm-upload", lang), style={} if operator else {"display": "none"}))
    return html.Div([
        html.Div(rectify, className="filters"),
        html.Div(_list(lang), id="alarm-content"),
        _appeal_form(lang, query.get("anomaly")) if operator else html.Div(),
    ])


def _download(kind: str, owner: int, digest: str) -> flask.Response:
    """An attachment of an alarm's rectification or of an appeal, if the viewer's Scope sees it."""
    v = viewer()
    try:
        with db() as session:
            if kind == "alarm":
                meta, data = alarms_service.attachment(db_session=session, scope=v.scope, alarm_id=owner,
                                                       digest=digest)
            elif kind == "appeal":
                meta, data = appeals_service.attachment(db_session=session, scope=v.scope, appeal_id=owner,
                                                        digest=digest)
            else:
                raise NotFoundError("no such attachment")
    except NotFoundError:
        return flask.Response("not found", status=404, mimetype="text/plain")
    name = urllib.parse.quote(meta.get("filename") or digest, safe="")
    return flask.Response(data, mimetype=meta["mediaType"], headers={
        "Content-Disposition": f"attachment; filename=\"{digest}.{meta['kind']}\"; filename*=UTF-8''{name}"})


def register(app) -> None:
    app.server.add_url_rule("/attachment/<kind>/<int:owner>/<digest>", "wlhy_attachment", _download,
                            methods=["GET"])

    for id_ in ("alarm-upload", "appeal-upload"):
        app.clientside_callback(_CHECK_UPLOAD_JS, Output(f"{id_}-names", "children"),
                                Output(f"{id_}-names", "className"), Output(id_, "contents"),
                                Input(id_, "contents"), State(id_, "filename"), State(f"{id_}-limits", "data"),
                                prevent_initial_call=True)

    @app.callback(Output("alarm-content", "children"), Input({"type": "alarm-act", "alarm": ALL, "action": ALL},
                                                             "n_clicks"),
                  State("alarm-text", "value"), State("alarm-upload", "contents"), State("alarm-upload", "filename"),
                  prevent_initial_call=True)
    def act(clicks, text, contents, filenames):
        lg = current_lang()
        trig = ctx.triggered_id
        if not trig or not any(clicks or []):
            return no_update
        v = viewer()
        try:
            uploads = uploads_of(contents, filenames) if trig["action"] == "submit_rectification" else None
            with db() as session:
                alarm = alarms_service.transition(db_session=session, scope=v.scope, alarm_id=int(trig["alarm"]),
                                                  action=trig["action"], text=text or None, uploads=uploads or None,
                                                  ip=flask.request.remote_addr)
                message = f"#{alarm.id}: {t('done', lg)} → {alarm.status}" + (
                    f" · {len(uploads)} {t('attachments', lg)}" if uploads else "")
        except _REFUSED as e:
            return _list(lg, f"{t('refused', lg)} {e}", error=True)
        return _list(lg, message)

    @app.callback(Output("appeal-message", "children"), Output("appeal-message", "className"),
                  Output("alarm-content", "children", allow_duplicate=True),
                  Input("appeal-file", "n_clicks"), State("appeal-anomaly", "value"),
                  State("appeal-statement", "value"), State("appeal-upload", "contents"),
                  State("appeal-upload", "filename"), prevent_initial_call=True)
    def file_appeal(n, anomaly_id, statement, contents, filenames):
        lg = current_lang()
        if not n:
            return no_update, no_update, no_update
        try:
            if anomaly_id is None:
                raise InvalidInputError(t("choose_anomaly", lg))
            uploads = uploads_of(contents, filenames)
            with db() as session:
                appeal = appeals_service.file_appeal(db_session=session, scope=viewer().scope,
                                                     anomaly_id=int(anomaly_id), statement=statement or "",
                                                     uploads=uploads or None, ip=flask.request.remote_addr,
                                                     yunzheng=flask.current_app.config.get("WLHY_YUNZHENG"))
                message = f"{t('appeal', lg)} #{appeal.id}: {t('done', lg)} → {appeal.status}"
        except _REFUSED as e:
            return f"{t('refused', lg)} {e}", "notice error", no_update
        return message, "notice", _list(lg)
