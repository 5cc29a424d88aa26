"""Column names and source codes of a fixes DataFrame, defined once and imported by every reader.

A fixes frame holds one row per GPS fix: ``t`` (``datetime64[us, UTC]``), ``lon`` and ``lat``
(WGS-84 degrees, x = longitude), ``source`` (1 driver app, 2 BeiDou) and ``speed_reported_kmh``
(the speed the device sent, NaN if none); read from the database, also ``for_this_waybill`` (the fix was sent
with the waybill's own shipping note). ``add_speed`` derives the per-step columns.
"""

from __future__ import annotations

__all__ = [
    "DISTANCE_M",
    "DURATION_S",
    "FIX_COLUMNS",
    "FOR_THIS_WAYBILL",
    "LAT",
    "LON",
    "SOURCE",
    "SOURCE_APP",
    "SOURCE_BEIDOU",
    "SOURCE_NAMES",
    "SPEED_KMH",
    "SPEED_REPORTED",
    "TRAJ_ID",
    "T",
]

T = "t"
LON = "lon"
LAT = "lat"
SOURCE = "source"
SPEED_REPORTED = "speed_reported_kmh"
FOR_THIS_WAYBILL = "for_this_waybill"

# Per-step values written by measures.add_speed: the step from the previous fix to this one.
DISTANCE_M = "distance_m"
DURATION_S = "duration_s"
SPEED_KMH = "speed_kmh"

# Trajectory identifier in multi-trajectory frames (bulk back-fills), as in MovingPandas.
TRAJ_ID = "traj_id"

FIX_COLUMNS = (T, LON, LAT)

# The source codes are the position table's (store.positions owns them); re-exported for the kernels.
from store.positions import SOURCE_APP, SOURCE_BEIDOU, SOURCE_NAMES  # noqa: E402
