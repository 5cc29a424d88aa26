"""The Dash app factory: the page shell (header, navigation by role, language switch), routing, the login guard.

``api.web`` mounts it at ``/dashboard`` on the FastAPI server (same users, roles and Scope); every asset is served
from the wheels (``serve_locally``), nothing from a CDN.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dash import Dash, Input, Output, dcc, html
from sqlalchemy.orm import sessionmaker

from dashboard import session as dash_session
from dashboard.i18n import t
from dashboard.pages import alarms, anomalies, density, inspector, overview, platform, ranking, statistics

__all__ = ["PAGES", "create_dash_app"]

log = logging.getLogger(__name__)

_EVERYONE = frozenset({"admin", "province", "city", "county", "analyst", "operator"})
_REGULATORS = frozenset({"admin", "province", "city", "county"})


@dataclass(frozen=True)
class Page:
    label: str            # key in dashboard.i18n
    module: Any           # has register(app)
    render: Callable      # render(query, lang)
    roles: frozenset[str]  # who is offered it


#: path → page, in menu order.
PAGES: dict[str, Page] = {
    "": Page("nav_overview", overview, overview.render, _EVERYONE),
    "waybill": Page("nav_waybill", inspector, inspector.render, _REGULATORS | {"operator"}),
    "anomalies": Page("nav_anomalies", anomalies, anomalies.render, _REGULATORS | {"operator"}),
    "density": Page("nav_density", density, density.render, _REGULATORS | {"analyst"}),
    "statistics": Page("nav_statistics", statistics, statistics.render, _EVERYONE),
    "flows": Page("nav_flows", statistics, statistics.render_flows, _REGULATORS | {"analyst"}),
    "ranking": Page("nav_ranking", ranking, ranking.render, _REGULATORS | {"analyst"}),
    "alarms": Page("nav_alarms", alarms, alarms.render, _REGULATORS | {"operator"}),
    "platform": Page("nav_platform", platform, platform.render, frozenset({"operator"})),
}


def _shell() -> html.Div:
    """The layout for the current viewer (Dash calls it per page load, inside the request)."""
    import flask

    v = getattr(flask.g, "wlhy_viewer", None)
    if v is None:  # Dash validates the layout once at its first request, which may be the login page's
        return html.Div([dcc.Location(id="url", refresh=False), html.Main(id="page")])
    lang = dash_session.lang()
    prefix = _prefix()
    pages = PAGES
    nav = [dcc.Link(t(p.label, lang), href=f"{prefix}/{path}", className="nav-link", id=f"nav-{path or 'overview'}")
           for path, p in pages.items() if v.role in p.roles]
    who = f"{v.username} · {t('role', lang)} {v.role}" + (f" · {v.division_code}" if v.division_code else "")
    return html.Div([
        dcc.Location(id="url", refresh=False),
        html.Header([
            html.Span(t("title", lang), className="brand"),
            html.Nav(nav, className="nav"),
            html.Span(who, className="who", id="who"),
            html.A(t("switch", lang), href=f"{prefix}/lang?to={'zh' if lang == 'en' else 'en'}", className="lang",
                   id="lang-switch"),
            html.A(t("logout", lang), href=f"{prefix}/logout", className="logout", id="logout"),
        ], className="header"),
        html.Main(id="page", className="page"),
    ], lang="en" if lang == "en" else "zh-CN")


def _prefix() -> str:
    import flask

    return flask.request.script_root or ""


def _route(pathname: str | None, search: str | None) -> Any:

    v = dash_session.viewer()
    lang = dash_session.lang()
    prefix = _prefix()
    path = (pathname or "/")
    path = path.removeprefix(prefix)
    key = path.strip("/")
    pages = PAGES
    page = pages.get(key)
    if page is None:
        return html.Div(t("not_found", lang), className="notice", id="page-not-found")
    if v.role not in page.roles:  # a page this role is not offered: say why
        reason = {"analyst": "aggregates_only", "operator": "no_statistics"}.get(v.role, "not_found")
        return html.Div(t(reason, lang), className="notice", id="page-not-allowed")
    query = {k: vs[0] for k, vs in urllib.parse.parse_qs((search or "").lstrip("?")).items()}
    try:
        body = page.render(query, lang)
    except Exception:
        log.exception("dashboard page %r failed", key)
        return html.Div(t("page_error", lang), className="notice", id="page-error")
    if key == "" and "platform" in pages:  # a platform sees the alarms waiting for it as soon as it logs in
        return html.Div([pages["platform"].module.alarms_banner(lang), body])
    return body


def create_dash_app(session_factory: sessionmaker, *, prefix: str = "/dashboard/") -> Dash:
    """A Dash app whose pages read through the services with the viewer's Scope.

    Parameters
    ----------
    session_factory : sessionmaker
        Where the pages' database sessions come from (the API's own).
    prefix : str
        The path it is mounted at, with the trailing slash (what the browser requests).
    """
    app = Dash(
        __name__,
        requests_pathname_prefix=prefix,
        routes_pathname_prefix="/",  # a2wsgi hands Flask the path below the mount point
        serve_locally=True,
        assets_folder=str(Path(__file__).parent / "assets"),
        title="省级网络货运信息监测系统",
        suppress_callback_exceptions=True,  # pages are built per route
        update_title=None,
    )
    app.layout = _shell
    dash_session.install(app.server, session_factory)

    @app.callback(Output("page", "children"), Input("url", "pathname"), Input("url", "search"))
    def route(pathname, search):
        return _route(pathname, search)

    for module in {id(p.module): p.module for p in PAGES.values()}.values():
        module.register(app)
    return app
