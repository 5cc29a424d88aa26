"""Waybill verification against the database: read the fixes, fetch BeiDou when missing, verify, store.

``verify_waybill`` runs spec/RULES.md §2 for every vehicle item of a waybill: the item's window and places
(:mod:`trajectories.fixes`), the plate's driver-app (source 1, the waybill's operator's) and BeiDou (source 2)
fixes in it, the periods of the vehicle's other waybills (their fixes in the margins are not counted), the rules of
:func:`trajectories.verify.verify`. It stores one ``trajectory`` row per source (LINESTRING M), a new current
``verification`` row, and an anomaly per fired rule; a re-run replaces all three and resolves anomalies that no
longer fire, so it is idempotent. A heavy vehicle without cached BeiDou fixes gets its track fetched from the
national platform first (:mod:`etl.beidou`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from etl.beidou import fetch_beidou, is_heavy
from store.anomalies import record_many, resolve_many
from store.models import Verification, Waybill, WaybillVehicle
from trajectories import _kernels as K
from trajectories.build import BuiltTrajectory
from trajectories.columns import FOR_THIS_WAYBILL, LAT, LON, SOURCE_APP, SOURCE_BEIDOU, SOURCE_NAMES, T
from trajectories.errors import TrajectoryError
from trajectories.fixes import (
    fixes_for_item,
    fixes_for_items,
    get_waybill,
    other_periods_for_items,
    place_properties,
    places_for_items,
    waybill_items,
    window,
)
from trajectories.verify import RULE_CODES, Place, Thresholds, VerificationInput, _isos, verify_many

if TYPE_CHECKING:
    from etl.adapters.national import NationalPlatformClient

__all__ = ["ItemResult", "document_key", "verify_items", "verify_waybill"]


@dataclass
class ItemResult:
    """What verification decided for one vehicle item of a waybill."""

    waybill_id: int
    waybill_vehicle_id: int
    seq: int
    verdict: str
    fired: list[str]
    verification_id: int
    anomaly_ids: list[int] = field(default_factory=list)
    n_fixes: dict[str, int] = field(default_factory=dict)


def document_key(waybill_id: int, seq: int) -> str:
    """The anomaly document key of a waybill vehicle item: ``waybill:{id}:{seq}``."""
    return f"waybill:{waybill_id}:{seq}"


def verify_waybill(
    session: Session,
    waybill_id: int,
    *,
    national: NationalPlatformClient | None = None,
    thresholds: Thresholds | None = None,
) -> list[ItemResult]:
    """Verify every vehicle item of a waybill against its fixes; store trajectories, verdicts and anomalies.

    Parameters
    ----------
    session : Session
        The caller owns the transaction (nothing is committed here).
    waybill_id : int
    national : NationalPlatformClient, optional
        When given, a heavy vehicle (:func:`etl.beidou.is_heavy`) without cached BeiDou fixes in the window
        gets its track fetched and cached as source-2 positions (:func:`etl.beidou.fetch_beidou`).
    thresholds : Thresholds, optional
        Rule thresholds (default: spec/RULES.md).

    Returns
    -------
    list of ItemResult
        One per vehicle item, in ``seq`` order.

    Raises
    ------
    WaybillNotFoundError
        If there is no such waybill.
    """
    get_waybill(session, waybill_id)
    return verify_items(session, [i.id for i in waybill_items(session, waybill_id)], national=national,
                        thresholds=thresholds)


def verify_items(
    session: Session,
    item_ids: list[int],
    *,
    national: NationalPlatformClient | None = None,
    thresholds: Thresholds | None = None,
) -> list[ItemResult]:
    """Verify many waybill vehicle items with one read of their fixes and places (the back-fill path).

    Same effect as :func:`verify_waybill` on each item's waybill; see there for the parameters.
    """
    items = list(session.scalars(select(WaybillVehicle).where(WaybillVehicle.id.in_(item_ids))
                                 .order_by(WaybillVehicle.waybill_id, WaybillVehicle.seq)))
    waybills = {w.id: w for w in session.scalars(select(Waybill).where(
        Waybill.id.in_({i.waybill_id for i in items})))}
    fixes = fixes_for_items(session, items)
    places = places_for_items(session, items)
    others = other_periods_for_items(session, items)
    read: list[tuple[WaybillVehicle, dict[int, pd.DataFrame]]] = []
    for item in items:
        f = fixes[item.id]
        if (national is not None and _beidou_short(f[SOURCE_BEIDOU], item)
                and _fetched_beidou(session, item, national)):
            f = {**f, SOURCE_BEIDOU: fixes_for_item(session, item, sources=(SOURCE_BEIDOU,))[SOURCE_BEIDOU]}
        read.append((item, f))
    # One verify_many for the batch: its tracks are built in one pass. They are stored in `trajectory`, not in the
    # evidence (_store): no need to build their features.
    verdicts = verify_many([_input(item, f, places[item.id], others[item.id]) for item, f in read],
                           thresholds=thresholds or Thresholds(), track_features=False)
    done = [_Done(waybills[item.waybill_id], item, f, places[item.id], v) for (item, f), v in zip(read, verdicts)]
    return _store(session, done)


#: BeiDou cached for an item must reach this close to its despatch and receipt, or the window is fetched again.
BEIDOU_EDGE_SLACK = pd.Timedelta(minutes=10)


def _beidou_short(beidou: pd.DataFrame, item: WaybillVehicle) -> bool:
    """Whether the cached BeiDou fixes fail to span the item's transport period.

    Not only "none": back to back, the previous trip's fetched window ([despatch − 2 h, receipt + 2 h]) reaches
    into this trip's margin, so a few cached fixes before the despatch do not mean this trip was fetched. A
    vehicle whose terminal really was silent is asked again on each verification (a fetch is idempotent).
    """
    if beidou.empty:
        return True
    first, last = sorted((pd.Timestamp(item.despatch_at), pd.Timestamp(item.receipt_at)))
    t = beidou[T]
    return bool(t.iloc[0] > first + BEIDOU_EDGE_SLACK or t.iloc[-1] < last - BEIDOU_EDGE_SLACK)


def _fetched_beidou(session: Session, item: WaybillVehicle, national: NationalPlatformClient) -> int:
    """Positions cached from the national platform for the item's window (0 unless a heavy vehicle)."""
    if not is_heavy(session, vehicle_number=item.vehicle_number, plate_color=item.plate_color,
                    vehicle_id=item.vehicle_id):
        return 0
    start, end = window(item)
    return fetch_beidou(session, vehicle_number=item.vehicle_number, plate_color=item.plate_color,
                        start=start, end=end, national=national)


