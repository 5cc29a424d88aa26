"""``/api/v1/stats/*``: business scale (C2, ``stat_daily``), OD flows (C2, ``od_flow``) and density (F2,
``density_daily``). Thin: the services decide scope and the analysts' k-floor."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse, Response

from api.deps import ScopeDep, SessionDep, require_roles
from api.export import csv_response, features_frame, geojson_response, geoparquet_response
from core.beijing import today
from store.models import AppUser
from supervision.statistics import density as service
from supervision.statistics import flows as flow_service
from supervision.statistics import scale as scale_service

__all__ = ["router"]

router = APIRouter(tags=["statistics (统计)"])
# Aggregates carry no personal data: analysts may read them; operators see only their own data, not these.
Viewer = Annotated[AppUser, Depends(require_roles("admin", "province", "city", "county", "analyst"))]
# Scale and flows: an operator reads its own platform's figures (the service narrows them to it).
BusinessViewer = Annotated[AppUser, Depends(require_roles("admin", "province", "city", "county", "analyst",
                                                          "operator"))]


def _bbox(value: str) -> tuple[float, float, float, float]:
    try:
        parts = tuple(float(x) for x in value.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 4 or not (-180 <= parts[0] < parts[2] <= 180 and -90 <= parts[1] < parts[3] <= 90):
        raise HTTPException(422,
                            f"bbox must be minLon,minLat,maxLon,maxLat (WGS-84, min < max); got {value!r}")
    return parts  # type: ignore[return-value]


@router.get("/stats/density", summary="Position density per H3 cell (GeoJSON hexagons with counts)",
            response_class=JSONResponse, responses={200: {"content": {"application/geo+json": {}}}})
def density(
    db: SessionDep,
    user: Viewer,
    scope: ScopeDep,
    bbox: Annotated[str, Query(description="minLon,minLat,maxLon,maxLat (WGS-84)")],
    res: Annotated[int, Query(description=f"H3 resolution, one of {service.DENSITY_RES}")] = 7,
    date_from: Annotated[dt.date | None, Query(alias="from", description="first Beijing day (default: to − 6)")] = None,
    date_to: Annotated[dt.date | None, Query(alias="to", description="last Beijing day (default: latest rolled up)")] = None,
    source: Annotated[Literal["app", "beidou"] | None, Query(description="one source; both when omitted")] = None,
    limit: Annotated[int, Query(ge=1, le=50_000, description="at most this many cells, densest first")] = 10_000,
) -> JSONResponse:
    if res not in service.DENSITY_RES:
        raise HTTPException(422,
                            f"res must be one of {list(service.DENSITY_RES)}; got {res}")
    out: dict[str, Any] = service.density_geojson(db, _bbox(bbox), scope=scope, res=res, date_from=date_from, date_to=date_to,
                                                  source=source, limit=limit)
    return JSONResponse(out, media_type="application/geo+json")


def _period(date_from: dt.date | None, date_to: dt.date | None) -> tuple[dt.date, dt.date]:
    last = date_to or today()
    return (date_from or last - dt.timedelta(days=29)), last


@router.get("/stats/scale", summary="Business scale: capacity, waybills, tonnes, tonne-km, charges (JSON or CSV)")
def scale(
    db: SessionDep,
    user: BusinessViewer,
    scope: ScopeDep,
    date_from: Annotated[dt.date | None, Query(alias="from", description="first Beijing day (default: to − 29)")] = None,
    date_to: Annotated[dt.date | None, Query(alias="to", description="last Beijing day (default: today)")] = None,
    by: Annotated[Literal["day", "month"], Query(description="period")] = "day",
    group: Annotated[str, Query(description="comma-separated: operator, division, cargo")] = "",
    division: Annotated[str | None, Query(description="only business loaded in this division (6 digits)")] = None,
    division_level: Annotated[Literal["province", "city", "county"], Query(
        alias="divisionLevel", description="granularity of the division group")] = "county",
    operator_id: Annotated[int | None, Query(description="only this operator")] = None,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv")] = "json",
) -> Any:
    first, last = _period(date_from, date_to)
    groups = [g.strip() for g in group.split(",") if g.strip()]
    out = scale_service.scale(db, scope, first=first, last=last, by=by, group=groups, division=division,
                              operator_id=operator_id, division_level=division_level)
    if format == "csv":
        return _privacy_headers(csv_response(out["rows"], scale_service.SCALE_COLUMNS, f"scale-{first}-{last}.csv"),
                                out)
    return out


@router.get("/stats/flows", summary="Origin–destination flows by division or H3 cell (JSON, CSV, GeoJSON arcs, "
                                    "GeoParquet)",
            responses={200: {"content": {"application/geo+json": {}, "text/csv": {},
                                         "application/vnd.apache.parquet": {}}}})
def flows(
    db: SessionDep,
    user: BusinessViewer,
    scope: ScopeDep,
    level: Annotated[Literal["province", "city", "county", "h3"], Query(description="pair level")] = "city",
    res: Annotated[int, Query(description="H3 resolution (level=h3), 5–7")] = 7,
    date_from: Annotated[dt.date | None, Query(alias="from", description="first Beijing day (default: to − 29)")] = None,
    date_to: Annotated[dt.date | None, Query(alias="to", description="last Beijing day (default: today)")] = None,
    operator_id: Annotated[int | None, Query(description="only this operator")] = None,
    limit: Annotated[int, Query(ge=1, le=50_000, description="at most this many pairs, heaviest first")] = 5_000,
    format: Annotated[Literal["json", "csv", "geojson", "geoparquet"], Query(description="answer format")] = "json",
) -> Any:
    first, last = _period(date_from, date_to)
    out = flow_service.flows(db, scope, level=level, res=res, first=first, last=last, operator_id=operator_id,
                             limit=limit)
    name = f"flows-{level}{res if level == 'h3' else ''}-{first}-{last}"
    if format == "csv":
        return _privacy_headers(csv_response(out["rows"], flow_service.FLOW_COLUMNS, f"{name}.csv"), out)
    if format == "geojson":
        return _privacy_headers(geojson_response(flow_service.flow_features(out), f"{name}.geojson"), out)
    if format == "geoparquet":
        frame = features_frame(flow_service.flow_features(out))
        return _privacy_headers(geoparquet_response(frame, f"{name}.parquet"), out)
    return out


def _privacy_headers(response: Response, out: dict[str, Any]) -> Response:
    """Files carry no envelope: what the k-floor did goes in headers (the JSON answer has it as ``privacy``)."""
    p = out["privacy"]
    if p.get("applied"):
        response.headers["X-Privacy-K"] = str(p["k"])
        response.headers["X-Privacy-Suppressed"] = str(p["suppressed"])
        response.headers["X-Privacy-Method"] = p["method"]
    return response
