"""Cross-waybill trajectory rules: ``TRACK_DUPLICATED`` and ``TRACK_VEHICLE_OVERLAP`` (spec/RULES.md §1).

``TRACK_DUPLICATED`` — the same track (shape and timing, possibly shifted by minutes, hours or days, thinned, with
fresh noise) reported for another vehicle, of the same or another platform. Only the app fixes of each item's own
transport period [despatch, receipt] from its own operator are compared (the margins hold the vehicle's previous
and next trips, spec/RULES.md §2). Comparing every pair of trajectories is quadratic, so candidates come from
signatures: each trajectory's set of H3 res-8 cells; two trajectories of different vehicles that share most of
their cells are candidates (a hash join on the cells, crowded cells left out). The time shift is estimated from the
shared cells (median difference of the times each track spends in them), then refined and confirmed point to
point on the sparser track's own sampling: its fixes at the same shifted time as the other's, counted per place
so that a vehicle at rest does not weigh more than one on the move, and with matches at :data:`MIN_MATCHED_PLACES`
distinct places as the minimum evidence, dense or sparse. The copy is the item reported later (the waybill's sendToPro time); it is flagged and
cites its source. The source is not flagged, unless its own BeiDou track contradicts its app track.

``TRACK_VEHICLE_OVERLAP`` — one vehicle on two waybills whose windows overlap by more than a tolerance and
whose routes differ (loading or unloading points more than 10 km apart): one SQL self-join on the plate index.
The item whose places the vehicle's own fixes do not visit is the one flagged (both when that cannot decide).

Both write anomalies like :mod:`trajectories.verification` (document ``waybill:{id}:{seq}``) and read an item's
fixes in the same window (:func:`trajectories.fixes.window`).
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.beijing import day_bounds
from geo.distance import haversine_m
from geo.hexes import parent_cells
from store.anomalies import record
from store.models import WaybillVehicle
from trajectories.fixes import COORDINATE_RADIUS_M, WINDOW_PAD, fixes_for_item, places_for_item
from trajectories.verification import document_key
from trajectories.verify import place_distance_m

__all__ = [
    "DuplicatedTrack",
    "VehicleOverlap",
    "compare_items",
    "confirm_pairs",
    "crosscheck_range",
    "find_duplicated_tracks",
    "find_vehicle_overlaps",
    "find_vehicle_overlaps_for_items",
    "items_by_id",
    "record_findings",
]

@dataclass
class DuplicatedTrack:
    """A confirmed pair: ``item`` reports (a copy of) ``other``'s track, ``shift_s`` later."""

    waybill_id: int
    seq: int
    operator_id: int | None
    other_waybill_id: int
    other_seq: int
    other_vehicle: str
    shift_s: float
    median_distance_m: float
    matched_share: float
    overlap_s: float
    compared_fixes: int = 0
    matched_places: int = 0
    code: str = field(default="TRACK_DUPLICATED", init=False)

    def reasons(self) -> tuple[str, str]:
        mins = abs(self.shift_s) / 60
        zh = (f"轨迹与车辆{self.other_vehicle}（运单{self.other_waybill_id}）的轨迹相同，时间平移{mins:.0f}分钟，"
              f"{self.matched_share:.0%}的定位点相距中位数{self.median_distance_m:.0f}米")
        en = (f"track matches vehicle {self.other_vehicle}'s (waybill {self.other_waybill_id}) shifted by "
              f"{mins:.0f} min: {self.matched_share:.0%} of fixes match, median distance "
              f"{self.median_distance_m:.0f} m")
        return zh, en

    def evidence(self) -> dict[str, Any]:
        return {"otherWaybillId": self.other_waybill_id, "otherSeq": self.other_seq,
                "otherVehicle": self.other_vehicle, "shiftS": self.shift_s,
                "medianDistanceM": round(self.median_distance_m, 1), "matchedShare": round(self.matched_share, 3),
                "overlapS": self.overlap_s, "comparedFixes": self.compared_fixes,
                "matchedPlaces": self.matched_places}