@dataclass
class _Done:
    """One item verified, waiting to be stored with the rest of its batch."""

    waybill: Waybill
    item: WaybillVehicle
    fixes: dict[int, pd.DataFrame]
    places: tuple[Place, Place]
    verdict: Any


def _input(
    item: WaybillVehicle,
    fixes: dict[int, pd.DataFrame],
    places: tuple[Place, Place],
    other_periods: list | None = None,
) -> VerificationInput:
    loading, unloading = places
    return VerificationInput(
        despatch_at=pd.Timestamp(item.despatch_at), receipt_at=pd.Timestamp(item.receipt_at),
        loading=loading, unloading=unloading,
        app=fixes[SOURCE_APP] if len(fixes[SOURCE_APP]) else None,
        beidou=fixes[SOURCE_BEIDOU] if len(fixes[SOURCE_BEIDOU]) else None,
        other_periods=tuple((pd.Timestamp(a), pd.Timestamp(b)) for a, b in (other_periods or ())),
    )


_TRAJECTORY_UPSERT_SQL = text(
    """
    INSERT INTO trajectory (waybill_id, waybill_vehicle_id, source, geom, n_fixes, started_at, ended_at, length_m,
                            coverage, max_gap_s, max_speed_kmh, h3_path, stats, built_at)
    VALUES (:waybill_id, :waybill_vehicle_id, :source,
            -- LINESTRING M (lon lat epoch_s) as EWKB built from the coordinate arrays (_linestring_m_ewkb): one
            -- bytea, not three float8[] lists that the driver would format element by element
            ST_GeomFromEWKB(:ewkb), :n_fixes, :started_at,
            :ended_at, :length_m, :coverage, :max_gap_s, :max_speed_kmh, CAST(CAST(:h3_path AS text) AS bigint[]),
            CAST(:stats AS jsonb), :built_at)
    ON CONFLICT (waybill_vehicle_id, source) DO UPDATE SET
        waybill_id = excluded.waybill_id, geom = excluded.geom, n_fixes = excluded.n_fixes,
        started_at = excluded.started_at, ended_at = excluded.ended_at, length_m = excluded.length_m,
        coverage = excluded.coverage, max_gap_s = excluded.max_gap_s, max_speed_kmh = excluded.max_speed_kmh,
        h3_path = excluded.h3_path, stats = excluded.stats, built_at = excluded.built_at
    """
)
_TRAJECTORY_DELETE_SQL = text(
    """
    DELETE FROM trajectory t USING unnest(CAST(:items AS bigint[]), CAST(:sources AS smallint[])) AS d(item, source)
    WHERE t.waybill_vehicle_id = d.item AND t.source = d.source
    """
)
# The batch's verifications as one JSON array (rules and evidence are JSON already): one text parameter instead of
# jsonb[] arrays whose every element the driver would quote and escape.
_VERIFICATION_INSERT_SQL = text(
    """
    INSERT INTO verification (waybill_id, waybill_vehicle_id, verdict, rules, evidence, current)
    SELECT CAST(r->>'w' AS bigint), CAST(r->>'i' AS bigint), r->>'v', r->'r', r->'e', true
    FROM jsonb_array_elements(CAST(:rows AS jsonb)) AS r
    RETURNING id, waybill_vehicle_id
    """
)
# Documents of the batch that already hold one of this verification's anomalies: only they need a resolve().
_HELD_SQL = text(
    "SELECT DISTINCT document_key FROM anomaly WHERE document_kind = 'waybill' AND document_key = ANY(:keys) "
    "AND code = ANY(:codes)"
)


