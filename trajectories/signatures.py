"""Live cross-waybill checks: copied tracks through the ``track_signature`` index, and vehicle overlaps.

A back-fill compares a whole range of tracks at once (:func:`trajectories.crosscheck.find_duplicated_tracks`); the
worker verifies one waybill at a time, as it completes, so it looks the new track up in an index of the recent
tracks kept in PostgreSQL instead (migration 0011): one row per verified item and H3 res-8 cell its app fixes of
the transport period cross, with the mean time spent there and that time's hour bucket. Candidates are the items
of other vehicles that share at least ``min_shared_cells`` cells (crowded cells — depots, toll gates — left out)
within ``reach_days`` either way (so copies shifted by minutes, hours or days are found), and at least half of the
smaller signature (the thresholds of the back-fill, :data:`trajectories.crosscheck.MIN_SHARED_CELLS`); the shift is the median time difference over the shared cells. They are then confirmed point
to point and the copy picked exactly as in the back-fill (:func:`trajectories.crosscheck.confirm_pairs`): the one
reported later is flagged and cites its source; the source is not, unless its own BeiDou contradicts it. When the
track that arrives is the earlier-reported one, the already-indexed later one is the copy and gets flagged then.

:func:`index_items` (re)writes the items' signatures (a back-fill chunk calls it too, so the live checks see the
back-filled tracks); :func:`crosscheck_items` indexes, looks up, confirms, checks vehicle overlaps and records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from trajectories.crosscheck import (
    HUB_LIMIT,
    MIN_SHARED_CELLS,
    MIN_SHARED_SHARE,
    DuplicatedTrack,
    VehicleOverlap,
    _fixes_frame,
    _signatures,
    confirm_pairs,
    find_vehicle_overlaps_for_items,
    items_by_id,
    record_findings,
)

__all__ = ["BUCKET_S", "SIGNATURE_RES", "crosscheck_items", "find_copies", "index_items", "prune"]

SIGNATURE_RES = 8
BUCKET_S = 3600

_DELETE_SQL = text("DELETE FROM track_signature WHERE waybill_vehicle_id = ANY(:ids)")
_INSERT_SQL = text(
    """
    INSERT INTO track_signature (waybill_vehicle_id, cell, bucket, t_s)
    SELECT * FROM unnest(CAST(:item AS bigint[]), CAST(:cell AS bigint[]), CAST(:bucket AS integer[]),
                         CAST(:t AS float8[]))
    ON CONFLICT (waybill_vehicle_id, cell) DO UPDATE SET bucket = excluded.bucket, t_s = excluded.t_s
    """
)
# Each new cell against the index within the reach; cells that more than :hub items cross are a depot, a toll
# gate or a motorway, not evidence of copying; what is left is grouped per pair with the median time difference.
_LOOKUP_SQL = text(
    """
    WITH me AS (
        SELECT * FROM unnest(CAST(:item AS bigint[]), CAST(:cell AS bigint[]), CAST(:bucket AS integer[]),
                             CAST(:t AS float8[])) AS m(item_id, cell, bucket, t_s)
    ), hits AS (
        SELECT m.item_id, m.cell, m.t_s - s.t_s AS d, s.waybill_vehicle_id AS other
        FROM me m JOIN track_signature s
          ON s.cell = m.cell AND s.bucket BETWEEN m.bucket - :reach AND m.bucket + :reach
        WHERE s.waybill_vehicle_id <> m.item_id
    ), quiet AS (
        SELECT item_id, cell FROM hits GROUP BY item_id, cell HAVING count(*) <= :hub
    )
    SELECT h.item_id, h.other, count(*) AS shared, percentile_cont(0.5) WITHIN GROUP (ORDER BY h.d) AS shift_s
    FROM hits h JOIN quiet q USING (item_id, cell)
    GROUP BY h.item_id, h.other
    HAVING count(*) >= :min_shared
    """
)
_SIZES_SQL = text(
    "SELECT waybill_vehicle_id, count(*) FROM track_signature WHERE waybill_vehicle_id = ANY(:ids) "
    "GROUP BY waybill_vehicle_id"
)


def index_items(session: Session, item_ids: Sequence[int], *, app: pd.DataFrame | None = None) -> pd.DataFrame:
    """(Re)write the signatures of these items (app fixes of their transport period, their operator's only).

    One read of their fixes and one INSERT for all of them; returns the signatures written (``item_id, cell,
    t_s``), and an item without app fixes has none (and loses any it had).
    """
    ids = [int(i) for i in item_ids]
    if not ids:
        return pd.DataFrame(columns=["item_id", "cell", "t_s"])
    if app is None:
        app = _fixes_frame(session, items_by_id(session, ids), 1)
    sig = _signatures(app, res=SIGNATURE_RES) if len(app) else pd.DataFrame(columns=["item_id", "cell", "t_s"])
    session.execute(_DELETE_SQL, {"ids": ids})
    if len(sig):
        t = sig["t_s"].to_numpy(dtype=np.float64)
        session.execute(_INSERT_SQL, {
            "item": sig["item_id"].astype(np.int64).tolist(), "cell": sig["cell"].astype(np.int64).tolist(),
            "bucket": np.floor(t / BUCKET_S).astype(np.int64).tolist(), "t": t.tolist(),
        })
    return sig


def find_copies(
    session: Session,
    item_ids: Sequence[int],
    *,
    reach_days: int = 7,
    min_shared_cells: int = MIN_SHARED_CELLS,
    min_shared_share: float = MIN_SHARED_SHARE,
    hub_limit: int = HUB_LIMIT,
    index: bool = True,
) -> list[DuplicatedTrack]:
    """Copied tracks between these items and the indexed recent tracks (see the module docstring).

    ``index`` first writes these items' signatures (:func:`index_items`); the thresholds are those of
    :func:`trajectories.crosscheck.find_duplicated_tracks`.
    """
    ids = [int(i) for i in item_ids]
    mine = items_by_id(session, ids)
    if mine.empty:
        return []
    app = _fixes_frame(session, mine, 1)
    sig = index_items(session, mine["item_id"].tolist(), app=app) if index else _signatures(app, res=SIGNATURE_RES)
    if sig.empty:
        return []
    t = sig["t_s"].to_numpy(dtype=np.float64)
    rows = session.execute(_LOOKUP_SQL, {
        "item": sig["item_id"].astype(np.int64).tolist(), "cell": sig["cell"].astype(np.int64).tolist(),
        "bucket": np.floor(t / BUCKET_S).astype(np.int64).tolist(), "t": t.tolist(),
        "reach": int((reach_days * 86400 + 4 * 3600) // BUCKET_S), "hub": hub_limit, "min_shared": min_shared_cells,
    }).all()
    if not rows:
        return []
    cand = pd.DataFrame(rows, columns=["item_id_a", "item_id_b", "shared", "shift_s"])
    others = sorted(set(cand["item_id_b"].astype(int)) - set(ids))
    items = pd.concat([mine, items_by_id(session, others)], ignore_index=True)
    sizes = dict(session.execute(_SIZES_SQL, {"ids": sorted(set(cand["item_id_a"]) | set(cand["item_id_b"]))}).all())
    n_a = cand["item_id_a"].map(sizes).to_numpy(dtype=np.float64)
    n_b = cand["item_id_b"].map(sizes).to_numpy(dtype=np.float64)
    plate = items.drop_duplicates("item_id").set_index("item_id")
    plate = plate["vehicle_number"] + "/" + plate["plate_color"]
    different = plate.reindex(cand["item_id_a"]).to_numpy() != plate.reindex(cand["item_id_b"]).to_numpy()
    keep = different & (cand["shared"].to_numpy() / np.minimum(n_a, n_b) >= min_shared_share)
    # Two new items that match each other come back twice (a, b) and (b, a): keep one.
    a, b = cand["item_id_a"].to_numpy(), cand["item_id_b"].to_numpy()
    both_new = np.isin(b, ids)
    keep &= ~(both_new & (b < a))
    cand = cand.loc[keep & plate.reindex(cand["item_id_b"]).notna().to_numpy()].reset_index(drop=True)
    if cand.empty:
        return []
    need = items.loc[items["item_id"].isin(set(cand["item_id_a"]) | set(cand["item_id_b"]))]
    other_app = _fixes_frame(session, need.loc[~need["item_id"].isin(ids)], 1)
    by_item = dict(tuple(pd.concat([app, other_app], ignore_index=True).groupby("item_id")))
    cand = cand.loc[cand["item_id_a"].isin(by_item) & cand["item_id_b"].isin(by_item)]
    beidou = dict(tuple(_fixes_frame(session, need, 2).groupby("item_id")))
    return confirm_pairs(cand, items, by_item, beidou)


def crosscheck_items(session: Session, item_ids: Sequence[int]) -> list[DuplicatedTrack | VehicleOverlap]:
    """Run both cross-waybill rules for freshly verified items and record their anomalies (the worker's path).

    Returns
    -------
    list
        The findings recorded (a copy cites its source; an overlap names the other waybill).
    """
    findings: list[DuplicatedTrack | VehicleOverlap] = [*find_copies(session, item_ids),
                                                        *find_vehicle_overlaps_for_items(session, list(item_ids))]
    record_findings(session, findings)
    return findings


def prune(session: Session, *, older_than: dt.timedelta = dt.timedelta(days=30)) -> int:
    """Drop the signatures of tracks older than ``older_than`` (beyond any copy's reach); return the count."""
    cutoff = int((dt.datetime.now(dt.UTC) - older_than).timestamp() // BUCKET_S)
    return session.execute(text("DELETE FROM track_signature WHERE bucket < :b"), {"b": cutoff}).rowcount
