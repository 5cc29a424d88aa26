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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from etl.beidou import fetch_beidou, is_heavy
from store.anomalies import record, resolve
from store.models import Trajectory, Verification, Waybill, WaybillVehicle
from trajectories.build import BuiltTrajectory, linestring_m_wkt
from trajectories.columns import SOURCE_APP, SOURCE_BEIDOU, SOURCE_NAMES
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
from trajectories.verify import RULE_CODES, Place, Thresholds, VerificationInput, verify

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
    results = []
    for item in items:
        f = fixes[item.id]
        if f[SOURCE_BEIDOU].empty and national is not None and _fetched_beidou(session, item, national):
            f = {**f, SOURCE_BEIDOU: fixes_for_item(session, item, sources=(SOURCE_BEIDOU,))[SOURCE_BEIDOU]}
        results.append(_verify_item(session, waybills[item.waybill_id], item, f, places[item.id], thresholds,
                                    others[item.id]))
    return results


def _fetched_beidou(session: Session, item: WaybillVehicle, national: NationalPlatformClient) -> int:
    """Positions cached from the national platform for the item's window (0 unless a heavy vehicle)."""
    if not is_heavy(session, vehicle_number=item.vehicle_number, plate_color=item.plate_color,
                    vehicle_id=item.vehicle_id):
        return 0
    start, end = window(item)
    return fetch_beidou(session, vehicle_number=item.vehicle_number, plate_color=item.plate_color,
                        start=start, end=end, national=national)


def _verify_item(
    session: Session,
    waybill: Waybill,
    item: WaybillVehicle,
    fixes: dict[int, pd.DataFrame],
    places: tuple[Place, Place],
    thresholds: Thresholds | None,
    other_periods: list | None = None,
) -> ItemResult:
    loading, unloading = places
    inp = VerificationInput(
        despatch_at=pd.Timestamp(item.despatch_at), receipt_at=pd.Timestamp(item.receipt_at),
        loading=loading, unloading=unloading,
        app=fixes[SOURCE_APP] if len(fixes[SOURCE_APP]) else None,
        beidou=fixes[SOURCE_BEIDOU] if len(fixes[SOURCE_BEIDOU]) else None,
        other_periods=tuple((pd.Timestamp(a), pd.Timestamp(b)) for a, b in (other_periods or ())),
    )
    verdict = verify(inp) if thresholds is None else verify(inp, thresholds=thresholds)
    for source, name in SOURCE_NAMES.items():
        _store_trajectory(session, waybill.id, item.id, source, verdict.tracks.get(name), fixes[source],
                          waybill.shipping_note_number)

    session.execute(update(Verification).where(
        Verification.waybill_vehicle_id == item.id, Verification.current.is_(True)).values(current=False))
    rules = [_rule_dict(r) for r in verdict.rules]
    # The tracks themselves live in `trajectory`; the verification keeps what the rules found.
    features = [f for f in verdict.evidence.get("features", []) if f["properties"].get("kind") != "track"]
    evidence = {"type": "FeatureCollection", "features": _jsonable(features),
                "places": {"loading": place_properties(loading), "unloading": place_properties(unloading)},
                "stats": {k: _jsonable(v.to_dict()) for k, v in verdict.stats.items()}}
    ver = Verification(waybill_id=waybill.id, waybill_vehicle_id=item.id, verdict=verdict.verdict, rules=rules,
                       evidence=evidence, current=True)
    session.add(ver)
    session.flush()

    key = document_key(waybill.id, item.seq)
    fired = [r for r in verdict.rules if r.fired]
    anomaly_ids = [
        record(session, r.code, document_kind="waybill", document_key=key, operator_id=waybill.operator_id,
               document_id=waybill.id, reason_zh=r.reason_zh, reason_en=r.reason_en,
               severity=_severity(r.severity),
               evidence={"numbers": _jsonable(r.numbers), "verificationId": ver.id, "seq": item.seq})
        for r in fired
    ]
    # Only this verification's own rules: the cross-waybill ones (crosscheck.py) are left alone here.
    resolve(session, document_kind="waybill", document_key=key, codes=RULE_CODES,
            still_firing={r.code for r in fired})
    return ItemResult(
        waybill_id=waybill.id, waybill_vehicle_id=item.id, seq=item.seq, verdict=verdict.verdict,
        fired=[r.code for r in fired], verification_id=ver.id, anomaly_ids=anomaly_ids,
        n_fixes={SOURCE_NAMES[s]: int(len(f)) for s, f in fixes.items()},
    )


def _severity(rule_severity: str) -> str:
    # A contradiction (FAIL) or no track at all (NO_DATA) is severe; doubtful evidence (SUSPECT) a warning.
    return "warning" if rule_severity == "SUSPECT" else "severe"


def _store_trajectory(
    session: Session, waybill_id: int, item_id: int, source: int, built: BuiltTrajectory | None, raw: pd.DataFrame,
    shipping_note_number: str,
) -> None:
    if built is None or built.stats.n_fixes == 0:
        session.execute(delete(Trajectory).where(Trajectory.waybill_vehicle_id == item_id,
                                                 Trajectory.source == source))
        return
    s = built.stats
    wkt = linestring_m_wkt(built.fixes)
    stats = _jsonable(s.to_dict())
    stats["clean"] = _jsonable({k: getattr(built.clean_report, k) for k in
                                ("n_in", "n_out", "invalid", "duplicates", "out_of_order", "spikes", "jumps")})
    stats["stops"] = _stops_list(built.stops)
    stats["gaps"] = _jsonable(built.gaps.to_dict("records"))
    notes = raw["shipping_note_number"].to_numpy() if "shipping_note_number" in raw else np.array([])
    stats["fixes_for_this_waybill"] = int(np.sum(notes == shipping_note_number))
    values = dict(
        waybill_id=waybill_id, waybill_vehicle_id=item_id, source=source,
        geom=func.ST_GeomFromText(wkt, 4326) if wkt else None,
        n_fixes=s.n_fixes, started_at=_py_time(s.started_at), ended_at=_py_time(s.ended_at),
        length_m=_num(s.length_m), coverage=_num(s.coverage), max_gap_s=_num(s.max_gap_s),
        max_speed_kmh=_num(s.max_speed_kmh), h3_path=[int(c) for c in built.h3_path], stats=stats,
        built_at=dt.datetime.now(dt.timezone.utc),
    )
    stmt = insert(Trajectory).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["waybill_vehicle_id", "source"],
        set_={k: stmt.excluded[k] for k in values if k not in ("waybill_vehicle_id", "source")},
    )
    session.execute(stmt)


def _stops_list(stops: pd.DataFrame) -> list[dict[str, Any]]:
    return _jsonable(stops.to_dict("records")) if len(stops) else []


def _py_time(value: Any) -> dt.datetime | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def _num(value: Any) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _jsonable(obj: Any) -> Any:
    """numpy / pandas scalars, timestamps and NaN made JSON-safe, recursively."""
    if obj is None or isinstance(obj, bool | str):
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