def _store(session: Session, done: list[_Done]) -> list[ItemResult]:
    """Store a batch's trajectories, verifications and anomalies with a few statements for the whole batch.

    The verdicts' own writes are batched (one upsert of the trajectories, one UPDATE and one INSERT of the
    verifications); anomalies go through one :func:`store.anomalies.record_many` for the rules that fired, and
    one :func:`store.anomalies.resolve_many` for the documents that hold one of these rules' anomalies already (a
    first verification has nothing to resolve).
    """
    if not done:
        return []
    now = dt.datetime.now(dt.timezone.utc)
    upserts, gone_items, gone_sources = [], [], []
    for d in done:
        for source, name in SOURCE_NAMES.items():
            row = _trajectory_row(d.waybill, d.item, source, d.verdict.tracks.get(name), d.fixes[source], now)
            if row is None:
                gone_items.append(d.item.id)
                gone_sources.append(source)
            else:
                upserts.append(row)
    if gone_items:
        session.execute(_TRAJECTORY_DELETE_SQL, {"items": gone_items, "sources": gone_sources})
    if upserts:
        session.execute(_TRAJECTORY_UPSERT_SQL, upserts)

    item_ids = [d.item.id for d in done]
    session.execute(update(Verification).where(
        Verification.waybill_vehicle_id.in_(item_ids), Verification.current.is_(True)).values(current=False))
    rules, evidence = [], []
    for d in done:
        loading, unloading = d.places
        rules.append(json.dumps([_rule_dict(r) for r in d.verdict.rules], ensure_ascii=False))
        # The tracks themselves live in `trajectory`; the verification keeps what the rules found.
        features = [f for f in d.verdict.evidence.get("features", []) if f["properties"].get("kind") != "track"]
        evidence.append(json.dumps({
            "type": "FeatureCollection", "features": _jsonable(features),
            "places": {"loading": place_properties(loading), "unloading": place_properties(unloading)},
            "stats": {k: _jsonable(v.to_dict()) for k, v in d.verdict.stats.items()}}, ensure_ascii=False))
    rows = ",".join(f'{{"w":{int(d.waybill.id)},"i":{int(d.item.id)},"v":{json.dumps(d.verdict.verdict)},'
                    f'"r":{r},"e":{e}}}' for d, r, e in zip(done, rules, evidence))
    ver_ids = {item: vid for vid, item in session.execute(_VERIFICATION_INSERT_SQL, {"rows": f"[{rows}]"}).all()}

    keys = [document_key(d.waybill.id, d.item.seq) for d in done]
    held = set(session.scalars(_HELD_SQL, {"keys": keys, "codes": list(RULE_CODES)}).all())
    fired = [[r for r in d.verdict.rules if r.fired] for d in done]
    ids = iter(record_many(session, [
        dict(code=r.code, document_kind="waybill", document_key=key, operator_id=d.waybill.operator_id,
             document_id=d.waybill.id, reason_zh=r.reason_zh, reason_en=r.reason_en, severity=_severity(r.severity),
             evidence={"numbers": _jsonable(r.numbers), "verificationId": ver_ids[d.item.id], "seq": d.item.seq})
        for d, key, rules in zip(done, keys, fired) for r in rules]))
    # Only this verification's own rules: the cross-waybill ones (crosscheck.py) are left alone here.
    resolve_many(session, document_kind="waybill", codes=RULE_CODES,
                 still_firing={key: {r.code for r in rules} for key, rules in zip(keys, fired) if key in held})
    results = []
    for d, rules in zip(done, fired):
        results.append(ItemResult(
            waybill_id=d.waybill.id, waybill_vehicle_id=d.item.id, seq=d.item.seq, verdict=d.verdict.verdict,
            fired=[r.code for r in rules], verification_id=ver_ids[d.item.id],
            anomaly_ids=[next(ids) for _ in rules],
            n_fixes={SOURCE_NAMES[s]: int(len(f)) for s, f in d.fixes.items()},
        ))
    return results


