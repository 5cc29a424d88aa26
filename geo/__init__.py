"""Spatial kernel: coordinate systems, distances, China bounds, H3 helpers, division gazetteer and outlines.

Pure functions on numpy arrays; no database and no web. Import the submodules
(``geo.crs``, ``geo.distance``, ``geo.bounds``, ``geo.hexes``, ``geo.gazetteer``, ``geo.outlines``) or the
names re-exported here.
"""

from geo.bounds import CHINA_BBOX, in_china_bbox
from geo.crs import SYSTEMS, from_wgs84, to_wgs84
from geo.distance import EARTH_RADIUS_M, haversine_m, path_length_m
from geo.gazetteer import Division

__all__ = [
    "CHINA_BBOX",
    "EARTH_RADIUS_M",
    "SYSTEMS",
    "Division",
    "from_wgs84",
    "haversine_m",
    "in_china_bbox",
    "path_length_m",
    "to_wgs84",
]
