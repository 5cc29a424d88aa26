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

__all__ = ["DASHBOARD_PREFIX", "install"]

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
    from a2wsgi import WSGIMiddleware

    from dashboard.app import create_dash_app

    _install_docs(app)
    dash_app = create_dash_app(app.state.session_factory, prefix=DASHBOARD_PREFIX + "/")
    app.state.dash = dash_app
    app.mount(DASHBOARD_PREFIX, WSGIMiddleware(dash_app.server, workers=4), name="dashboard")
