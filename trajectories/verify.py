"""Per-waybill trajectory verification: the TRACK_* rules of spec/RULES.md §1-2 and a verdict.

Verdict policy (every evaluated rule is reported, fired or not, with the numbers it compared):

* ``NO_DATA`` - TRACK_MISSING: no fix from any source inside the transport period [despatch, receipt];
  nothing else is judged.
* ``FAIL`` - a rule contradicted by the data fired: TRACK_START_MISMATCH / TRACK_END_MISMATCH
  when fixes exist around the despatch / receipt time but none is near the place,
  TRACK_IMPOSSIBLE_SPEED, TRACK_SOURCE_CONFLICT.
* ``SUSPECT`` - a rule about missing or doubtful evidence fired: TRACK_LOW_COVERAGE,
  TRACK_LENGTH_IMPLAUSIBLE, and START/END mismatch when there is no fix at all within the
  time tolerance (absence, not contradiction).
* ``PASS`` - otherwise.

Window and period (spec/RULES.md §2): the window [despatch − 2 h, receipt + 2 h] is read so that the
loading and unloading can be matched when an app starts late or a clock is off; coverage, length and speed
are measured over the transport period only. Fixes in the margins that fall in the periods of the same
vehicle's other waybills (``VerificationInput.other_periods``: the previous and next trip) are dropped
before anything is judged: they never count for this waybill.

Source use: start and end match if *either* source has a fix near the place; coverage counts
the fixes of both sources together (the vehicle was observed if either saw it); length uses
BeiDou when it has fixes in the loaded run, else the app; speed is checked on each source;
the conflict rule interpolates BeiDou (denser) at the app's fix times.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import pandas as pd

from geo.distance import haversine_m

from . import _kernels as K
from .build import BuiltTrajectory, TrajectoryStats, build_many
from .clean import CleanReport
from .columns import DISTANCE_M, DURATION_S, LAT, LON, SPEED_KMH, T
from .measures import _seconds

__all__ = [
    "RULE_CODES",
    "Place",
    "RuleResult",
    "Thresholds",
    "Verdict",
    "VerificationInput",
    "place_distance_m",
    "verify",
    "verify_many",
]

RULE_CODES = (
    "TRACK_MISSING",
    "TRACK_START_MISMATCH",
    "TRACK_END_MISMATCH",
    "TRACK_LOW_COVERAGE",
    "TRACK_IMPOSSIBLE_SPEED",
    "TRACK_LENGTH_IMPLAUSIBLE",
    "TRACK_SOURCE_CONFLICT",
)

Severity = Literal["NO_DATA", "FAIL", "SUSPECT"]
VerdictCode = Literal["PASS", "SUSPECT", "FAIL", "NO_DATA"]

_SOURCES = ("beidou", "app")  # BeiDou first: the denser source wins ties
_MAX_EVIDENCE = 50  # offending features per rule and source: enough for the map, bounded size


@dataclass(frozen=True)
class Place:
    """A loading or unloading place.

    Attributes
    ----------
    lon, lat : float
        WGS-84 degrees.
    radius_m : float
        Match radius for a division's point (its size); ignored when ``from_coordinates``, where
        ``Thresholds.coordinates_radius_m`` applies.
    from_coordinates : bool
        True when the platform gave coordinates, False when the point is the division's.
    division_code : str or None
        Administrative division code (GB/T 2260) the place came from.
    outline : bool
        True when the place is the division's real outline (:mod:`geo.outlines`) grown by ``radius_m`` (the
        buffer) rather than a circle of ``radius_m`` around (lon, lat); (lon, lat) stays the division's point
        (straight-line distances, the map's label).
    """

    lon: float
    lat: float
    radius_m: float
    from_coordinates: bool
    division_code: str | None = None
    outline: bool = False


@dataclass(frozen=True)
class Thresholds:
    """Rule thresholds; defaults are spec/RULES.md's.

    Attributes
    ----------
    coordinates_radius_m : float
        Match radius around given coordinates (3 km).
    time_tolerance_s : float
        Fixes within ± this of despatch / receipt count for the start / end match (2 h); also the
        window margin: the window is [despatch − tolerance, receipt + tolerance].
    min_coverage : float
        Coverage below this fires TRACK_LOW_COVERAGE (0.8).
    gap_s : float
        Steps longer than this are uncovered gaps (1800 s).
    max_speed_kmh : float
        Speeds above this are impossible (130 km/h).
    speed_min_step_m : float
        Only steps longer than this are judged for speed: GPS noise over a few seconds can fake a
        high speed, never 500 m.
    length_ratio_min, length_ratio_max : float
        Plausible driven length / straight loading→unloading distance (0.7-3.0).
    length_min_straight_m : float
        Below this straight distance the length ratio is not judged (too unstable).
    conflict_distance_m, conflict_share : float
        App and BeiDou further apart than this for more than this share of the shared time
        conflict (5 km, 0.2).
    conflict_min_shared_s : float
        Less shared time than this is not judged.
    stop_min_duration_s, stop_max_diameter_m : float
        Stop detection (statistics only).
    h3_res : int
        Resolution of the H3 paths.
    """

    coordinates_radius_m: float = 3000.0
    time_tolerance_s: float = 7200.0
    min_coverage: float = 0.8
    gap_s: float = 1800.0
    max_speed_kmh: float = 130.0
    speed_min_step_m: float = 500.0
    length_ratio_min: float = 0.7
    length_ratio_max: float = 3.0
    length_min_straight_m: float = 5000.0
    conflict_distance_m: float = 5000.0
    conflict_share: float = 0.2
    conflict_min_shared_s: float = 1800.0
    stop_min_duration_s: float = 600.0
    stop_max_diameter_m: float = 200.0
    h3_res: int = 8


@dataclass(frozen=True)
class VerificationInput:
    """One waybill (one vehicle) to verify.

    Attributes
    ----------
    despatch_at, receipt_at : datetime-like, tz-aware
        Declared despatch and receipt instants.
    loading, unloading : Place
    app, beidou : pandas.DataFrame or None
        Raw fixes per source (``t``, ``lon``, ``lat`` in WGS-84), None when the source has nothing.
    other_periods : sequence of (start, end)
        Transport periods of the same vehicle's other waybills (datetime-like or epoch seconds): fixes in
        this waybill's margins that fall inside one of them belong to that waybill and are dropped.
    """

    despatch_at: Any
    receipt_at: Any
    loading: Place
    unloading: Place
    app: pd.DataFrame | None = None
    beidou: pd.DataFrame | None = None
    other_periods: tuple = ()

    def window(self, thresholds: Thresholds | None = None) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The verification window [despatch − tolerance, receipt + tolerance] (UTC)."""
        margin = (thresholds or Thresholds()).time_tolerance_s
        first, last = _period(self)
        start = pd.Timestamp(first - margin, unit="s", tz="UTC")
        end = pd.Timestamp(last + margin, unit="s", tz="UTC")
        return start, end


def _period(inp: VerificationInput) -> tuple[float, float]:
    """(despatch, receipt) in epoch seconds; a receipt before the despatch is read as the two swapped.

    The document's time order is INTAKE_TIME_ORDER's rule; the track is judged over the span the two
    instants delimit (loading at the earlier one), not an empty period that would make every fix "missing".
    """
    a, b = _seconds(inp.despatch_at), _seconds(inp.receipt_at)
    return (a, b) if a <= b else (b, a)


@dataclass(frozen=True)
class RuleResult:
    """One rule's outcome.

    Attributes
    ----------
    code : str
        Anomaly code (spec/RULES.md §1).
    fired : bool
    severity : {"NO_DATA", "FAIL", "SUSPECT"}
        The verdict this rule pushes towards when it fires.
    reason_zh, reason_en : str
        Human-readable reason with the numbers.
    numbers : dict
        The values compared (JSON-friendly).
    """

    code: str
    fired: bool
    severity: Severity
    reason_zh: str
    reason_en: str
    numbers: dict[str, Any]


@dataclass(frozen=True)
class Verdict:
    """The outcome for one waybill.

    Attributes
    ----------
    verdict : {"PASS", "SUSPECT", "FAIL", "NO_DATA"}
    rules : list of RuleResult
        Every rule evaluated, in RULE_CODES order.
    evidence : dict
        GeoJSON FeatureCollection; each feature's ``properties.kind`` is one of "track", "place",
        "matched_fix", "gap", "removed_fix", "speed_segment", "conflict_segment".
    stats : dict of str to TrajectoryStats
        Per source given ("app", "beidou").
    tracks : dict of str to BuiltTrajectory
        The built trajectories per source (for storage as LINESTRING M).
    """

    verdict: VerdictCode
    rules: list[RuleResult]
    evidence: dict[str, Any]
    stats: dict[str, TrajectoryStats]
    tracks: dict[str, BuiltTrajectory] = field(default_factory=dict, repr=False)

    @property
    def fired(self) -> list[str]:
        """Codes of the rules that fired."""
        return [r.code for r in self.rules if r.fired]

    def rule(self, code: str) -> RuleResult | None:
        """Return the result of rule ``code`` (None if it was not evaluated)."""
        return next((r for r in self.rules if r.code == code), None)


def verify(inp: VerificationInput, *, thresholds: Thresholds = Thresholds(), track_features: bool = True) -> Verdict:
    """Verify one waybill's trajectory against its places and times.

    Parameters
    ----------
    inp : VerificationInput
    thresholds : Thresholds
    track_features : bool
        Put each source's whole track in the evidence as a "track" feature (the default). The back-fill, which
        stores the tracks in ``trajectory`` and drops these features, passes False: they are a vertex list
        per fix, the largest part of the evidence to build.

    Returns
    -------
    Verdict
        See the module docstring for the verdict policy.

    Examples
    --------
    >>> t0 = pd.Timestamp("2025-03-01 08:00", tz="UTC")
    >>> t = t0 + pd.to_timedelta(np.arange(-7200, 4 * 3600 + 7201, 60), unit="s")
    >>> s = np.clip((t - t0).total_seconds() / (4 * 3600), 0, 1)   # 4 h at constant speed
    >>> fixes = pd.DataFrame({"t": t, "lon": 117.0 + 2.5 * s, "lat": 31.0})
    >>> inp = VerificationInput(t0, t0 + pd.Timedelta(hours=4), Place(117.0, 31.0, 0, True),
    ...                         Place(119.5, 31.0, 0, True), beidou=fixes)
    >>> v = verify(inp)
    >>> v.verdict, v.fired
    ('PASS', [])
    """
    return verify_many([inp], thresholds=thresholds, track_features=track_features)[0]


def verify_many(
    inputs: Sequence[VerificationInput], *, thresholds: Thresholds = Thresholds(), track_features: bool = True
) -> list[Verdict]:
    """:func:`verify` for many waybills: ``[verify(inp) for inp in inputs]``, with every track of the batch built
    in one pass (:func:`trajectories.build.build_many`; a back-fill chunk verifies hundreds of short tracks)."""
    frames, windows, owners = [], [], []
    for k, inp in enumerate(inputs):
        ws, we = inp.window(thresholds)
        despatch_s, receipt_s = _period(inp)
        others = _other_periods(inp.other_periods, despatch_s, receipt_s)
        for name in _SOURCES:
            df = getattr(inp, name)
            if df is not None:
                frames.append(_drop_others(df, others))
                windows.append((ws, we))
                owners.append((k, name))
    built = build_many(
        frames,
        windows,
        gap_s=thresholds.gap_s,
        stop_min_duration_s=thresholds.stop_min_duration_s,
        stop_max_diameter_m=thresholds.stop_max_diameter_m,
        h3_res=thresholds.h3_res,
        max_speed_kmh=thresholds.max_speed_kmh,
    )
    tracks: list[dict[str, BuiltTrajectory]] = [{} for _ in inputs]
    for (k, name), b in zip(owners, built):
        tracks[k][name] = b
    return [_judge(inp, t, thresholds, track_features) for inp, t in zip(inputs, tracks)]


def _judge(inp: VerificationInput, tracks: dict[str, BuiltTrajectory], thresholds: Thresholds,
           track_features: bool) -> Verdict:
    """The rules and the verdict of one waybill on its built tracks (per source, BeiDou first)."""
    ws, we = inp.window(thresholds)
    despatch_s, receipt_s = _period(inp)
    tr = {name: _TrackArrays.of(b) for name, b in tracks.items() if b.stats.n_fixes}
    evidence = _Evidence()
    evidence.tracks(tracks, with_track=track_features)
    evidence.place(inp.loading, "loading", _radius(inp.loading, thresholds))
    evidence.place(inp.unloading, "unloading", _radius(inp.unloading, thresholds))

    rules = [_rule_missing(tracks, tr, ws, we, despatch_s, receipt_s)]
    if not rules[0].fired:
        start, at_start = _rule_place(tr, inp.loading, despatch_s, "start", thresholds, evidence)
        end, at_end = _rule_place(tr, inp.unloading, receipt_s, "end", thresholds, evidence)
        rules += [
            start,
            end,
            _rule_coverage(tracks, tr, despatch_s, receipt_s, thresholds, evidence),
            _rule_speed(tracks, tr, despatch_s, receipt_s, thresholds, evidence),
            _rule_length(tr, inp, despatch_s, receipt_s, thresholds, at_start, at_end),
            _rule_conflict(tr, thresholds, evidence),
        ]
    return Verdict(
        verdict=_verdict(rules),
        rules=rules,
        evidence=evidence.collection(),
        stats={name: b.stats for name, b in tracks.items()},
        tracks=tracks,
    )


def _verdict(rules: list[RuleResult]) -> VerdictCode:
    severities = {r.severity for r in rules if r.fired}
    for level in ("NO_DATA", "FAIL", "SUSPECT"):
        if level in severities:
            return level
    return "PASS"


# --- helpers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TrackArrays:
    t_s: np.ndarray
    lon: np.ndarray
    lat: np.ndarray

    @classmethod
    def of(cls, built: BuiltTrajectory) -> _TrackArrays:
        c = built.columns  # the kept fixes' arrays: K.times_us(fixes[T]), fixes[LON], fixes[LAT]
        return cls(c["t_us"] / 1e6, c[LON], c[LAT])


def _other_periods(periods, despatch_s: float, receipt_s: float) -> np.ndarray:
    """The other waybills' periods as an (n, 2) array of epoch seconds, minus this waybill's own period.

    Only the parts outside [despatch, receipt] are kept: inside its own period a fix is this waybill's
    (a vehicle on two waybills at once is TRACK_VEHICLE_OVERLAP's business, not a reason to hide fixes).
    """
    out = []
    for a, b in periods:
        a_s, b_s = sorted((_seconds(a), _seconds(b)))
        if b_s <= a_s:
            continue
        if a_s < despatch_s:
            out.append((a_s, min(b_s, despatch_s)))
        if b_s > receipt_s:
            out.append((max(a_s, receipt_s), b_s))
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


def _drop_others(df: pd.DataFrame, others: np.ndarray) -> pd.DataFrame:
    """``df`` without the fixes that fall strictly inside one of ``others`` (their ends stay: hand-overs)."""
    if others.size == 0 or len(df) == 0:
        return df
    t_s = K.times_us(df[T]) / 1e6
    hidden = np.zeros(t_s.size, dtype=bool)
    for a, b in others:
        hidden |= (t_s > a) & (t_s < b)
    return df.loc[~hidden].reset_index(drop=True) if hidden.any() else df


def place_distance_m(place: Place, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Metres from each fix to the place: to its point, or to its division's outline (0 inside) for an
    outline place.

    For an outline place, when any fix lies inside the outline the others are not measured (``inf``): a fix
    inside matches, so their distances change nothing and the common case costs one prepared
    point-in-polygon test per fix.
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    if not place.outline or place.division_code is None:
        return np.asarray(haversine_m(lon, lat, place.lon, place.lat), dtype=np.float64)
    from geo import outlines  # lazy: the outlines file is read on first use

    inside = np.asarray(outlines.contains(place.division_code, lon, lat), dtype=bool)
    if inside.any():
        return np.where(inside, 0.0, np.inf)
    return np.asarray(outlines.distance_to_outline_m(place.division_code, lon, lat), dtype=np.float64)


def _radius(place: Place, th: Thresholds) -> float:
    return th.coordinates_radius_m if place.from_coordinates else float(place.radius_m)


@lru_cache(maxsize=4096)  # every rule prints the same few instants (despatch, receipt, window) of a waybill
def _iso(seconds: float) -> str:
    return pd.Timestamp(round(seconds * 1e6), unit="us", tz="UTC").isoformat()


def _r(value: float | None, digits: int = 1) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


def _rule(code: str, fired: bool, severity: Severity, zh: str, en: str, numbers: dict) -> RuleResult:
    return RuleResult(code, bool(fired), severity, zh, en, numbers)


# --- rules --------------------------------------------------------------------------------------


def _rule_missing(tracks, tr, ws: pd.Timestamp, we: pd.Timestamp, despatch_s, receipt_s) -> RuleResult:
    counts = {name: b.stats.n_fixes for name, b in tracks.items()}
    in_period = {name: int(np.sum((a.t_s >= despatch_s) & (a.t_s <= receipt_s))) for name, a in tr.items()}
    total = sum(in_period.values())
    fired = total == 0
    numbers = {"n_fixes": counts, "n_fixes_in_period": in_period, "window_start": ws.isoformat(),
               "window_end": we.isoformat(), "period_start": _iso(despatch_s), "period_end": _iso(receipt_s)}
    if fired:
        return _rule(
            "TRACK_MISSING", True, "NO_DATA",
            "运输时段（发车至收货）内无任何来源的定位点",
            "No fix from any source in the transport period (despatch to receipt)",
            numbers,
        )  # fmt: skip
    return _rule(
        "TRACK_MISSING", False, "NO_DATA",
        f"运输时段内共有{total}个定位点", f"{total} fixes in the transport period", numbers,
    )  # fmt: skip


def _rule_place(tr, place: Place, at_s: float, role: str, th: Thresholds,
                ev: _Evidence) -> tuple[RuleResult, tuple[float, float] | None]:
    """The start or end match, and where the vehicle was seen at the place (None unless it matched).

    Among the fixes at the same (least) distance — every fix inside a division's outline is at 0 — the one
    nearest in time to the despatch / receipt is the match.
    """
    code = "TRACK_START_MISMATCH" if role == "start" else "TRACK_END_MISMATCH"
    radius = _radius(place, th)
    per_source: dict[str, dict] = {}
    best: tuple[float, str, float, float, float] | None = None
    for name, a in tr.items():
        near_time = np.abs(a.t_s - at_s) <= th.time_tolerance_s
        n = int(near_time.sum())
        if n == 0:
            per_source[name] = {"n_fixes_in_time": 0, "nearest_m": None}
            continue
        idx = np.flatnonzero(near_time)
        d = place_distance_m(place, a.lon[idx], a.lat[idx])
        ties = np.flatnonzero(d == d.min())
        j = int(ties[np.argmin(np.abs(a.t_s[idx[ties]] - at_s))]) if ties.size > 1 else int(np.argmin(d))
        k = int(idx[j])
        per_source[name] = {"n_fixes_in_time": n, "nearest_m": _r(d[j]), "nearest_at": _iso(a.t_s[k])}
        if best is None or d[j] < best[0]:
            best = (float(d[j]), name, float(a.t_s[k]), float(a.lon[k]), float(a.lat[k]))
    hours = th.time_tolerance_s / 3600
    what_zh, what_en = ("装货地", "loading place") if role == "start" else ("卸货地", "unloading place")
    when_zh, when_en = ("发车", "despatch") if role == "start" else ("收货", "receipt")
    numbers = {
        "radius_m": radius,
        "time_tolerance_s": th.time_tolerance_s,
        "place": {"lon": place.lon, "lat": place.lat, "from_coordinates": place.from_coordinates,
                  "division_code": place.division_code, "outline": place.outline},
        "at": _iso(at_s),
        "distance_m": _r(best[0]) if best else None,
        "source": best[1] if best else None,
        "sources": per_source,
    }  # fmt: skip
    if best is None:
        return _rule(
            code, True, "SUSPECT",
            f"{when_zh}时间前后{hours:g}小时内无定位点，无法确认到达{what_zh}",
            f"No fix within ±{hours:g} h of {when_en}: cannot confirm the {what_en}",
            numbers,
        ), None  # fmt: skip
    dist, source, t_best, lon_best, lat_best = best
    inside = dist <= radius
    ev.matched_fix(role, source, t_best, lon_best, lat_best, dist, inside)
    if place.outline:  # distances are to the division's outline (0 inside it)
        what_zh = f"{what_zh}（行政区划{place.division_code}边界）"
        what_en = f"{what_en}'s division {place.division_code} (its outline)"
    if inside:
        return _rule(
            code, False, "FAIL",
            f"{when_zh}前后{hours:g}小时内最近定位点距{what_zh}{dist:.0f}米（{radius:.0f}米内）",
            f"Nearest fix within ±{hours:g} h of {when_en} is {dist:.0f} m from the {what_en} "
            f"(within {radius:.0f} m)",
            numbers,
        ), (lon_best, lat_best)  # fmt: skip
    return _rule(
        code, True, "FAIL",
        f"{when_zh}前后{hours:g}小时内无定位点位于{what_zh}{radius:.0f}米范围内（最近{dist:.0f}米）",
        f"No fix within {radius:.0f} m of the {what_en} within ±{hours:g} h of {when_en} "
        f"(nearest {dist:.0f} m)",
        numbers,
    ), None  # fmt: skip


def _period_coverage(t_s: np.ndarray, ps: float, pe: float, gap_s: float) -> tuple[float, float]:
    """(covered share, longest gap) of [ps, pe] by the sorted fix times ``t_s``.

    Steps that straddle an end of the period count for the part inside it (the fixes just outside are kept
    for that: a short gap around despatch is no gap).
    """
    lo, hi = np.searchsorted(t_s, ps, side="left"), np.searchsorted(t_s, pe, side="right")
    t = t_s[max(lo - 1, 0):hi + 1]
    span = max(pe - ps, 1.0)
    gid = np.zeros(t.size, dtype=np.int64)
    period = np.array([ps]), np.array([pe])
    return (float(K.covered_s(t, gid, 1, *period, gap_s=gap_s)[0] / span),
            float(K.max_gap_s(t, gid, 1, *period)[0]))


def _rule_coverage(tracks, tr, despatch_s, receipt_s, th: Thresholds, ev: _Evidence) -> RuleResult:
    merged = np.sort(np.concatenate([a.t_s for a in tr.values()]))
    share, longest = _period_coverage(merged, despatch_s, receipt_s, th.gap_s)
    for name, b in tracks.items():
        ev.gaps(name, b)
    numbers = {
        "coverage": _r(share, 4),
        "min_coverage": th.min_coverage,
        "gap_s": th.gap_s,
        "max_gap_s": _r(longest),
        "period_start": _iso(despatch_s),
        "period_end": _iso(receipt_s),
        "by_source": {name: _r(_period_coverage(a.t_s, despatch_s, receipt_s, th.gap_s)[0], 4)
                      for name, a in tr.items()},
    }
    fired = share < th.min_coverage
    verb_zh = "低于" if fired else "不低于"
    verb_en = "below" if fired else "at least"
    return _rule(
        "TRACK_LOW_COVERAGE", fired, "SUSPECT",
        f"运输时段定位覆盖率{share:.0%}，{verb_zh}{th.min_coverage:.0%}（超过{th.gap_s / 60:g}分钟的间隔不计）",
        f"Fixes cover {share:.0%} of the transport period, {verb_en} {th.min_coverage:.0%} "
        f"(gaps over {th.gap_s / 60:g} min uncovered)",
        numbers,
    )  # fmt: skip


def _rule_speed(tracks, tr, despatch_s, receipt_s, th: Thresholds, ev: _Evidence) -> RuleResult:
    worst: dict | None = None
    by_source: dict[str, dict] = {}
    for name, b in tracks.items():
        n = b.stats.n_fixes
        if n < 2:
            continue
        # the arrays of b.fixes' columns (the frame itself is built only when a step is too fast)
        speed = b.columns[SPEED_KMH]
        dist = b.columns[DISTANCE_M]
        t_s = tr[name].t_s
        in_period = (t_s >= despatch_s) & (t_s <= receipt_s)
        step = np.arange(n) > 0
        step[1:] &= in_period[1:] & in_period[:-1]  # both ends in the transport period
        judged = step & (dist > th.speed_min_step_m)
        over = np.flatnonzero(judged & (speed > th.max_speed_kmh))
        top = float(np.nanmax(np.where(judged, speed, np.nan))) if judged.any() else None
        by_source[name] = {"max_speed_kmh": _r(top), "n_steps_over": int(over.size)}
        if over.size:
            f = b.fixes
            ev.speed_segments(name, f, over)
            k = int(over[np.argmax(speed[over])])
            cand = {
                "source": name,
                "speed_kmh": _r(speed[k]),
                "from": f[T].iloc[k - 1].isoformat(),
                "to": f[T].iloc[k].isoformat(),
                "distance_m": _r(dist[k]),
                "duration_s": _r(f[DURATION_S].iloc[k]),
            }
            if worst is None or cand["speed_kmh"] > worst["speed_kmh"]:
                worst = cand
    numbers = {
        "max_speed_kmh": th.max_speed_kmh,
        "min_step_m": th.speed_min_step_m,
        "period_start": _iso(despatch_s),
        "period_end": _iso(receipt_s),
        "by_source": by_source,
        "worst_step": worst,
    }
    if worst is not None:
        return _rule(
            "TRACK_IMPOSSIBLE_SPEED", True, "FAIL",
            f"{worst['source']}轨迹在{worst['duration_s']:.0f}秒内移动{worst['distance_m']:.0f}米，"
            f"速度{worst['speed_kmh']:.0f}公里/小时，超过{th.max_speed_kmh:.0f}",
            f"The {worst['source']} track moves {worst['distance_m']:.0f} m in {worst['duration_s']:.0f} s: "
            f"{worst['speed_kmh']:.0f} km/h, above {th.max_speed_kmh:.0f}",
            numbers,
        )  # fmt: skip
    tops = [v["max_speed_kmh"] for v in by_source.values() if v["max_speed_kmh"] is not None]
    top = max(tops) if tops else None
    shown = f"{top:.0f}" if top is not None else "-"
    return _rule(
        "TRACK_IMPOSSIBLE_SPEED", False, "FAIL",
        f"清洗后最高速度{shown}公里/小时，未超过{th.max_speed_kmh:.0f}",
        f"Highest speed after cleaning {shown} km/h, not above {th.max_speed_kmh:.0f}",
        numbers,
    )  # fmt: skip


def _end_point(place: Place, seen: tuple[float, float] | None) -> tuple[float, float]:
    # A division is tens of km wide: where the vehicle was seen in it at loading / unloading says more about
    # the straight line than the division's centre does. Given coordinates are the place itself.
    return seen if (seen is not None and place.outline) else (place.lon, place.lat)


def _rule_length(tr, inp: VerificationInput, despatch_s, receipt_s, th: Thresholds,
                 at_start: tuple[float, float] | None = None, at_end: tuple[float, float] | None = None) -> RuleResult:
    a, b = _end_point(inp.loading, at_start), _end_point(inp.unloading, at_end)
    straight = float(haversine_m(a[0], a[1], b[0], b[1]))
    numbers: dict[str, Any] = {
        "straight_m": _r(straight),
        "straight_from": "matched_fixes" if (a, b) != ((inp.loading.lon, inp.loading.lat),
                                                      (inp.unloading.lon, inp.unloading.lat)) else "places",
        "ratio_min": th.length_ratio_min,
        "ratio_max": th.length_ratio_max,
        "from": _iso(despatch_s),
        "to": _iso(receipt_s),
    }
    source, driven = None, None
    for name in _SOURCES:  # BeiDou first: denser, so its length is closer to the road's
        a = tr.get(name)
        if a is None:
            continue
        run = (a.t_s >= despatch_s) & (a.t_s <= receipt_s)
        if run.sum() >= 2:
            lon, lat = a.lon[run], a.lat[run]
            source, driven = name, float(np.sum(haversine_m(lon[:-1], lat[:-1], lon[1:], lat[1:])))
            break
    numbers.update(source=source, driven_m=_r(driven))
    if straight < th.length_min_straight_m or driven is None:
        why_en = (
            f"straight distance {straight:.0f} m is under {th.length_min_straight_m:.0f} m"
            if driven is not None
            else "fewer than 2 fixes between despatch and receipt"
        )
        why_zh = (
            f"装卸货地直线距离{straight:.0f}米，不足{th.length_min_straight_m:.0f}米"
            if driven is not None
            else "发车至收货之间定位点不足2个"
        )
        numbers.update(evaluated=False, ratio=None)
        return _rule(
            "TRACK_LENGTH_IMPLAUSIBLE", False, "SUSPECT",
            f"未判断里程：{why_zh}", f"Length not judged: {why_en}", numbers,
        )  # fmt: skip
    ratio = driven / straight
    fired = ratio < th.length_ratio_min or ratio > th.length_ratio_max
    numbers.update(evaluated=True, ratio=_r(ratio, 3))
    verb_zh = "超出" if fired else "在"
    verb_en = "outside" if fired else "within"
    return _rule(
        "TRACK_LENGTH_IMPLAUSIBLE", fired, "SUSPECT",
        f"行驶里程{driven / 1000:.1f}公里为直线距离{straight / 1000:.1f}公里的{ratio:.2f}倍，"
        f"{verb_zh}{th.length_ratio_min:g}–{th.length_ratio_max:g}倍范围" + ("" if fired else "内"),
        f"Driven {driven / 1000:.1f} km is {ratio:.2f}× the straight {straight / 1000:.1f} km, "
        f"{verb_en} {th.length_ratio_min:g}–{th.length_ratio_max:g}×",
        numbers,
    )  # fmt: skip


def _rule_conflict(tr, th: Thresholds, ev: _Evidence) -> RuleResult:
    numbers: dict[str, Any] = {
        "distance_m": th.conflict_distance_m,
        "max_share": th.conflict_share,
        "min_shared_s": th.conflict_min_shared_s,
    }
    ref, probe = tr.get("beidou"), tr.get("app")
    if ref is None or probe is None or ref.t_s.size < 2 or probe.t_s.size < 1:
        numbers.update(evaluated=False, share=None, shared_s=0.0)
        return _rule(
            "TRACK_SOURCE_CONFLICT", False, "FAIL",
            "未比对：缺少司机APP或北斗轨迹", "Not compared: the app or the BeiDou track is missing", numbers,
        )  # fmt: skip
    lo, hi = max(ref.t_s[0], probe.t_s[0]), min(ref.t_s[-1], probe.t_s[-1])
    shared_s = max(hi - lo, 0.0)
    share, far, dist, ref_lon, ref_lat, sel = _conflict_share(
        ref, probe, lo, hi, th.gap_s, th.conflict_distance_m
    )
    numbers.update(shared_s=_r(shared_s), share=_r(share, 4), evaluated=shared_s >= th.conflict_min_shared_s)
    numbers["max_apart_m"] = _r(float(np.max(dist))) if dist.size else None
    if shared_s < th.conflict_min_shared_s or share is None:
        return _rule(
            "TRACK_SOURCE_CONFLICT", False, "FAIL",
            f"未比对：两来源共同时段{shared_s / 60:.0f}分钟，不足{th.conflict_min_shared_s / 60:.0f}分钟",
            f"Not compared: only {shared_s / 60:.0f} min of shared time "
            f"(under {th.conflict_min_shared_s / 60:.0f} min)",
            numbers,
        )  # fmt: skip
    fired = share > th.conflict_share
    if fired:
        ev.conflict_segments(probe, sel[far], ref_lon[far], ref_lat[far], dist[far])
    verb_zh = "超过" if fired else "未超过"
    verb_en = "more than" if fired else "not more than"
    return _rule(
        "TRACK_SOURCE_CONFLICT", fired, "FAIL",
        f"司机APP与北斗轨迹相距超过{th.conflict_distance_m / 1000:g}公里的时间占共同时段{share:.0%}，"
        f"{verb_zh}{th.conflict_share:.0%}",
        f"App and BeiDou are over {th.conflict_distance_m / 1000:g} km apart for {share:.0%} of their shared "
        f"time, {verb_en} {th.conflict_share:.0%}",
        numbers,
    )  # fmt: skip


def _conflict_share(
    ref: _TrackArrays, probe: _TrackArrays, lo: float, hi: float, gap_s: float, apart_m: float
):
    """Time-weighted share of the probe's fixes (inside [lo, hi]) further than ``apart_m`` from ref.

    Ref is interpolated linearly at the probe's times, only inside ref steps of at most ``gap_s``;
    each probe fix stands for the time up to halfway to its neighbours.
    """
    sel = np.flatnonzero((probe.t_s >= lo) & (probe.t_s <= hi))
    empty = np.zeros(0)
    if sel.size == 0 or hi <= lo:
        return None, np.zeros(0, dtype=bool), empty, empty, empty, sel
    t = probe.t_s[sel]
    j = np.clip(np.searchsorted(ref.t_s, t, side="right"), 1, ref.t_s.size - 1)
    bracket_ok = (ref.t_s[j] - ref.t_s[j - 1]) <= gap_s
    ref_lon = np.interp(t, ref.t_s, ref.lon)
    ref_lat = np.interp(t, ref.t_s, ref.lat)
    dist = haversine_m(probe.lon[sel], probe.lat[sel], ref_lon, ref_lat)
    mids = np.concatenate([[lo], 0.5 * (t[1:] + t[:-1]), [hi]])
    weight = np.where(bracket_ok, np.diff(mids), 0.0)
    total = float(weight.sum())
    far = bracket_ok & (dist > apart_m)
    share = float(weight[far].sum() / total) if total > 0 else None
    return share, far, dist, ref_lon, ref_lat, sel


# --- evidence -----------------------------------------------------------------------------------


def _pt(lon: float, lat: float) -> list[float]:
    return [round(float(lon), 6), round(float(lat), 6)]


def _pts(lon: np.ndarray, lat: np.ndarray) -> list[list[float]]:
    """Points as ``[[lon, lat], ...]`` rounded to 6 decimals, converted to Python lists once."""
    return np.round(np.column_stack([lon, lat]).astype(np.float64), 6).tolist()


def _isos(t_us: np.ndarray) -> list[str]:
    """UTC microsecond times as ``pandas.Timestamp.isoformat()`` strings, without a Timestamp per value.

    Whole seconds print without a fraction, others with six digits, both with ``+00:00``, as pandas does.
    """
    t_us = np.asarray(t_us, dtype=np.int64)
    text = np.datetime_as_string(t_us.view("datetime64[us]"), unit="us").tolist()
    whole = (t_us % 1_000_000 == 0).tolist()
    return [(s[:-7] if w else s) + "+00:00" for s, w in zip(text, whole)]


class _Evidence:
    """Collects GeoJSON features for the map (WGS-84 lon/lat, 6 decimals ≈ 0.1 m).

    Features of one kind are built from whole numpy columns, each converted to Python lists once: the
    evidence is built for every waybill verified, so per-row pandas access would dominate its cost.
    """

    def __init__(self) -> None:
        self.features: list[dict] = []

    def _add(self, geom_type: str, coords, **props) -> None:
        self.features.append(
            {"type": "Feature", "geometry": {"type": geom_type, "coordinates": coords}, "properties": props}
        )

    def tracks(self, tracks: dict[str, BuiltTrajectory], *, with_track: bool = True) -> None:
        for name, b in tracks.items():
            if b.stats.n_fixes == 0:
                continue
            if not with_track:  # the removed fixes only (see verify's track_features)
                self._removed(name, b.clean_report)
                continue
            f = b.fixes
            t_us = K.times_us(f[T])
            coords = _pts(f[LON].to_numpy(), f[LAT].to_numpy())
            start, end = _isos(t_us[[0, -1]])
            props = {
                "kind": "track",
                "source": name,
                "n_fixes": len(f),
                "start": start,
                "end": end,
                # Epoch seconds per vertex, so a map can animate the track (deck.gl TripsLayer style).
                "times_s": (t_us // 1_000_000).tolist(),
            }
            if len(coords) == 1:
                self._add("Point", coords[0], **props)
            else:
                self._add("LineString", coords, **props)
            self._removed(name, b.clean_report)

    def _removed(self, name: str, report: CleanReport) -> None:
        # The spikes and jumps, from the input's arrays: the ``removed`` frame is not built for the evidence.
        if report.spikes + report.jumps == 0:
            return
        idx, reasons = report.outliers(_MAX_EVIDENCE)
        f = report.fixes
        points = _pts(f[LON].to_numpy(dtype=np.float64)[idx], f[LAT].to_numpy(dtype=np.float64)[idx])
        times = _isos(K.times_us(f[T])[idx])
        for point, why, t in zip(points, reasons, times):
            self._add("Point", point, kind="removed_fix", source=name, reason=str(why), t=t)

    def place(self, place: Place, role: str, radius_m: float) -> None:
        self._add(
            "Point", _pt(place.lon, place.lat), kind="place", role=role, radius_m=radius_m, outline=place.outline,
            from_coordinates=place.from_coordinates, division_code=place.division_code,
        )  # fmt: skip

    def matched_fix(self, role, source, t_s, lon, lat, dist, inside) -> None:
        self._add(
            "Point", _pt(lon, lat), kind="matched_fix", role=role, source=source, t=_iso(t_s),
            distance_m=_r(dist), within_radius=bool(inside),
        )  # fmt: skip

    def gaps(self, name: str, b: BuiltTrajectory) -> None:
        if b.gap_steps.size == 0:  # the common case: no frame built
            return
        g = b.gaps.head(_MAX_EVIDENCE)
        starts = _pts(g["start_lon"].to_numpy(), g["start_lat"].to_numpy())
        ends = _pts(g["end_lon"].to_numpy(), g["end_lat"].to_numpy())
        t0, t1 = _isos(K.times_us(g["start"], name="start")), _isos(K.times_us(g["end"], name="end"))
        durations = g["duration_s"].to_numpy(dtype=np.float64).tolist()
        for a, z, start, end, d in zip(starts, ends, t0, t1, durations):
            self._add("LineString", [a, z], kind="gap", source=name, start=start, end=end, duration_s=_r(d))

    def speed_segments(self, name: str, f: pd.DataFrame, over: np.ndarray) -> None:
        k = np.asarray(over[:_MAX_EVIDENCE], dtype=np.int64)
        lon, lat = f[LON].to_numpy(dtype=np.float64), f[LAT].to_numpy(dtype=np.float64)
        t_us = K.times_us(f[T])
        a, z = _pts(lon[k - 1], lat[k - 1]), _pts(lon[k], lat[k])
        t0, t1 = _isos(t_us[k - 1]), _isos(t_us[k])
        speed = f[SPEED_KMH].to_numpy(dtype=np.float64)[k].tolist()
        dist = f[DISTANCE_M].to_numpy(dtype=np.float64)[k].tolist()
        for p, q, start, end, v, d in zip(a, z, t0, t1, speed, dist):
            self._add(
                "LineString", [p, q], kind="speed_segment", rule="TRACK_IMPOSSIBLE_SPEED", source=name,
                start=start, end=end, speed_kmh=_r(v), distance_m=_r(d),
            )  # fmt: skip

    def conflict_segments(self, probe: _TrackArrays, idx, ref_lon, ref_lat, dist) -> None:
        k = np.asarray(idx[:_MAX_EVIDENCE], dtype=np.int64)
        a = _pts(probe.lon[k], probe.lat[k])
        z = _pts(ref_lon[:_MAX_EVIDENCE], ref_lat[:_MAX_EVIDENCE])
        times = _isos(np.round(probe.t_s[k] * 1e6).astype(np.int64))
        for p, q, t, d in zip(a, z, times, np.asarray(dist[:_MAX_EVIDENCE], dtype=np.float64).tolist()):
            self._add(
                "LineString", [p, q], kind="conflict_segment", rule="TRACK_SOURCE_CONFLICT", t=t, distance_m=_r(d),
            )  # fmt: skip

    def collection(self) -> dict[str, Any]:
        return {"type": "FeatureCollection", "features": self.features}
