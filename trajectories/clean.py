"""Cleaning of raw fixes: order by time, drop invalid and duplicate fixes, remove single-fix outliers."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from . import _kernels as K
from .columns import LAT, LON, T
from .errors import FixesSchemaError

__all__ = ["REASON_COL", "CleanReport", "clean"]

# Column of CleanReport.removed that says why each fix was dropped.
REASON_COL = "reason"

_INVALID, _DUPLICATE, _SPIKE, _JUMP = 1, 2, 3, 4
_REASON_NAMES = {_INVALID: "invalid", _DUPLICATE: "duplicate", _SPIKE: "spike", _JUMP: "jump"}


@dataclass(frozen=True)
class CleanReport:
    """What :func:`clean` did to one trajectory's fixes.

    Attributes
    ----------
    n_in, n_out : int
        Fixes received and kept.
    invalid : int
        Fixes with a missing time or a coordinate that is NaN or outside [-180, 180] × [-90, 90].
    duplicates : int
        Fixes less than ``min_interval_s`` after the previous fix (same instant, or nearly).
    out_of_order : int
        Fixes that arrived earlier in the input than a fix with a later time (they were re-sorted,
        not dropped).
    spikes, jumps : int
        Single-fix outliers removed (see :func:`clean`).
    removed : pandas.DataFrame
        The removed rows as received (original index kept), plus a ``reason`` column:
        "invalid", "duplicate", "spike" or "jump". Evidence for the map; built on first access.
    fixes, reasons : pandas.DataFrame, numpy.ndarray
        The fixes received and a reason code per row (0 kept), what ``removed`` is taken from.
    """

    n_in: int
    n_out: int
    invalid: int
    duplicates: int
    out_of_order: int
    spikes: int
    jumps: int
    # the input and the reason code per input row (0 kept): ``removed`` is built from them on first access, since
    # a back-fill reads it only for the tracks that lost a spike or a jump
    fixes: pd.DataFrame = field(repr=False, compare=False)
    reasons: np.ndarray = field(repr=False, compare=False)

    @cached_property
    def removed(self) -> pd.DataFrame:  # cached_property writes the instance dict: fine on a frozen dataclass
        return _removed_frame(self.fixes, self.reasons)

    def outliers(self, limit: int) -> tuple[np.ndarray, list[str]]:
        """The first ``limit`` spikes and jumps (the rows of ``removed`` the map shows), without building
        ``removed``: their positions in ``fixes`` (input order) and their reasons."""
        idx = np.flatnonzero((self.reasons == _SPIKE) | (self.reasons == _JUMP))[:limit]
        return idx, [_REASON_NAMES[c] for c in self.reasons[idx].tolist()]

    def to_dict(self) -> dict[str, int]:
        """Return the counts (without the removed rows) as a plain dict."""
        return {
            "n_in": self.n_in,
            "n_out": self.n_out,
            "invalid": self.invalid,
            "duplicates": self.duplicates,
            "out_of_order": self.out_of_order,
            "spikes": self.spikes,
            "jumps": self.jumps,
        }


@dataclass(frozen=True)
class _CleanParams:
    max_speed_kmh: float
    spike_ratio: float
    spike_min_m: float
    spike_max_step_s: float
    min_interval_s: float
    passes: int


def clean(
    fixes: pd.DataFrame,
    *,
    max_speed_kmh: float = 130.0,
    spike_ratio: float = 0.2,
    spike_min_m: float = 100.0,
    spike_max_step_s: float = 120.0,
    min_interval_s: float = 1.0,
    passes: int = 2,
) -> tuple[pd.DataFrame, CleanReport]:
    """Sort fixes by time and remove invalid, duplicate and single-fix outlier fixes.

    Parameters
    ----------
    fixes : pandas.DataFrame
        One trajectory's fixes with columns ``t`` (tz-aware), ``lon``, ``lat`` (WGS-84 degrees) and
        any others (kept). Any order; the index is kept for the evidence.
    max_speed_kmh : float
        Speed no truck reaches; a fix whose steps on both sides exceed it while its neighbours agree
        with each other is a *jump* and is removed.
    spike_ratio, spike_min_m : float
        A fix is a *spike* when it misses every position its neighbours predict (interpolated
        between them, extrapolated from the two before and from the two after) by more than
        ``max(spike_min_m, spike_ratio × distance between its two neighbours)``, metres.
    spike_max_step_s : float
        Predictions use only steps of at most this many seconds (none across a gap). Sparser
        sampling (driver apps at 1-5 min) gets jump removal only: over minutes, real speed changes
        and bends miss the predictions by as much as a 500 m outlier does (on generated app tracks a
        600 s limit removed about as many good fixes as outliers; 120 s removed 4 good fixes in 10k).
    min_interval_s : float
        A fix less than this after the previous one (after sorting) is a duplicate; the first is kept.
    passes : int
        Outlier passes; each recomputes neighbours after the previous pass's removals.

    Returns
    -------
    tuple of (pandas.DataFrame, CleanReport)
        The kept fixes sorted by ``t`` with a fresh RangeIndex, and the report.

    Raises
    ------
    FixesSchemaError
        If a required column is missing or ``t`` is not timezone-aware.

    Notes
    -----
    Only *isolated* outliers are removed: two or more consecutive displaced fixes are left for the
    speed rule, since a block that moves together is a detour or a forged jump, not noise.

    Examples
    --------
    >>> t = pd.to_datetime([0, 30, 30, 90, 60], unit="s", utc=True)
    >>> df = pd.DataFrame({"t": t, "lon": [117.0, 117.001, 117.001, 117.003, 117.002],
    ...                    "lat": [31.0] * 5})
    >>> out, report = clean(df)
    >>> report.n_out, report.duplicates, report.out_of_order
    (4, 1, 1)
    """
    _check_columns(fixes)
    params = _CleanParams(max_speed_kmh, spike_ratio, spike_min_m, spike_max_step_s, min_interval_s, passes)
    # a shallow copy (copy-on-write) keeps the input as received for the report's lazily built ``removed``
    order, report, _ = clean_positions(fixes.copy(deep=False), params)
    return fixes.iloc[order].reset_index(drop=True), report


def clean_positions(
    fixes: pd.DataFrame, params: _CleanParams
) -> tuple[np.ndarray, CleanReport, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """:func:`clean` without building the kept frame: the input positions of the kept fixes in time order, the
    report, and the input's (t_us, lon, lat) arrays (so that :func:`trajectories.build.build` takes the kept
    rows once, already clipped to its window). ``fixes`` must have the columns :func:`clean` checks; the report
    keeps it (``removed`` is built from it when read), so pass a frame nobody changes afterwards."""
    t_us = K.times_us(fixes[T])
    lon, lat = fixes[LON].to_numpy(dtype=np.float64), fixes[LAT].to_numpy(dtype=np.float64)
    gid = np.zeros(t_us.size, dtype=np.int64)
    order, reason, out_of_order = clean_arrays(t_us, lon, lat, gid, params)
    report = report_of(fixes, reason, int(order.size), int(out_of_order[0]) if out_of_order.size else 0)
    return order, report, (t_us, lon, lat)


def report_of(fixes: pd.DataFrame, reasons: np.ndarray, n_out: int, out_of_order: int) -> CleanReport:
    """The report of one track's cleaning: ``reasons`` is :func:`clean_arrays`' code per input row (0 kept)."""
    counts = np.bincount(reasons, minlength=5)
    return CleanReport(
        n_in=int(reasons.size), n_out=n_out, invalid=int(counts[_INVALID]), duplicates=int(counts[_DUPLICATE]),
        out_of_order=out_of_order, spikes=int(counts[_SPIKE]), jumps=int(counts[_JUMP]), fixes=fixes,
        reasons=reasons,
    )


_REASON_CATEGORIES = [_REASON_NAMES[c] for c in sorted(_REASON_NAMES)]
# Empty ``removed`` frames per input schema: most tracks lose no fix, and building an empty frame with its
# categorical column costs as much as a whole cleaning pass. Callers get a copy.
_EMPTY_REMOVED: dict[tuple, pd.DataFrame] = {}


def _removed_frame(fixes: pd.DataFrame, reason: np.ndarray) -> pd.DataFrame:
    """The removed rows as received (original index kept) plus the ``reason`` column."""
    idx = np.flatnonzero(reason)
    key = None
    if idx.size == 0:
        # dtypes.tolist(): iterating the dtypes Series itself costs 4x more (this runs for every track built)
        key = (tuple(fixes.columns), tuple(fixes.dtypes.tolist()), type(fixes.index), fixes.index.dtype)
        if key in _EMPTY_REMOVED:
            return _EMPTY_REMOVED[key].copy()
    removed = fixes.iloc[idx].copy()
    removed[REASON_COL] = pd.Categorical.from_codes(reason[idx] - 1, categories=_REASON_CATEGORIES)
    if key is not None and len(_EMPTY_REMOVED) < 64:
        _EMPTY_REMOVED[key] = removed.copy()
    return removed


def _check_columns(fixes: pd.DataFrame) -> None:
    if not isinstance(fixes, pd.DataFrame):
        raise FixesSchemaError(f"fixes must be a pandas DataFrame; got {type(fixes).__name__}")
    missing = [c for c in (T, LON, LAT) if c not in fixes.columns]
    if missing:
        raise FixesSchemaError(f"fixes lack column(s) {missing}; have {list(fixes.columns)}")


def clean_arrays(
    t_us: np.ndarray, lon: np.ndarray, lat: np.ndarray, gid: np.ndarray, params: _CleanParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cleaning on flat arrays of one or many trajectories (``gid`` = integer trajectory codes).

    Returns the input positions of the kept fixes in (gid, t) order, a reason code per input row
    (0 kept) and the out-of-order count per gid code (indexed by code).
    """
    n = t_us.size
    reason = np.zeros(n, dtype=np.int64)
    n_groups = int(gid.max()) + 1 if n else 0
    valid = (
        (t_us != np.iinfo(np.int64).min)
        & np.isfinite(lon)
        & np.isfinite(lat)
        & (np.abs(lon) <= 180.0)
        & (np.abs(lat) <= 90.0)
    )
    reason[~valid] = _INVALID
    idx = np.flatnonzero(valid)
    # Readers hand tracks over in (gid, t) order already: then nothing is out of order and the (stable) sort
    # would return the identity — two sorts of the whole chunk saved.
    if _in_group_time_order(t_us[idx], gid[idx]):
        out_of_order = np.zeros(n_groups, dtype=np.int64)
    else:
        out_of_order = _count_out_of_order(t_us[idx], gid[idx], n_groups)
        idx = idx[np.lexsort((t_us[idx], gid[idx]))]
    g = gid[idx]
    dup = np.zeros(idx.size, dtype=bool)
    dup[1:] = (g[1:] == g[:-1]) & (np.diff(t_us[idx]) < params.min_interval_s * 1e6)
    reason[idx[dup]] = _DUPLICATE
    idx = idx[~dup]

    for _ in range(params.passes):
        spike, jump = K.outlier_flags(
            t_us[idx] / 1e6,
            lon[idx],
            lat[idx],
            gid[idx],
            max_speed_kmh=params.max_speed_kmh,
            spike_min_m=params.spike_min_m,
            spike_ratio=params.spike_ratio,
            spike_max_step_s=params.spike_max_step_s,
        )
        if not (spike.any() or jump.any()):
            break
        reason[idx[spike]] = _SPIKE
        reason[idx[jump]] = _JUMP
        idx = idx[~(spike | jump)]
    return idx, reason, out_of_order