def _severity(rule_severity: str) -> str:
    # A contradiction (FAIL) or no track at all (NO_DATA) is severe; doubtful evidence (SUSPECT) a warning.
    return "warning" if rule_severity == "SUSPECT" else "severe"


def _trajectory_row(
    waybill: Waybill, item: WaybillVehicle, source: int, built: BuiltTrajectory | None, raw: pd.DataFrame,
    now: dt.datetime,
) -> dict[str, Any] | None:
    """The ``trajectory`` row of one item and source as bind parameters; None when there is no track."""
    if built is None or built.stats.n_fixes == 0:
        return None
    s = built.stats
    stats = _jsonable(s.to_dict())
    stats["clean"] = _jsonable({k: getattr(built.clean_report, k) for k in
                                ("n_in", "n_out", "invalid", "duplicates", "out_of_order", "spikes", "jumps")})
    stats["stops"] = _stop_records(built.stop_table)
    stats["gaps"] = _records(built.gaps) if built.gap_steps.size else []
    stats["fixes_for_this_waybill"] = int(raw[FOR_THIS_WAYBILL].sum()) if FOR_THIS_WAYBILL in raw else 0
    return dict(
        waybill_id=waybill.id, waybill_vehicle_id=item.id, source=source, ewkb=_linestring_m_ewkb(built.columns),
        n_fixes=s.n_fixes, started_at=_py_time(s.started_at), ended_at=_py_time(s.ended_at),
        length_m=_num(s.length_m), coverage=_num(s.coverage), max_gap_s=_num(s.max_gap_s),
        max_speed_kmh=_num(s.max_speed_kmh), h3_path="{" + ",".join(map(str, built.h3_path.tolist())) + "}",
        stats=json.dumps(stats, ensure_ascii=False), built_at=now,
    )


# EWKB header of a little-endian LINESTRING M with an SRID: byte order, type 2 | M flag | SRID flag, SRID.
_EWKB_LINESTRING_M_4326 = b"\x01" + np.array([2 | 0x40000000 | 0x20000000, 4326], dtype="<u4").tobytes()


