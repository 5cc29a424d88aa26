"""The FastAPI application: ``/healthz``, ``/api/v1`` (bearer token on every route but login)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from api import errors, web
from api.deps import get_current_user
from api.routes import (
    alarms,
    anomalies,
    appeals,
    audit,
    auth,
    basedata,
    config,
    exchange,
    exchange_accounts,
    exchange_admin,
    onboarding,
    rankings,
    stats,
    trajectories,
    waybills,
)
from etl.adapters import NationalPlatformClient, YunzhengClient
from etl.exchange.service import ExchangeService
from etl.intake import recovery
from store.db import database_url, get_engine

__all__ = ["create_app"]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """What runs beside the routes for the app's lifetime; the outside-system clients close at shutdown."""
    sweeper = recovery.start(app.state.session_factory)  # finishes messages a crash left open (one per process)
    try:
        yield
    finally:
        sweeper.stop()
        app.state.yunzheng.close()
        app.state.national.close()


def create_app(url: str | None = None) -> FastAPI:
    """Build the app against the database at ``url`` (default: the one in use, see ``wlhy db url``)."""
    app = FastAPI(
        lifespan=_lifespan,
        title="省级网络货运信息监测系统 · Provincial network-freight monitoring",
        version="0.1.0",
        description="People-facing API (`/api/v1`, bearer token from `POST /api/v1/auth/login`).",
        docs_url=None, redoc_url=None,  # /docs from local files (api.web): no CDN
    )
    engine = get_engine(url or database_url())
    app.state.session_factory = sessionmaker(engine, expire_on_commit=False)
    app.state.exchange = ExchangeService(app.state.session_factory)
    # Outside systems' clients, built once from the settings (WLHY_YUNZHENG_URL, WLHY_NATIONAL_URL, …).
    app.state.yunzheng = YunzhengClient.from_settings()
    app.state.national = NationalPlatformClient.from_settings()
    errors.install(app)

    # errors.RESPONSES: the one documented error shape ({"detail": …}) of every /api/v1 route, attached once here.
    api_public = APIRouter(prefix="/api/v1", responses=errors.RESPONSES)
    api_public.include_router(auth.public_router)
    # Every other /api/v1 route sits behind the bearer token, enforced once here.
    api = APIRouter(prefix="/api/v1", dependencies=[Depends(get_current_user)], responses=errors.RESPONSES)
    api.include_router(auth.router)
    api.include_router(onboarding.router)
    api.include_router(exchange_admin.router)
    api.include_router(exchange_accounts.router)
    api.include_router(trajectories.router)
    api.include_router(stats.router)
    api.include_router(audit.router)
    api.include_router(anomalies.router)
    api.include_router(waybills.router)
    api.include_router(basedata.router)
    api.include_router(config.router)
    api.include_router(rankings.router)
    api.include_router(alarms.router)
    api.include_router(appeals.router)
    for path, endpoint in exchange.PLAIN_ROUTES:  # served without FastAPI's per-request work (see there)
        app.add_route(path, endpoint, methods=["POST"], include_in_schema=False)
    app.include_router(exchange.router)
    app.include_router(api_public)
    app.include_router(api)
    web.install(app)  # /docs (local Swagger UI) and the dashboard at /dashboard

    @app.get("/healthz", tags=["ops"], summary="Liveness and database reachability")
    def healthz() -> JSONResponse:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return JSONResponse({"status": "ok", "database": "ok"})
        except Exception as e:  # noqa: BLE001 - health reports any failure as down
            return JSONResponse({"status": "degraded", "database": type(e).__name__}, status_code=503)

    return app
