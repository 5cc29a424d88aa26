"""Tiny hand-built tracks for the trajectory tests (WGS-84, UTC)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.distance import EARTH_RADIUS_M
from trajectories.columns import LAT, LON, T

T0_S = 1_740_816_000  # 2025-03-01 08:00:00 UTC
LON0, LAT0 = 117.0, 31.0
# Degrees per metre at LAT0 on the haversine sphere, so hand-worked distances come out exact.
DEG_PER_M_LAT = 180.0 / (np.pi * EARTH_RADIUS_M)
DEG_PER_M_LON = DEG_PER_M_LAT / np.cos(np.radians(LAT0))


def ts(seconds) -> pd.Timestamp | pd.DatetimeIndex:
    """Epoch seconds (scalar or array) to UTC timestamps with microsecond unit."""
    if np.ndim(seconds) == 0:
        return pd.Timestamp(float(seconds), unit="s", tz="UTC").as_unit("us")
    return pd.to_datetime(np.asarray(seconds, dtype=np.float64), unit="s", utc=True).as_unit("us")


def fixes(t_s, east_m, north_m=None) -> pd.DataFrame:
    """Fixes at metre offsets (east, north) from (LON0, LAT0) at epoch seconds ``t_s``."""
    east = np.asarray(east_m, dtype=np.float64)
    north = np.zeros_like(east) if north_m is None else np.asarray(north_m, dtype=np.float64)
    return pd.DataFrame({T: ts(t_s), LON: LON0 + east * DEG_PER_M_LON, LAT: LAT0 + north * DEG_PER_M_LAT})


def drive(t_start_s, duration_s, step_s, speed_kmh, *, east0_m=0.0, north_m=0.0):
    """Times and east offsets of a straight eastward drive at constant speed."""
    t = t_start_s + np.arange(0.0, duration_s + step_s / 2, step_s)
    east = east0_m + (t - t_start_s) * speed_kmh / 3.6
    return t, east, np.full(t.size, float(north_m))
