"""Trajectories: cleaning, vectorised measures and per-waybill verification (TRACK_* rules).

Pure computation on pandas/numpy: no database, no HTTP. Column names live in
:mod:`trajectories.columns`; MovingPandas is only needed for :func:`to_movingpandas` and the test
reference in :mod:`trajectories.reference`.
"""

from .build import BuiltTrajectory, TrajectoryStats, build, linestring_m_wkt, to_movingpandas
from .bulk import bulk
from .clean import CleanReport, clean
from .errors import FixesSchemaError, TrajectoryError
from .measures import add_speed, coverage, gaps, h3_path, length_m, stops
from .verify import RULE_CODES, Place, RuleResult, Thresholds, Verdict, VerificationInput, verify

__all__ = [
    "RULE_CODES",
    "BuiltTrajectory",
    "CleanReport",
    "FixesSchemaError",
    "Place",
    "RuleResult",
    "Thresholds",
    "TrajectoryError",
    "TrajectoryStats",
    "Verdict",
    "VerificationInput",
    "add_speed",
    "build",
    "bulk",
    "clean",
    "coverage",
    "gaps",
    "h3_path",
    "length_m",
    "linestring_m_wkt",
    "stops",
    "to_movingpandas",
    "verify",
]
