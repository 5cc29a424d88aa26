"""Who is looking: the login page (auth.service: throttling and audit as for the API), the bearer token kept in an
HttpOnly, SameSite=Strict cookie, and the user and ``Scope`` resolved from it on every request.

Every dashboard request but the login page and the static bundles needs a valid token: page loads without one go to
the login page, callbacks answer 401. Callbacks read :func:`viewer` and open a database session with :func:`db`;
data comes only through the services, each given the viewer's ``Scope``.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import flask
from sqlalchemy.orm import Session, sessionmaker

from auth import service as auth_service
from auth.scope import Scope
from core.config import get_settings
from dashboard.i18n import LANGS, t
from store.db import session_scope

__all__ = ["LANG_COOKIE", "TOKEN_COOKIE", "Viewer", "db", "install", "lang", "viewer"]

TOKEN_COOKIE = "wlhy_dash_token"
LANG_COOKIE = "wlhy_lang"
#: Paths served without a login: the login form itself, the language switch and the JavaScript/CSS bundles.
_PUBLIC = ("/login", "/lang", "/_dash-component-suites/", "/assets/", "/_favicon.ico")


@dataclass(frozen=True)
class Viewer:
    """The logged-in user as the pages need it (no ORM object outlives its session)."""

    username: str
    role: str
    division_code: str | None
    operator_id: int | None
    scope: Scope


def _factory() -> sessionmaker:
    return flask.current_app.config["WLHY_SESSION_FACTORY"]


@contextmanager
def db() -> Iterator[Session]:
    """A database session for one callback: committed when it returns, rolled back on error."""
    with session_scope(factory=_factory()) as session:
        yield session


def viewer() -> Viewer:
    """The user of the current request (set by the guard before any page or callback runs)."""
    return flask.g.wlhy_viewer


def lang() -> str:
    """``zh`` (default) or ``en``, from the switch's cookie."""
    value = flask.request.cookies.get(LANG_COOKIE, "zh")
    return value if value in LANGS else "zh"


def _prefix() -> str:
    return flask.request.script_root or ""


def _login_page(message: str = "", status: int = 200) -> flask.Response:
    lg = lang()
    msg = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    body = f"""<!DOCTYPE html>
<html lang="{'en' if lg == 'en' else 'zh-CN'}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="{_prefix()}/assets/favicon.ico">
<title>{html.escape(t('title', lg))} · {html.escape(t('login', lg))}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; background: #f3f5f8; margin: 0; }}
form {{ width: 320px; margin: 120px auto; background: #fff; padding: 28px; border-radius: 6px;
       box-shadow: 0 1px 4px rgba(0,0,0,.15); }}
h1 {{ font-size: 18px; margin: 0 0 18px; }}
label {{ display: block; margin: 10px 0 4px; font-size: 14px; }}
input {{ width: 100%; box-sizing: border-box; padding: 8px; font-size: 14px; }}
button {{ margin-top: 18px; width: 100%; padding: 9px; background: #1f5fa8; color: #fff; border: 0;
         border-radius: 4px; font-size: 15px; }}
.error {{ color: #b00020; font-size: 14px; }}
.lang {{ float: right; font-size: 13px; }}
</style></head><body>
<form method="post" action="{_prefix()}/login" id="login-form">
<a class="lang" href="{_prefix()}/lang?to={'zh' if lg == 'en' else 'en'}&amp;next=login">{t('switch', lg)}</a>
<h1>{html.escape(t('title', lg))}</h1>
{msg}
<label for="username">{t('username', lg)}</label>
<input id="username" name="username" autocomplete="username" maxlength="64" required>
<label for="password">{t('password', lg)}</label>
<input id="password" name="password" type="password" autocomplete="current-password" maxlength="256" required>
<button type="submit" id="login-button">{t('login', lg)}</button>
</form></body></html>"""
    return flask.Response(body, status=status, mimetype="text/html")


def _login() -> flask.Response:
    if flask.request.method == "GET":
        return _login_page()
    username = (flask.request.form.get("username") or "")[:64]
    password = (flask.request.form.get("password") or "")[:256]
    ip = flask.request.remote_addr
    lg = lang()
    token: auth_service.IssuedToken | None = None
    with db() as session:
        # As POST /api/v1/auth/login: throttled and audited by auth.service; the audit row of a failure is kept.
        try:
            user = auth_service.authenticate(db_session=session, username=username, password=password, ip=ip)
        except auth_service.LoginThrottled as e:
            session.commit()
            return _login_page(t("login_throttled", lg, s=e.retry_after_s), status=429)
        if user is not None:
            token = auth_service.issue_token(db_session=session, user=user,
                                             ttl=dt.timedelta(seconds=get_settings().token_ttl_s))
    if token is None:
        return _login_page(t("login_failed", lg), status=401)
    response = flask.redirect(_prefix() + "/")
    response.set_cookie(TOKEN_COOKIE, token.token, max_age=get_settings().token_ttl_s, httponly=True,
                        samesite="Strict", path=_prefix() or "/", secure=flask.request.is_secure)
    return response


def _logout() -> flask.Response:
    token = flask.request.cookies.get(TOKEN_COOKIE)
    if token:
        with db() as session:
            auth_service.revoke_token(db_session=session, token=token)
    response = flask.redirect(_prefix() + "/login")
    response.delete_cookie(TOKEN_COOKIE, path=_prefix() or "/")
    return response


def _switch_language() -> flask.Response:
    to = flask.request.args.get("to", "zh")
    target = "/login" if flask.request.args.get("next") == "login" else "/"
    response = flask.redirect(_prefix() + target)
    response.set_cookie(LANG_COOKIE, to if to in LANGS else "zh", max_age=365 * 86400, samesite="Strict",
                        path=_prefix() or "/")
    return response


def _guard() -> flask.Response | None:
    path = flask.request.path
    if path.startswith(_PUBLIC):
        return None
    token = flask.request.cookies.get(TOKEN_COOKIE)
    found: Viewer | None = None
    if token:
        with db() as session:
            user = auth_service.user_for_token(db_session=session, token=token)
            if user is not None:
                found = Viewer(username=user.username, role=user.role, division_code=user.division_code,
                               operator_id=user.operator_id, scope=Scope.of(user))
    if found is None:
        if path.startswith("/_dash-"):
            return flask.Response('{"detail": "log in again"}', status=401, mimetype="application/json")
        return flask.redirect(_prefix() + "/login")
    flask.g.wlhy_viewer = found
    return None


def _headers(response: flask.Response) -> flask.Response:
    # The pages hold personal data for some roles: never cached, never framed by another site.
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def install(server: flask.Flask, session_factory: sessionmaker) -> None:
    """Add the login, logout and language routes and the guard to the Dash app's Flask server."""
    server.config["WLHY_SESSION_FACTORY"] = session_factory
    server.add_url_rule("/login", "wlhy_login", _login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "wlhy_logout", _logout, methods=["GET", "POST"])
    server.add_url_rule("/lang", "wlhy_lang", _switch_language, methods=["GET"])
    server.before_request(_guard)
    server.after_request(_headers)