def _in_group_time_order(t_us: np.ndarray, gid: np.ndarray) -> bool:
    """Whether the rows are sorted by gid, then by time (ties allowed)."""
    if t_us.size < 2:
        return True
    dg = np.diff(gid)
    return bool((dg >= 0).all() and ((dg > 0) | (np.diff(t_us) >= 0)).all())


def _count_out_of_order(t_us: np.ndarray, gid: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group: fixes whose time is earlier than some fix received before them."""
    if t_us.size == 0:
        return np.zeros(n_groups, dtype=np.int64)
    by_group = np.argsort(gid, kind="stable")  # input order kept within each group
    g = gid[by_group]
    # Dense time ranks plus a per-group offset let one running maximum serve all groups at once.
    rank = np.unique(t_us, return_inverse=True)[1].astype(np.int64)[by_group]
    keyed = rank + g.astype(np.int64) * (int(rank.max()) + 1)
    running = np.maximum.accumulate(keyed)
    late = np.zeros(t_us.size, dtype=bool)
    late[1:] = keyed[1:] < running[:-1]
    return np.bincount(g[late], minlength=n_groups).astype(np.int64)


def params_from(**kwargs) -> _CleanParams:
    """Cleaning parameters with :func:`clean`'s defaults, overridden by ``kwargs`` (for bulk)."""
    defaults = {
        "max_speed_kmh": 130.0,
        "spike_ratio": 0.2,
        "spike_min_m": 100.0,
        "spike_max_step_s": 120.0,
        "min_interval_s": 1.0,
        "passes": 2,
    }
    unknown = set(kwargs) - set(defaults)
    if unknown:
        raise TypeError(f"unknown cleaning option(s) {sorted(unknown)}; allowed: {sorted(defaults)}")
    return _CleanParams(**{**defaults, **kwargs})