@dataclass
class VehicleOverlap:
    """``item``'s vehicle is on ``other`` at the same time, on a different route."""

    waybill_id: int
    seq: int
    operator_id: int | None
    other_waybill_id: int
    other_seq: int
    vehicle: str
    overlap_s: float
    loading_apart_m: float
    unloading_apart_m: float
    route_supported: bool | None
    code: str = field(default="TRACK_VEHICLE_OVERLAP", init=False)

    def reasons(self) -> tuple[str, str]:
        h = self.overlap_s / 3600
        zh = (f"车辆{self.vehicle}同时承运运单{self.other_waybill_id}，时间重叠{h:.1f}小时，"
              f"装货地相距{self.loading_apart_m / 1000:.0f}公里、卸货地相距{self.unloading_apart_m / 1000:.0f}公里")
        en = (f"vehicle {self.vehicle} is also on waybill {self.other_waybill_id} for {h:.1f} h of the same time; "
              f"loading places {self.loading_apart_m / 1000:.0f} km and unloading places "
              f"{self.unloading_apart_m / 1000:.0f} km apart")
        return zh, en

    def evidence(self) -> dict[str, Any]:
        return {"otherWaybillId": self.other_waybill_id, "otherSeq": self.other_seq, "overlapS": self.overlap_s,
                "loadingApartM": round(self.loading_apart_m), "unloadingApartM": round(self.unloading_apart_m),
                "routeSupportedByFixes": self.route_supported}


# --- TRACK_DUPLICATED -----------------------------------------------------------------------------------------

#: Candidates (a cheap filter on the H3 signatures): at least this many shared cells (one shared cell says nothing
#: about a shape) and this share of the smaller signature. A short sparse app track — a fix every 12 min — crosses
#: only 3-5 res-8 cells, so a fixed larger count would never let its copy through; long tracks still need half of
#: their cells shared.
MIN_SHARED_CELLS = 2
MIN_SHARED_SHARE = 0.5
#: Cells crossed by more trajectories than this are a depot, a toll gate or a motorway, not evidence of copying.
HUB_LIMIT = 200
#: Confirmation, measured on the sparser track's own fixes after aligning the time shift: a fix matches when the
#: other track, interpolated at the same shifted time, is within MATCH_M (copy noise plus interpolation between
#: the source's fixes); MIN_MATCHED_SHARE of the compared fixes must match, with a median distance of at most
#: MAX_MEDIAN_M.
MATCH_M = 50.0
MIN_MATCHED_SHARE = 0.8
MAX_MEDIAN_M = 30.0
#: Minimum evidence, in distinct places rather than fixes or cells so that it means the same for a dense and a
#: sparse track: the matched fixes must lie at this many places PLACE_M apart (a vehicle at rest sends many fixes
#: from one place, and they would match any track parked there at that time). The shift is fitted on one place;
#: each further one checks that the other vehicle was there at the same shifted time — at 60 km/h, 50 m is 3 s,
#: which two genuine trips on the same road do not keep over minutes of driving. Three such checks, of which the
#: loading and unloading places (where both may wait a while) can be at most two.
MIN_MATCHED_PLACES = 4
PLACE_M = 250.0
#: Grid (s) of the coarse shift search (:func:`_best_shift`).
COARSE_S = 10.0

_ITEMS_SQL = text(
    """
    SELECT wv.id AS item_id, wv.waybill_id, wv.seq, wv.vehicle_number, wv.plate_color, w.operator_id,
           wv.despatch_at, wv.receipt_at, w.send_to_pro_at
    FROM waybill_vehicle wv JOIN waybill w ON w.id = wv.waybill_id
    WHERE NOT w.is_sandbox AND wv.despatch_at - :pad < :hi AND wv.receipt_at + :pad > :lo
    """
)
_ITEMS_BY_ID_SQL = text(
    """
    SELECT wv.id AS item_id, wv.waybill_id, wv.seq, wv.vehicle_number, wv.plate_color, w.operator_id,
           wv.despatch_at, wv.receipt_at, w.send_to_pro_at
    FROM waybill_vehicle wv JOIN waybill w ON w.id = wv.waybill_id
    WHERE wv.id = ANY(:ids) AND NOT w.is_sandbox
    """
)
_ITEM_COLUMNS = ["item_id", "waybill_id", "seq", "vehicle_number", "plate_color", "operator_id", "despatch_at",
                 "receipt_at", "send_to_pro_at"]
# Run on the driver cursor (psycopg placeholders), as trajectories.fixes reads fixes: plain tuples, no SQLAlchemy
# Row per fix (a day's copy check reads the app fixes of every item within reach).
_ITEM_FIXES_SQL = (
    """
    WITH items AS (
        SELECT * FROM unnest(CAST(%(ids)s AS bigint[]), CAST(%(plates)s AS text[]), CAST(%(colors)s AS text[]),
                             CAST(%(t0)s AS timestamptz[]), CAST(%(t1)s AS timestamptz[]), CAST(%(ops)s AS bigint[]))
                      AS i(item_id, vn, pc, t0, t1, op)
    )
    SELECT i.item_id, date_part('epoch', p.t) AS t_s, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat, p.h3
    FROM items i JOIN position p
      ON p.vehicle_number = i.vn AND p.plate_color = i.pc AND p.source = %(source)s
     AND p.t BETWEEN i.t0 AND i.t1 AND (p.source <> 1 OR p.operator_id = i.op)
    WHERE p.t BETWEEN %(lo)s AND %(hi)s
    ORDER BY i.item_id, p.t
    """
)


