"""``/api/v1/stats/density`` (F2): fixes per H3 cell for a bbox, resolution and period, from ``density_daily``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse

from api.deps import ScopeDep, SessionDep, require_roles
from store.models import AppUser
from supervision.statistics import density as service

__all__ = ["router"]

router = APIRouter(tags=["statistics (统计)"])
# Aggregates carry no personal data: analysts may read them; operators see only their own data, not these.
Viewer = Annotated[AppUser, Depends(require_roles("admin", "province", "city", "county", "analyst"))]


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
