"""A waybill scenario with worked geometry: park, drive a 1.2× zigzag at 60 km/h, park.

Loading place at the origin, unloading place 100 km east. The truck waits at the origin until
despatch (T0), drives 120 km of road (a triangle wave of 5 km legs, slope 0.6633, so 1.2 m of road per
metre east) in 2 h, and waits at the unloading place until receipt (T0 + 2 h 30 min). The window is
T0 − 2 h … T0 + 4 h 30 min (390 min). BeiDou samples every 30 s, the app every 180 s.
"""

from __future__ import annotations

import numpy as np

from trajectories import Place, VerificationInput

from .helpers import DEG_PER_M_LAT, DEG_PER_M_LON, LAT0, LON0, T0_S, fixes, ts

DESPATCH_S = T0_S
RECEIPT_S = T0_S + 2 * 3600 + 1800
WINDOW = (DESPATCH_S - 7200, RECEIPT_S + 7200)
ROAD_M = 120_000.0
LEG_M = 5000.0
SLOPE = float(np.sqrt(1.2**2 - 1.0))


def position(t_s):
    """East and north offsets (m) of the truck at epoch seconds ``t_s``."""
    road = np.clip((np.asarray(t_s, dtype=np.float64) - DESPATCH_S) * 60 / 3.6, 0.0, ROAD_M)
    east = road / 1.2
    north = SLOPE * (LEG_M - np.abs(np.mod(east, 2 * LEG_M) - LEG_M))
    return east, north


def place(
    east_m: float, north_m: float = 0.0, *, radius_m: float = 0.0, from_coordinates: bool = True
) -> Place:
    return Place(
        LON0 + east_m * DEG_PER_M_LON, LAT0 + north_m * DEG_PER_M_LAT, radius_m, from_coordinates, None
    )


def source(step_s: float, *, drop=None, shift=None, start_s=None, end_s=None):
    """Fixes every ``step_s`` over the window (or [start_s, end_s]); ``drop`` = (t0, t1) open interval
    without fixes; ``shift(t) -> (east_m, north_m)`` displaces fixes."""
    a = WINDOW[0] if start_s is None else start_s
    b = WINDOW[1] if end_s is None else end_s
    t = a + np.arange(0.0, b - a + step_s / 2, step_s)
    if drop is not None:
        t = t[(t <= drop[0]) | (t >= drop[1])]
    east, north = position(t)
    if shift is not None:
        de, dn = shift(t)
        east, north = east + de, north + dn
    return fixes(t, east, north)


def make_input(*, loading=None, unloading=None, beidou="default", app="default") -> VerificationInput:
    return VerificationInput(
        despatch_at=ts(DESPATCH_S),
        receipt_at=ts(RECEIPT_S),
        loading=loading if loading is not None else place(0.0),
        unloading=unloading if unloading is not None else place(100_000.0),
        app=source(180) if isinstance(app, str) else app,
        beidou=source(30) if isinstance(beidou, str) else beidou,
    )