def _items_frame(session: Session, lo: dt.datetime, hi: dt.datetime) -> pd.DataFrame:
    rows = session.execute(_ITEMS_SQL, {"lo": lo, "hi": hi, "pad": WINDOW_PAD}).all()
    return pd.DataFrame(rows, columns=_ITEM_COLUMNS)


def items_by_id(session: Session, item_ids) -> pd.DataFrame:
    """The given waybill items (sandbox ones left out), in the columns of :func:`_items_frame`."""
    ids = [int(i) for i in item_ids]
    rows = session.execute(_ITEMS_BY_ID_SQL, {"ids": ids}).all() if ids else []
    return pd.DataFrame(rows, columns=_ITEM_COLUMNS)


def _fixes_frame(session: Session, items: pd.DataFrame, source: int) -> pd.DataFrame:
    """Each item's fixes of ``source`` in its transport period (app fixes: the item's operator's only)."""
    cols = ["item_id", "t_s", "lon", "lat", "h3"]
    if items.empty:
        return pd.DataFrame(columns=cols)
    t0 = items["despatch_at"].tolist()
    t1 = items["receipt_at"].tolist()
    with session.connection().connection.driver_connection.cursor() as cur:
        rows = cur.execute(_ITEM_FIXES_SQL, {
            "ids": [int(v) for v in items["item_id"].tolist()], "plates": items["vehicle_number"].tolist(),
            "colors": items["plate_color"].tolist(), "t0": t0, "t1": t1, "source": source,
            "ops": [_int_or_none(v) for v in items["operator_id"].tolist()],
            "lo": min(t0), "hi": max(t1),
        }).fetchall()
    if not rows:
        return pd.DataFrame(columns=cols)
    # Column by column (as trajectories.fixes.signed_app_fixes): DataFrame(rows) probes every row and was ~15 % of
    # a back-fill's client time. The dtypes are the ones DataFrame(rows) infers when no cell is missing.
    item_id, t_s, lon, lat, h3 = ([r[k] for r in rows] for k in range(5))
    if None in h3:  # a fix without a cell: the generic construction (float h3 with NaN) handles it
        return pd.DataFrame(rows, columns=cols)
    return pd.DataFrame({"item_id": np.asarray(item_id, dtype=np.int64), "t_s": np.asarray(t_s, dtype=np.float64),
                         "lon": np.asarray(lon, dtype=np.float64), "lat": np.asarray(lat, dtype=np.float64),
                         "h3": np.asarray(h3, dtype=np.int64)})


def _signatures(fixes: pd.DataFrame, *, res: int) -> pd.DataFrame:
    """Per item and H3 cell (resolution ``res``): the mean time the item's fixes spend in it."""
    sig = pd.DataFrame({
        "item_id": fixes["item_id"].to_numpy(),
        "cell": parent_cells(fixes["h3"].to_numpy(dtype=np.int64), res),
        "t_s": fixes["t_s"].to_numpy(dtype=np.float64),
    })
    sig = sig.loc[sig["cell"] > 0]
    return sig.groupby(["item_id", "cell"], as_index=False, sort=False)["t_s"].mean()


def _candidates(sig: pd.DataFrame, items: pd.DataFrame, *, min_shared_cells: int, min_shared_share: float,
                hub_limit: int) -> pd.DataFrame:
    """Pairs (a, b), a < b, of different vehicles sharing most of their cells, with the estimated shift of b
    relative to a (``shift_s``: median over the shared cells of a's time there minus b's)."""
    # A cell crossed by very many trajectories is a depot, a toll gate or a motorway, not evidence of copying.
    crowd = sig.groupby("cell")["item_id"].transform("size")
    n_cells = sig.groupby("item_id")["cell"].size()
    sig = sig.loc[crowd <= hub_limit]
    pairs = sig.merge(sig, on="cell", suffixes=("_a", "_b"))
    pairs = pairs.loc[pairs["item_id_a"] < pairs["item_id_b"]]
    pairs = pairs.assign(d=pairs["t_s_a"] - pairs["t_s_b"])
    shared = pairs.groupby(["item_id_a", "item_id_b"]).agg(shared=("cell", "size"), shift_s=("d", "median"))
    shared = shared.reset_index()
    shared["share"] = shared["shared"] / np.minimum(n_cells.reindex(shared["item_id_a"]).to_numpy(),
                                                    n_cells.reindex(shared["item_id_b"]).to_numpy())
    plate = items.set_index("item_id")["vehicle_number"] + "/" + items.set_index("item_id")["plate_color"]
    different = plate.reindex(shared["item_id_a"]).to_numpy() != plate.reindex(shared["item_id_b"]).to_numpy()
    keep = different & (shared["shared"] >= min_shared_cells) & (shared["share"] >= min_shared_share)
    return shared.loc[keep].reset_index(drop=True)


