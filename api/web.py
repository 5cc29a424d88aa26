"""What the server shows to a browser besides the JSON API: Swagger UI at ``/docs`` served from local files, and
the Dash dashboard mounted at ``/dashboard``.

Nothing here loads from a CDN: the machines the system runs on have no internet, and a regulator's browser should
not tell a third party what it opens.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["DASHBOARD_PREFIX", "dashboard_asgi", "install"]

DASHBOARD_PREFIX = "/dashboard"
_SWAGGER = "/static/swagger"


def _install_docs(app: FastAPI) -> None:
    from swagger_ui_bundle import swagger_ui_path  # Swagger UI's files inside a wheel (no CDN)

    app.mount(_SWAGGER, StaticFiles(directory=str(swagger_ui_path)), name="swagger")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=app.title + " · API",
            swagger_js_url=f"{_SWAGGER}/swagger-ui-bundle.js", swagger_css_url=f"{_SWAGGER}/swagger-ui.css",
            swagger_favicon_url=f"{_SWAGGER}/favicon-32x32.png",
            # The default validator badge is an image from validator.swagger.io: off.
            swagger_ui_parameters={"validatorUrl": None})


def install(app: FastAPI) -> None:
    """Add ``/docs`` (local Swagger UI) and mount the dashboard (a Flask app, through a2wsgi) on ``app``."""
    from dashboard.app import create_dash_app

    _install_docs(app)
    dash_app = create_dash_app(app.state.session_factory, prefix=DASHBOARD_PREFIX + "/")
    app.state.dash = dash_app
    # an appeal filed from the dashboard asks the registry at once, with the API's own client
    dash_app.server.config["WLHY_YUNZHENG"] = getattr(app.state, "yunzheng", None)
    app.mount(DASHBOARD_PREFIX, dashboard_asgi(dash_app.server), name="dashboard")


def dashboard_asgi(flask_app):
    """The dashboard's Flask app as ASGI, its answers gzipped: a map's binary attributes travel base64 in the
    JSON of ``_dash-layout`` / ``_dash-update-component`` (10.7 MB for 1 M fixes, 6.2 MB gzipped). Level 1: ~0.16 s
    of CPU for that, where level 9 costs four times more for 5 % fewer bytes."""
    from a2wsgi import WSGIMiddleware
    from starlette.middleware.gzip import GZipMiddleware

    return GZipMiddleware(WSGIMiddleware(flask_app, workers=4), minimum_size=4096, compresslevel=1)
