"""Coordinate systems used by Chinese positioning sources: WGS-84, CGCS2000, GCJ-02 and BD-09.

Every function takes longitude first (x = longitude, y = latitude, in degrees), accepts scalars or
array-likes (broadcast together) and returns a pair of float64 ``numpy.ndarray`` (0-d for scalar
input). A NaN in either coordinate gives NaN in both.

GCJ-02 ("Mars coordinates", used by AMap/Tencent and most Chinese apps) is WGS-84 plus an obfuscating
offset of a few hundred metres inside China; BD-09 (Baidu) is a further offset on top of GCJ-02. The
published formulas only go forward, so the inverses here are solved iteratively to far below a
millimetre instead of using the common one-step approximation, which is off by metres.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "SYSTEMS",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "out_of_china",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

SYSTEMS = ("WGS84", "CGCS2000", "GCJ02", "BD09")

# Krasovsky 1940 ellipsoid, as used by the published GCJ-02 algorithm.
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_BD_X_PI = np.pi * 3000.0 / 180.0

# 1e-12 degree is about 0.1 micrometre: well below the 0.01 m round-trip promise.
_INVERSE_TOLERANCE_DEG = 1e-12
_INVERSE_MAX_ITERATIONS = 50


def _as_pair(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    lon_arr = np.asarray(lon, dtype=np.float64)
    lat_arr = np.asarray(lat, dtype=np.float64)
    lon_arr, lat_arr = np.broadcast_arrays(lon_arr, lat_arr)
    return lon_arr, lat_arr


def _result(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    # Arithmetic on 0-d arrays yields numpy scalars; coerce so callers always get ndarrays.
    lon_arr = np.asarray(lon, dtype=np.float64)
    lat_arr = np.asarray(lat, dtype=np.float64)
    # A point with one missing coordinate is missing: otherwise the GCJ rule would treat it as
    # out of China and hand the other coordinate back unconverted, as if it were valid.
    missing = np.isnan(lon_arr) | np.isnan(lat_arr)
    if np.any(missing):
        lon_arr = np.where(missing, np.nan, lon_arr)
        lat_arr = np.where(missing, np.nan, lat_arr)
    return lon_arr, lat_arr


def out_of_china(lon, lat) -> np.ndarray:
    """Tell where the GCJ-02 offset is not applied.

    Uses the rectangle of the published GCJ-02 algorithm (longitude 72.004-137.8347, latitude
    0.8293-55.8271), not the country border: this is what Chinese map providers do.

    Parameters
    ----------
    lon, lat : float or array_like
        Longitude and latitude in degrees.

    Returns
    -------
    numpy.ndarray of bool
        True outside the rectangle. NaN coordinates count as out of China (no offset applied).

    Examples
    --------
    >>> out_of_china([117.23, 2.35, float("nan")], [31.82, 48.86, 0.0]).tolist()
    [False, True, True]
    """
    lon_arr, lat_arr = _as_pair(lon, lat)
    inside = (lon_arr >= 72.004) & (lon_arr <= 137.8347) & (lat_arr >= 0.8293) & (lat_arr <= 55.8271)
    return np.asarray(~inside)


def _gcj_offset_deg(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 offset (dlon, dlat) in degrees at WGS-84 point (lon, lat); zero out of China."""
    x = lon - 105.0
    y = lat - 35.0
    dlat = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _KRASOVSKY_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_KRASOVSKY_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    outside = out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def _invert(forward, lon_out: np.ndarray, lat_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve forward(lon, lat) == (lon_out, lat_out) by fixed-point iteration.

    The offsets change by well under 1e-3 degree per degree, so the iteration contracts fast
    (about one decimal digit per step or better); a handful of steps reach the tolerance.
    """
    lon, lat = lon_out.copy(), lat_out.copy()
    for _ in range(_INVERSE_MAX_ITERATIONS):
        lon_f, lat_f = forward(lon, lat)
        err_lon = lon_out - lon_f
        err_lat = lat_out - lat_f
        lon = lon + err_lon
        lat = lat + err_lat
        err = np.maximum(np.abs(err_lon), np.abs(err_lat))
        # NaN inputs never converge; leave them out of the stopping test.
        if not np.any(err[~np.isnan(err)] > _INVERSE_TOLERANCE_DEG):
            break
    return lon, lat


def _wgs_to_gcj(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dlon, dlat = _gcj_offset_deg(lon, lat)
    return lon + dlon, lat + dlat


def _gcj_to_bd(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _BD_X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _BD_X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS-84 to GCJ-02.

    Parameters
    ----------
    lon, lat : float or array_like
        WGS-84 longitude and latitude in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 (lon, lat) in degrees; unchanged where :func:`out_of_china` is True.

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02([117.23, float("nan")], [31.82, 31.82])
    >>> lon.round(4).tolist()[0], bool(np.isnan(lon[1]))
    (117.2355, True)
    """
    lon_arr, lat_arr = _as_pair(lon, lat)
    return _result(*_wgs_to_gcj(lon_arr, lat_arr))


def gcj02_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 to WGS-84 exactly (iterative inverse of :func:`wgs84_to_gcj02`).

    The round trip WGS-84 -> GCJ-02 -> WGS-84 is below 0.01 m everywhere in China.

    Parameters
    ----------
    lon, lat : float or array_like
        GCJ-02 longitude and latitude in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        WGS-84 (lon, lat) in degrees; unchanged out of China.

    Examples
    --------
    >>> lon, lat = gcj02_to_wgs84(*wgs84_to_gcj02(117.23, 31.82))
    >>> round(float(lon), 9), round(float(lat), 9)
    (117.23, 31.82)
    """
    lon_arr, lat_arr = _as_pair(lon, lat)
    lon_w, lat_w = _invert(_wgs_to_gcj, lon_arr, lat_arr)
    # Keep the usual rule for the boundary: a point outside China is taken as it is.
    outside = out_of_china(lon_arr, lat_arr)
    return _result(np.where(outside, lon_arr, lon_w), np.where(outside, lat_arr, lat_w))


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 to BD-09 (Baidu).

    The BD-09 offset is defined on top of GCJ-02 and applies everywhere, also out of China.

    Parameters
    ----------
    lon, lat : float or array_like
        GCJ-02 longitude and latitude in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        BD-09 (lon, lat) in degrees.

    Examples
    --------
    >>> lon, lat = gcj02_to_bd09([116.404, float("nan")], [39.915, 0.0])
    >>> lon.round(4).tolist()[0], bool(np.isnan(lat[1]))
    (116.4104, True)
    """
    lon_arr, lat_arr = _as_pair(lon, lat)
    return _result(*_gcj_to_bd(lon_arr, lat_arr))


def bd09_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Convert BD-09 to GCJ-02 exactly (iterative inverse of :func:`gcj02_to_bd09`).

    Parameters
    ----------
    lon, lat : float or array_like
        BD-09 longitude and latitude in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 (lon, lat) in degrees.

    Examples
    --------
    >>> lon, lat = bd09_to_gcj02(*gcj02_to_bd09(116.404, 39.915))
    >>> round(float(lon), 9), round(float(lat), 9)
    (116.404, 39.915)
    """
    lon_arr, lat_arr = _as_pair(lon, lat)
    return _result(*_invert(_gcj_to_bd, lon_arr, lat_arr))


def wgs84_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS-84 to BD-09 (via GCJ-02).

    Parameters
    ----------
    lon, lat : float or array_like
        WGS-84 longitude and latitude in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        BD-09 (lon, lat) in degrees.

    Examples
    --------
    >>> lon, lat = wgs84_to_bd09(117.23, 31.82)
    >>> lon.ndim, round(float(lon), 3), round(float(lat), 3)
    (0, 117.242, 31.824)
    """
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Convert BD-09 to WGS-84 exactly (via GCJ-02).

    Parameters
    ----------
    lon, lat : float or array_like
        BD-09 longitude and latitude in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        WGS-84 (lon, lat) in degrees.

    Examples
    --------
    >>> lon, lat = bd09_to_wgs84(*wgs84_to_bd09([117.23, float("nan")], [31.82, 1.0]))
    >>> round(float(lon[0]), 9), bool(np.isnan(lon[1]))
    (117.23, True)
    """
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def _check_system(system: str) -> None:
    if system not in SYSTEMS:
        raise ValueError(f"system must be one of {', '.join(SYSTEMS)}; got {system!r}")


def to_wgs84(lon, lat, system: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert coordinates declared in ``system`` to WGS-84.

    CGCS2000 is taken as WGS-84: the two frames differ by well under a metre (centimetres at
    the epoch of use), far below GNSS and map error, so no transformation is applied.

    Parameters
    ----------
    lon, lat : float or array_like
        Longitude and latitude in degrees, in ``system``.
    system : {"WGS84", "CGCS2000", "GCJ02", "BD09"}
        The declared coordinate system.

    Returns
    -------
    tuple of numpy.ndarray
        WGS-84 (lon, lat) in degrees.

    Raises
    ------
    ValueError
        If ``system`` is not one of :data:`SYSTEMS`.

    Examples
    --------
    >>> lon, lat = to_wgs84([117.2355, float("nan")], [31.8180, 1.0], "CGCS2000")
    >>> lon.tolist()[0], bool(np.isnan(lon[1]))
    (117.2355, True)
    """
    _check_system(system)
    if system == "GCJ02":
        return gcj02_to_wgs84(lon, lat)
    if system == "BD09":
        return bd09_to_wgs84(lon, lat)
    return _result(*_as_pair(lon, lat))


def from_wgs84(lon, lat, system: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS-84 coordinates to ``system``.

    CGCS2000 is taken as WGS-84 (sub-metre difference), see :func:`to_wgs84`.

    Parameters
    ----------
    lon, lat : float or array_like
        WGS-84 longitude and latitude in degrees.
    system : {"WGS84", "CGCS2000", "GCJ02", "BD09"}
        The target coordinate system.

    Returns
    -------
    tuple of numpy.ndarray
        (lon, lat) in degrees, in ``system``.

    Raises
    ------
    ValueError
        If ``system`` is not one of :data:`SYSTEMS`.

    Examples
    --------
    >>> lon, lat = from_wgs84(117.23, 31.82, "GCJ02")
    >>> round(float(lon), 4), round(float(lat), 4)
    (117.2355, 31.818)
    """
    _check_system(system)
    if system == "GCJ02":
        return wgs84_to_gcj02(lon, lat)
    if system == "BD09":
        return wgs84_to_bd09(lon, lat)
    return _result(*_as_pair(lon, lat))