def _interp(t_b: np.ndarray, x_b: np.ndarray, t_query: np.ndarray, max_step_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation of b at t_query; invalid outside b's range or across a step longer than max_step_s.

    Both ends are inside: a thinned copy keeps its source's first and last fixes as often as any other.
    """
    j = np.searchsorted(t_b, t_query, side="right")
    inside = (t_query >= t_b[0]) & (t_query <= t_b[-1]) if t_b.size else np.zeros(np.shape(t_query), dtype=bool)
    j = np.clip(j, 1, max(t_b.size - 1, 1))
    ta, tb = t_b[j - 1], t_b[j]
    step = tb - ta
    valid = inside & (step <= max_step_s)
    w = np.where(step > 0, (t_query - ta) / np.where(step > 0, step, 1), 0.0)
    return x_b[j - 1] + w * (x_b[j] - x_b[j - 1]), valid


def _best_shift(a: pd.DataFrame, b: pd.DataFrame, *, max_shift_s: float, match_m: float,
                max_step_s: float, around_s: float = 0.0, place_m: float = PLACE_M) -> dict[str, float] | None:
    """Shift s (within ``around_s`` ± ``max_shift_s``) that best lays a(t) on b(t − s); None when they never
    overlap.

    Measured on a's own sampling, one place at a time: a's fixes are grouped into places (:func:`_places`) and
    each place weighs the same however many fixes a sent from it, so ``matched`` is the share of a's places (not
    fixes) that lie within ``match_m`` of b at the same shifted time and ``places`` how many did. A dense track
    standing most of the period would otherwise match any track parked at the same spot on its fixes alone.
    """
    t_a, t_b = a["t_s"].to_numpy(), b["t_s"].to_numpy()
    if t_a.size < 2 or t_b.size < 2:
        return None
    lon_a, lat_a, lon_b, lat_b = (a["lon"].to_numpy(), a["lat"].to_numpy(), b["lon"].to_numpy(),
                                  b["lat"].to_numpy())
    place = _places(lon_a, lat_a, place_m)
    weight = 1.0 / np.bincount(place)[place]

    def score(shifts: np.ndarray, tol_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        q = t_a[None, :] - shifts[:, None]
        x, valid = _interp(t_b, lon_b, q.ravel(), max_step_s)
        y, _ = _interp(t_b, lat_b, q.ravel(), max_step_s)
        d = haversine_m(np.broadcast_to(lon_a, q.shape).ravel(), np.broadcast_to(lat_a, q.shape).ravel(), x, y)
        d = np.where(valid, d, np.nan).reshape(q.shape)
        n_valid = np.sum(np.isfinite(d), axis=1)
        with np.errstate(all="ignore"):
            matched = np.sum(weight * (d <= tol_m), axis=1) / np.maximum(
                np.sum(weight * np.isfinite(d), axis=1), 1e-9)
        return d, n_valid, matched

    # Coarse search every COARSE_S seconds: the true shift is up to COARSE_S / 2 off the grid, up to 170 m at
    # 120 km/h, so the coarse pass matches within 3 × match_m (with match_m itself, a moving copy matches at no
    # grid shift and the waits alone would choose); then every second around the best, within match_m.
    coarse = np.round(around_s) + np.arange(-max_shift_s, max_shift_s + 1, COARSE_S)
    _, n_valid, matched = score(coarse, 3 * match_m)
    if n_valid.max() == 0:
        return None
    s0 = coarse[np.argmax(matched * (n_valid >= 0.5 * n_valid.max()))]
    fine = np.arange(s0 - COARSE_S, s0 + COARSE_S + 1, 1.0)
    d, n_valid, matched = score(fine, match_m)
    # Several shifts a second or two apart match every fix within match_m: the true one is the closest fit
    # (a 2 s error is 30 m at 60 km/h, as much as the whole median allowance), so ties go to the least median.
    with warnings.catch_warnings():  # rows without a valid fix: all-NaN medians, ranked last
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.where(n_valid > 0, np.nanmedian(np.where(np.isfinite(d), d, np.nan), axis=1), np.inf)
    best = matched + n_valid / (n_valid.max() + 1) * 1e-3
    top = np.flatnonzero(best >= best.max() - 1e-12)
    k = int(top[np.argmin(median[top])])
    row = d[k][np.isfinite(d[k])]
    if row.size == 0:
        return None
    overlap = min(t_a[-1], t_b[-1] + fine[k]) - max(t_a[0], t_b[0] + fine[k])
    hit = np.isfinite(d[k]) & (d[k] <= match_m)
    return {"shift_s": float(fine[k]), "median_m": float(np.median(row)), "matched": float(matched[k]),
            "n_valid": int(n_valid[k]), "n_a": int(t_a.size), "overlap_s": float(max(overlap, 0.0)),
            "places": int(np.unique(place[hit]).size)}


def _places(lon: np.ndarray, lat: np.ndarray, apart_m: float) -> np.ndarray:
    """Place number of each fix (in time order): a new place starts at the first fix more than ``apart_m`` from
    where the current one started, so a vehicle at rest reports one place however many fixes it sends.

    >>> _places(np.array([117.0, 117.0, 117.01, 117.01, 117.02, 117.0]), np.full(6, 31.0), 250.0).tolist()
    [0, 0, 1, 1, 2, 3]
    """
    out = np.zeros(lon.size, dtype=np.int64)
    n, x0, y0 = -1, np.nan, np.nan
    for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist())):
        if n < 0 or haversine_m(x0, y0, x, y) > apart_m:
            n, x0, y0 = n + 1, x, y
        out[i] = n
    return out


def _beidou_median_m(beidou: pd.DataFrame | None, app: pd.DataFrame) -> float | None:
    """Median distance between the app fixes and the vehicle's own BeiDou track at the same times (None when
    BeiDou does not cover at least half of the app fixes)."""
    if beidou is None or len(beidou) < 2 or len(app) < 2:
        return None
    x, valid = _interp(beidou["t_s"].to_numpy(), beidou["lon"].to_numpy(), app["t_s"].to_numpy(), 1800.0)
    y, _ = _interp(beidou["t_s"].to_numpy(), beidou["lat"].to_numpy(), app["t_s"].to_numpy(), 1800.0)
    if valid.sum() < 0.5 * len(app):
        return None
    return float(np.median(haversine_m(app["lon"].to_numpy()[valid], app["lat"].to_numpy()[valid], x[valid],
                                       y[valid])))


def _corroborated(beidou: pd.DataFrame | None, app: pd.DataFrame, *, agree_m: float = 500.0) -> bool:
    """True when the vehicle's own BeiDou track agrees with its app track (median distance at the same times)."""
    d = _beidou_median_m(beidou, app)
    return d is not None and d <= agree_m


