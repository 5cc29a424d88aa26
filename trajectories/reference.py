"""Straightforward MovingPandas versions of the measures, used by tests to check the kernels.

Slow by design (row-wise geodesic distances, a per-point stop loop); never use in production.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from .columns import LAT, LON, T

__all__ = ["mpd_gaps", "mpd_length_m", "mpd_speed", "mpd_stops", "mpd_trajectory"]


def mpd_trajectory(fixes: pd.DataFrame, traj_id="ref"):
    """One trajectory's fixes (sorted, unique times) as a ``movingpandas.Trajectory`` (naive UTC index)."""
    import geopandas as gpd
    import movingpandas as mpd

    index = pd.DatetimeIndex(fixes[T].dt.tz_convert("UTC").dt.tz_localize(None), name=T)
    gdf = gpd.GeoDataFrame(
        {"lon_": fixes[LON].to_numpy(), "lat_": fixes[LAT].to_numpy()},
        geometry=gpd.points_from_xy(fixes[LON], fixes[LAT]),
        crs="EPSG:4326",
        index=index,
    )
    return mpd.Trajectory(gdf, traj_id)


def mpd_speed(fixes: pd.DataFrame) -> pd.DataFrame:
    """``add_distance`` (m) and ``add_speed`` (km/h): columns ``distance_m`` and ``speed_kmh``."""
    traj = mpd_trajectory(fixes)
    traj.add_distance(units="m", name="distance_m")
    traj.add_speed(units=("km", "h"), name="speed_kmh")
    return pd.DataFrame(
        {"distance_m": traj.df["distance_m"].to_numpy(), "speed_kmh": traj.df["speed_kmh"].to_numpy()}
    )


def mpd_length_m(fixes: pd.DataFrame) -> float:
    """``Trajectory.get_length()`` in metres (geodesic)."""
    return float(mpd_trajectory(fixes).get_length())


def mpd_stops(
    fixes: pd.DataFrame, *, min_duration_s: float = 600.0, max_diameter_m: float = 200.0
) -> pd.DataFrame:
    """``TrajectoryStopDetector.get_stop_points``: columns ``start``, ``end`` (UTC), ``duration_s``, ``lon``, ``lat``."""
    import movingpandas as mpd

    detector = mpd.TrajectoryStopDetector(mpd_trajectory(fixes))
    pts = detector.get_stop_points(
        max_diameter=max_diameter_m, min_duration=dt.timedelta(seconds=min_duration_s)
    )
    if len(pts) == 0:
        return pd.DataFrame({"start": [], "end": [], "duration_s": [], "lon": [], "lat": []})
    return pd.DataFrame(
        {
            "start": pd.DatetimeIndex(pts["start_time"]).tz_localize("UTC"),
            "end": pd.DatetimeIndex(pts["end_time"]).tz_localize("UTC"),
            "duration_s": pts["duration_s"].to_numpy(dtype=np.float64),
            "lon": pts.geometry.x.to_numpy(),
            "lat": pts.geometry.y.to_numpy(),
        }
    ).reset_index(drop=True)


def mpd_gaps(fixes: pd.DataFrame, *, gap_s: float = 1800.0) -> pd.DataFrame:
    """Gaps between the parts of ``ObservationGapSplitter.split(gap)``: columns ``start``, ``end`` (UTC).

    MovingPandas drops one-fix parts, so compare on tracks without isolated fixes between gaps.
    """
    import movingpandas as mpd

    parts = mpd.ObservationGapSplitter(mpd_trajectory(fixes)).split(gap=dt.timedelta(seconds=gap_s))
    spans = sorted((p.get_start_time(), p.get_end_time()) for p in parts.trajectories)
    return pd.DataFrame(
        {
            "start": pd.DatetimeIndex([a[1] for a in spans[:-1]]).tz_localize("UTC"),
            "end": pd.DatetimeIndex([b[0] for b in spans[1:]]).tz_localize("UTC"),
        }
    )
