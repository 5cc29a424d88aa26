"""Bounding box of China, for cheap plausibility checks on coordinates."""

from __future__ import annotations

import numpy as np

__all__ = ["CHINA_BBOX", "in_china_bbox"]

# lon_min, lat_min, lon_max, lat_max (WGS-84 degrees). Covers the mainland, Hainan, Taiwan,
# Hong Kong and Macau; the South China Sea islands south of 18 N are deliberately left out.
CHINA_BBOX = (73.5, 18.0, 135.1, 53.6)


def in_china_bbox(lon, lat) -> np.ndarray:
    """Tell whether points lie inside :data:`CHINA_BBOX` (edges included).

    Parameters
    ----------
    lon, lat : float or array_like
        Longitude and latitude in degrees; broadcast together.

    Returns
    -------
    numpy.ndarray of bool
        True inside the box; False outside or where a coordinate is NaN.

    Examples
    --------
    >>> in_china_bbox([117.23, 2.35, float("nan")], [31.82, 48.86, 31.0]).tolist()
    [True, False, False]
    """
    lon_arr = np.asarray(lon, dtype=np.float64)
    lat_arr = np.asarray(lat, dtype=np.float64)
    lon_min, lat_min, lon_max, lat_max = CHINA_BBOX
    # Comparisons with NaN are False, so missing coordinates fall outside.
    inside_lon = (lon_arr >= lon_min) & (lon_arr <= lon_max)
    return np.asarray(inside_lon & (lat_arr >= lat_min) & (lat_arr <= lat_max))