def _contradicted(beidou: pd.DataFrame | None, app: pd.DataFrame, *, apart_m: float = 2000.0) -> bool:
    """True when the vehicle's own BeiDou track puts it elsewhere than its app track says."""
    d = _beidou_median_m(beidou, app)
    return d is not None and d > apart_m


def find_duplicated_tracks(
    session: Session,
    date_from: dt.date,
    date_to: dt.date,
    *,
    res: int = 8,
    max_shift_s: float = 1800.0,
    reach_days: int = 7,
    min_shared_cells: int = MIN_SHARED_CELLS,
    min_shared_share: float = MIN_SHARED_SHARE,
    match_m: float = MATCH_M,
    min_matched_share: float = MIN_MATCHED_SHARE,
    max_median_m: float = MAX_MEDIAN_M,
    min_matched_places: int = MIN_MATCHED_PLACES,
    hub_limit: int = HUB_LIMIT,
) -> list[DuplicatedTrack]:
    """Find app tracks reported for two vehicles, for waybill items despatched from ``date_from`` to ``date_to``.

    Parameters
    ----------
    session : Session
    date_from, date_to : date
        Beijing days, both included; partners may lie outside the range (the windows are extended).
    res : int
        Signature: H3 resolution.
    max_shift_s : float
        Search half-width (s) around the shift estimated from the shared cells.
    reach_days : int
        A copy may be shifted by up to this many days: items this far outside the range are compared too.
    min_shared_cells, min_shared_share : int, float
        Candidate pair: this many distinct shared cells, and this share of the smaller signature (a cheap filter:
        a short sparse track crosses only a few cells, and the confirmation decides).
    match_m, min_matched_share, max_median_m, min_matched_places : float
        Confirmation after the best shift: at least ``min_matched_share`` of the overlapping fixes within
        ``match_m`` metres of the other track at the same (shifted) time, a median distance of at most
        ``max_median_m``, and matched fixes at ``min_matched_places`` distinct places (:data:`MIN_MATCHED_PLACES`).
    hub_limit : int
        Cells shared by more trajectories than this are ignored (depots, toll gates, motorways).

    Returns
    -------
    list of DuplicatedTrack
        One per flagged item: the copy (the item reported later), citing its source; the source as well only
        when its own BeiDou track contradicts its app track; only the source when the later item's BeiDou
        backs it and the earlier's contradicts it.
    """
    lo, hi = day_bounds(date_from, date_to)
    reach = WINDOW_PAD + dt.timedelta(days=reach_days)
    items = _items_frame(session, lo - reach, hi + reach)
    if items.empty:
        return []
    despatch = pd.to_datetime(items["despatch_at"], utc=True)
    in_range = set(items.loc[(despatch >= lo) & (despatch < hi), "item_id"])
    app = _fixes_frame(session, items, 1)
    if app.empty:
        return []
    sig = _signatures(app, res=res)
    cand = _candidates(sig, items, min_shared_cells=min_shared_cells, min_shared_share=min_shared_share,
                       hub_limit=hub_limit)
    cand = cand.loc[cand["item_id_a"].isin(in_range) | cand["item_id_b"].isin(in_range)]
    if cand.empty:
        return []
    by_item = dict(tuple(app.groupby("item_id")))
    need = sorted(set(cand["item_id_a"]) | set(cand["item_id_b"]))
    beidou = dict(tuple(_fixes_frame(session, items.loc[items["item_id"].isin(need)], 2).groupby("item_id")))
    return confirm_pairs(cand, items, by_item, beidou, max_shift_s=max_shift_s, match_m=match_m,
                         min_matched_share=min_matched_share, max_median_m=max_median_m,
                         min_matched_places=min_matched_places)