def _linestring_m_ewkb(columns: dict[str, np.ndarray]) -> bytes | None:
    """The vertices of :func:`trajectories.build.linestring_m_wkt` (lon, lat to 7 decimals, M = epoch seconds) as
    EWKB with SRID 4326, from a built track's arrays (``BuiltTrajectory.columns``); None below two fixes."""
    t_us = columns["t_us"]
    if t_us.size < 2:
        return None
    if not np.all(np.diff(t_us) > 0):
        raise TrajectoryError("a LINESTRING M needs strictly increasing times; clean() the fixes first")
    xym = np.column_stack([np.round(np.asarray(columns[LON], dtype=np.float64), 7),
                           np.round(np.asarray(columns[LAT], dtype=np.float64), 7), t_us / 1e6]).astype("<f8")
    return _EWKB_LINESTRING_M_4326 + np.array([t_us.size], dtype="<u4").tobytes() + xym.tobytes()


def _stops_list(stops: pd.DataFrame) -> list[dict[str, Any]]:
    return _records(stops)


def _stop_records(table: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """``_records(built.stops)`` from the stop arrays (``BuiltTrajectory.stop_table``), without building the frame:
    the same keys, ISO times and numbers."""
    n = table["n"]
    if len(n) == 0:
        return []
    start = _isos(np.round(table["start_s"] * 1e6).astype(np.int64))
    end = _isos(np.round(table["end_s"] * 1e6).astype(np.int64))
    floats = [[x if np.isfinite(x) else None for x in np.asarray(table[k], dtype=np.float64).tolist()]
              for k in ("duration_s", "lon", "lat")]
    return [{"start": a, "end": z, "duration_s": d, "lon": x, "lat": y, "n": k}
            for a, z, d, x, y, k in zip(start, end, *floats, np.asarray(n, dtype=np.int64).tolist())]


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """``_jsonable(df.to_dict("records"))``, column by column: ``to_dict`` boxes every cell and was a third of
    the storage time. Times become ISO strings as ``Timestamp.isoformat()`` prints them, NaN/NaT None."""
    if len(df) == 0:
        return []
    cols: dict[str, list] = {}
    for name in df.columns:
        col = df[name]
        if isinstance(col.dtype, pd.DatetimeTZDtype) or np.issubdtype(col.dtype, np.datetime64):
            missing = col.isna().to_numpy()
            text = _isos(K.times_us(col.fillna(pd.Timestamp(0, tz="UTC")) if missing.any() else col, name=str(name)))
            cols[str(name)] = [None if m else t for t, m in zip(text, missing.tolist())]
        elif np.issubdtype(col.dtype, np.floating):
            v = col.to_numpy(dtype=np.float64)
            cols[str(name)] = [x if np.isfinite(x) else None for x in v.tolist()]
        elif np.issubdtype(col.dtype, np.integer) or np.issubdtype(col.dtype, np.bool_):
            cols[str(name)] = col.to_numpy().tolist()
        else:
            cols[str(name)] = [_jsonable(x) for x in col.tolist()]
    names = list(cols)
    return [dict(zip(names, row)) for row in zip(*cols.values())]


def _py_time(value: Any) -> dt.datetime | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def _num(value: Any) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _jsonable(obj: Any) -> Any:
    """numpy / pandas scalars, timestamps and NaN made JSON-safe, recursively."""
    kind = type(obj)  # exact built-in types first: the rules' numbers are mostly these
    if obj is None or kind is str or kind is bool or kind is int:
        return obj
    if kind is float:
        return obj if math.isfinite(obj) else None
    if isinstance(obj, bool | str):
        return obj
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, pd.Timestamp | dt.datetime):
        return None if pd.isna(obj) else pd.Timestamp(obj).isoformat()
    if isinstance(obj, pd.Timedelta | dt.timedelta):
        return pd.Timedelta(obj).total_seconds()
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, int):
        return obj
    if hasattr(obj, "to_dict"):
        return _jsonable(obj.to_dict())
    return str(obj)


def _rule_dict(rule: Any) -> dict[str, Any]:
    return {
        "code": rule.code, "fired": bool(rule.fired), "severity": rule.severity, "reasonZh": rule.reason_zh,
        "reasonEn": rule.reason_en, "numbers": _jsonable(rule.numbers),
    }
