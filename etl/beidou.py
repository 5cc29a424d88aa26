"""BeiDou tracks from the national platform, cached as source-2 ``position`` rows (spec/RULES.md §2).

The national freight-vehicle platform (:mod:`etl.adapters.national`) holds the BeiDou tracks of heavy vehicles
(:func:`is_heavy`). :func:`fetch_beidou` asks it for one vehicle's track in a window, in pieces the platform
accepts (:data:`NATIONAL_MAX_WINDOW_H`), and writes the fixes through :func:`store.positions.load_positions`,
so the next reader of that window finds them in the database. No track is an answer, not a failure: an
unreachable platform or a refused request is logged and counts as no fixes.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import Vehicle, VehicleReport
from store.positions import SOURCE_BEIDOU, load_positions

if TYPE_CHECKING:
    from etl.adapters.national import NationalPlatformClient

__all__ = ["HEAVY_GROSS_MASS_T", "NATIONAL_MAX_WINDOW_H", "fetch_beidou", "is_heavy"]

log = logging.getLogger(__name__)

# The national platform refuses track windows longer than 72 h.
NATIONAL_MAX_WINDOW_H = 72.0
# Vehicles the national platform tracks: gross mass of at least 12 t, or a tractor (vehicle type Q1x).
HEAVY_GROSS_MASS_T = 12.0


def is_heavy(session: Session, *, vehicle_number: str, plate_color: str, vehicle_id: int | None = None) -> bool:
    """Whether the vehicle is heavy (gross mass ≥ :data:`HEAVY_GROSS_MASS_T` or type ``Q1x``): BeiDou-tracked.

    The vehicle is ``vehicle_id`` when given, else the one with this plate; an unknown vehicle is not heavy.
    Heavy when the vehicle row *or any platform's production report* of it says so: one platform's report
    (a rival's light mass, say) cannot spare the vehicle the national platform's track.
    """
    vehicle = session.get(Vehicle, vehicle_id) if vehicle_id is not None else session.scalar(
        select(Vehicle).where(Vehicle.vehicle_number == vehicle_number, Vehicle.plate_color == plate_color)
    )
    if vehicle is None:
        return False
    reports = session.execute(select(VehicleReport.gross_mass_t, VehicleReport.vehicle_type).where(
        VehicleReport.vehicle_id == vehicle.id, VehicleReport.is_sandbox.is_(False))).all()
    return any(_heavy(mass, kind) for mass, kind in [(vehicle.gross_mass_t, vehicle.vehicle_type), *reports])


def _heavy(gross_mass_t, vehicle_type: str | None) -> bool:
    mass = float(gross_mass_t) if gross_mass_t is not None else 0.0
    return mass >= HEAVY_GROSS_MASS_T or (vehicle_type or "").upper().startswith("Q1")


def fetch_beidou(
    session: Session,
    *,
    vehicle_number: str,
    plate_color: str,
    start: dt.datetime,
    end: dt.datetime,
    national: NationalPlatformClient,
) -> int:
    """Fetch the vehicle's BeiDou track for ``[start, end]`` and cache it as source-2 positions.

    Parameters
    ----------
    session : Session
        The fixes are written on its connection; the caller owns the transaction.
    vehicle_number, plate_color : str
    start, end : datetime
        Aware; any length (asked in pieces of at most :data:`NATIONAL_MAX_WINDOW_H` hours).
    national : NationalPlatformClient

    Returns
    -------
    int
        Positions written; 0 when the platform has no fixes in the window or could not answer
        (an :class:`~etl.adapters.errors.AdapterError`, logged).
    """
    # imported here: the adapters package loads every client (httpx), which the callers that pass no client skip
    from etl.adapters.errors import AdapterError

    try:
        track = national.get_track(vehicle_number, plate_color, start, end, split_window_h=NATIONAL_MAX_WINDOW_H)
    except AdapterError as e:
        # No BeiDou is a verdict input, not a failure: the caller goes on with the fixes it has.
        log.warning("BeiDou track %s – %s unavailable: %s", start.isoformat(), end.isoformat(), e)
        return 0
    if len(track) == 0:
        return 0
    conn = session.connection().connection.driver_connection
    return load_positions(conn, {
        "t": track.times.to_numpy(dtype="datetime64[us]"),
        "vehicle_number": vehicle_number,
        "plate_color": plate_color,
        "source": SOURCE_BEIDOU,
        "lon": track.lon,
        "lat": track.lat,
        "speed_kmh": track.speed_kmh,
        "direction": track.direction,
    })