def compare_items(session: Session, item_id: int, other_id: int) -> dict[str, Any]:
    """The numbers the rule compares for one pair of items (diagnostics: why a pair is or is not a copy).

    Shared cells and share of the smaller signature (the candidate filter), then the best shift's matched share,
    median distance, compared fixes and matched places (the confirmation), as :func:`confirm_pairs` sees them.
    """
    items = items_by_id(session, [item_id, other_id])
    app = _fixes_frame(session, items, 1)
    by_item = dict(tuple(app.groupby("item_id")))
    a, b = by_item.get(item_id), by_item.get(other_id)
    out: dict[str, Any] = {"fixes": [0 if a is None else len(a), 0 if b is None else len(b)]}
    if a is None or b is None:
        return out
    sig = _signatures(app, res=8)
    cells = sig.groupby("item_id")["cell"].apply(set)
    shared = len(cells[item_id] & cells[other_id])
    out.update(sharedCells=shared, sharedShare=round(shared / min(len(cells[item_id]), len(cells[other_id])), 3))
    s_a, s_b = sig.loc[sig["item_id"] == item_id], sig.loc[sig["item_id"] == other_id]
    pairs = s_a.merge(s_b, on="cell")
    est = float(np.median(pairs["t_s_x"] - pairs["t_s_y"])) if len(pairs) else 0.0
    probe, other, sign = (a, b, 1.0) if len(a) <= len(b) else (b, a, -1.0)
    m = _best_shift(probe, other, max_shift_s=1800.0, match_m=MATCH_M, max_step_s=900.0, around_s=sign * est)
    if m is not None:
        out.update(shiftS=sign * m["shift_s"], matchedShare=round(m["matched"], 3), medianM=round(m["median_m"], 1),
                   comparedFixes=m["n_valid"], matchedPlaces=m["places"])
    return out


def confirm_pairs(cand: pd.DataFrame, items: pd.DataFrame, by_item: dict, beidou: dict, *, max_shift_s: float = 1800.0,
                  match_m: float = MATCH_M, min_matched_share: float = MIN_MATCHED_SHARE,
                  max_median_m: float = MAX_MEDIAN_M,
                  min_matched_places: int = MIN_MATCHED_PLACES) -> list[DuplicatedTrack]:
    """Confirm candidate pairs (``item_id_a, item_id_b, shift_s``) point to point and pick the copy of each.

    Shared by the back-fill (:func:`find_duplicated_tracks`) and the live check (:mod:`trajectories.signatures`):
    ``items`` as :func:`_items_frame`, ``by_item`` / ``beidou`` each item's app / BeiDou fixes of its transport
    period (``t_s, lon, lat``). See :func:`find_duplicated_tracks` for the thresholds.
    """
    info = items.drop_duplicates("item_id").set_index("item_id")
    found: list[DuplicatedTrack] = []
    reported = info["send_to_pro_at"]
    for a_id, b_id, est in zip(cand["item_id_a"].tolist(), cand["item_id_b"].tolist(), cand["shift_s"].tolist()):
        a, b = by_item[a_id], by_item[b_id]
        # Probe with the sparser track: each of a copy's (thinned) fixes lies on its source.
        if len(a) <= len(b):
            m = _best_shift(a, b, max_shift_s=max_shift_s, match_m=match_m, max_step_s=900.0, around_s=est)
        else:
            m = _best_shift(b, a, max_shift_s=max_shift_s, match_m=match_m, max_step_s=900.0, around_s=-est)
            if m is not None:
                m["shift_s"] = -m["shift_s"]
        if (m is None or m["matched"] < min_matched_share or m["median_m"] > max_median_m
                or m["places"] < min_matched_places):
            continue
        flagged = _pick_copy(a_id, b_id, by_item, beidou, reported)
        for item_id in flagged:
            other = b_id if item_id == a_id else a_id
            me, them = info.loc[item_id], info.loc[other]
            shift = m["shift_s"] if item_id == a_id else -m["shift_s"]
            found.append(DuplicatedTrack(
                waybill_id=int(me["waybill_id"]), seq=int(me["seq"]), operator_id=_int_or_none(me["operator_id"]),
                other_waybill_id=int(them["waybill_id"]), other_seq=int(them["seq"]),
                other_vehicle=str(them["vehicle_number"]), shift_s=shift, median_distance_m=m["median_m"],
                matched_share=m["matched"], overlap_s=m["overlap_s"], compared_fixes=m["n_valid"],
                matched_places=m["places"]))
    return found


def _pick_copy(a_id: int, b_id: int, app: dict, beidou: dict, reported: pd.Series) -> list[int]:
    """The copy is the item reported later (then the higher id); see :func:`find_duplicated_tracks`."""
    ra, rb = reported.get(a_id), reported.get(b_id)
    if pd.isna(ra) or pd.isna(rb) or ra == rb:
        later, earlier = max(a_id, b_id), min(a_id, b_id)
    else:
        later, earlier = (a_id, b_id) if ra > rb else (b_id, a_id)
    earlier_contradicted = _contradicted(beidou.get(earlier), app[earlier])
    if earlier_contradicted and _corroborated(beidou.get(later), app[later]):
        return [earlier]
    return [later, earlier] if earlier_contradicted else [later]


def _int_or_none(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


# --- TRACK_VEHICLE_OVERLAP ------------------------------------------------------------------------------------

#: One vehicle's two items whose transport periods overlap by more than the tolerance and whose routes differ; the
#: two queries below choose the first items (a date range for back-fills, given items for the live check).
_OVERLAP_PAIRS = """
    SELECT a.id AS a_id, a.waybill_id AS a_wid, a.seq AS a_seq, wa.operator_id AS a_op,
           b.id AS b_id, b.waybill_id AS b_wid, b.seq AS b_seq, wb.operator_id AS b_op, a.vehicle_number,
           extract(epoch FROM least(a.receipt_at, b.receipt_at) - greatest(a.despatch_at, b.despatch_at))
               AS overlap_s,
           ST_DistanceSphere(a.loading_geom, b.loading_geom) AS loading_apart_m,
           ST_DistanceSphere(a.receipt_geom, b.receipt_geom) AS unloading_apart_m
    FROM waybill_vehicle a
    JOIN waybill_vehicle b ON b.vehicle_number = a.vehicle_number AND b.plate_color = a.plate_color
                          AND b.id <> a.id AND b.waybill_id <> a.waybill_id
    JOIN waybill wa ON wa.id = a.waybill_id
    JOIN waybill wb ON wb.id = b.waybill_id
    WHERE NOT wa.is_sandbox AND NOT wb.is_sandbox
      AND least(a.receipt_at, b.receipt_at) - greatest(a.despatch_at, b.despatch_at) > make_interval(secs => :tol_s)
      AND (ST_DistanceSphere(a.loading_geom, b.loading_geom) > :apart_m
           OR ST_DistanceSphere(a.receipt_geom, b.receipt_geom) > :apart_m)
"""
_OVERLAP_SQL = text(_OVERLAP_PAIRS + """
      AND a.despatch_at >= :lo AND a.despatch_at < :hi
      AND (b.despatch_at > a.despatch_at OR (b.despatch_at = a.despatch_at AND b.id > a.id)
           OR b.despatch_at < :lo)
""")
_ITEM_OVERLAP_SQL = text(_OVERLAP_PAIRS + """
      AND a.id = ANY(:ids) AND NOT (b.id = ANY(:ids) AND b.id < a.id)
""")


def find_vehicle_overlaps(
    session: Session,
    date_from: dt.date,
    date_to: dt.date,
    *,
    tolerance: dt.timedelta = dt.timedelta(minutes=10),
    different_route_m: float = 10_000.0,
) -> list[VehicleOverlap]:
    """Find vehicles on two waybills at once with different routes (items despatched in the range).

    Parameters
    ----------
    session : Session
    date_from, date_to : date
        Beijing days, both included (an item despatched in the range is compared with any other).
    tolerance : timedelta
        Overlaps up to this long are ignored (back-to-back trips with sloppy times).
    different_route_m : float
        Routes differ when the loading or the unloading points are further apart than this.

    Returns
    -------
    list of VehicleOverlap
        One per flagged item: the item whose places the vehicle's fixes do not visit; both when the fixes
        back both or neither.
    """
    lo, hi = day_bounds(date_from, date_to)
    rows = session.execute(_OVERLAP_SQL, {"lo": lo, "hi": hi, "tol_s": tolerance.total_seconds(),
                                          "apart_m": different_route_m}).all()
    return _overlap_findings(session, rows)


def find_vehicle_overlaps_for_items(
    session: Session,
    item_ids: list[int],
    *,
    tolerance: dt.timedelta = dt.timedelta(minutes=10),
    different_route_m: float = 10_000.0,
) -> list[VehicleOverlap]:
    """:func:`find_vehicle_overlaps` for the given waybill items against every other (the live check)."""
    if not item_ids:
        return []
    rows = session.execute(_ITEM_OVERLAP_SQL, {"ids": list(item_ids), "tol_s": tolerance.total_seconds(),
                                               "apart_m": different_route_m}).all()
    return _overlap_findings(session, rows)


def _overlap_findings(session: Session, rows) -> list[VehicleOverlap]:
    found: list[VehicleOverlap] = []
    support: dict[int, bool] = {}
    for r in rows:
        for item_id in (r.a_id, r.b_id):
            if item_id not in support:
                support[item_id] = _route_supported(session, session.get(WaybillVehicle, item_id), fixes_for_item)
        sa, sb = support[r.a_id], support[r.b_id]
        sides = ["a"] if (sb and not sa) else ["b"] if (sa and not sb) else ["a", "b"]
        for me in sides:
            other = "b" if me == "a" else "a"
            found.append(VehicleOverlap(
                waybill_id=getattr(r, f"{me}_wid"), seq=getattr(r, f"{me}_seq"),
                operator_id=getattr(r, f"{me}_op"), other_waybill_id=getattr(r, f"{other}_wid"),
                other_seq=getattr(r, f"{other}_seq"), vehicle=r.vehicle_number, overlap_s=float(r.overlap_s),
                loading_apart_m=float(r.loading_apart_m or 0.0), unloading_apart_m=float(r.unloading_apart_m or 0.0),
                route_supported=support[getattr(r, f"{me}_id")]))
    return found


def _route_supported(session: Session, item, fixes_for_item) -> bool:
    """The vehicle's fixes (any source) pass the loading place near despatch and the unloading place near receipt."""
    fixes = pd.concat([f for f in fixes_for_item(session, item).values() if len(f)] or [pd.DataFrame(
        columns=["t", "lon", "lat"])])
    if fixes.empty:
        return False
    loading, unloading = places_for_item(session, item)
    t = pd.to_datetime(fixes["t"], utc=True)
    lon, lat = fixes["lon"].to_numpy(dtype=float), fixes["lat"].to_numpy(dtype=float)

    def near(place, at) -> bool:
        # The same place matching as TRACK_START/END_MISMATCH: a division's outline plus its buffer, or a circle.
        when = ((t >= pd.Timestamp(at) - WINDOW_PAD) & (t <= pd.Timestamp(at) + WINDOW_PAD)).to_numpy()
        if not when.any():
            return False
        radius = COORDINATE_RADIUS_M if place.from_coordinates else place.radius_m
        return bool(np.any(place_distance_m(place, lon[when], lat[when]) <= radius))

    return near(loading, item.despatch_at) and near(unloading, item.receipt_at)


# --- recording ------------------------------------------------------------------------------------------------


def record_findings(session: Session, findings: list[DuplicatedTrack | VehicleOverlap]) -> list[int]:
    """Write one anomaly per finding (idempotent: the same item and code update the same row)."""
    ids = []
    for f in findings:
        zh, en = f.reasons()
        ids.append(record(session, f.code, document_kind="waybill", document_key=document_key(f.waybill_id, f.seq),
                          operator_id=f.operator_id, document_id=f.waybill_id, reason_zh=zh, reason_en=en,
                          severity="severe", evidence=f.evidence()))
    return ids


def crosscheck_range(session: Session, date_from: dt.date, date_to: dt.date) -> dict[str, int]:
    """Run both cross-waybill rules for items despatched in the range and record their anomalies.

    Returns
    -------
    dict
        Anomalies written per code.
    """
    dup = find_duplicated_tracks(session, date_from, date_to)
    over = find_vehicle_overlaps(session, date_from, date_to)
    record_findings(session, [*dup, *over])
    return {"TRACK_DUPLICATED": len(dup), "TRACK_VEHICLE_OVERLAP": len(over)}
