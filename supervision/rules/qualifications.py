"""The registry rules of spec/RULES.md §1: QUAL_OPERATOR_PERMIT, QUAL_VEHICLE_CERT, QUAL_DRIVER_CERT,
QUAL_DRIVER_LICENSE against the 运政 registry and the waybill's own reports, VEHICLE_NOT_IN_NETWORK against the
national freight-vehicle platform.

``check_qualifications(session, ids, registries)`` evaluates them for a set of waybills, each on the waybill's
despatch day (Beijing), and brings the ledger in line (one anomaly per waybill and code, listing every vehicle or
driver concerned; resolved when a correction removes the cause). A vehicle's or driver's facts are the waybill's
operator's own report (WLHY_CL1001 / WLHY_JSY1001), else the shared row another platform reported.

When a registry cannot answer, the rules that needed it are *not decided*: the waybill's anomaly becomes
``pending_check`` ("未核验（登记系统不可用）/ not checked yet (registry unavailable)") unless a decided one stands,
and a retry job is queued with back-off; the retry decides and the marker goes. Nothing is guessed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from auth.masking import mask_id_number
from core.beijing import BEIJING
from store import jobs
from store.anomalies import mark_pending_many, record, resolve
from supervision.rules.ledger import Ledger
from supervision.rules.registry import SYSTEM_NAMES, Registries, RegistryDown
from supervision.rules.waybills import document_key

__all__ = ["CODES", "Outcome", "check_qualifications", "is_placeholder", "licence_allows", "required_class"]

CODES = ("QUAL_OPERATOR_PERMIT", "QUAL_VEHICLE_CERT", "QUAL_DRIVER_CERT", "QUAL_DRIVER_LICENSE",
         "VEHICLE_NOT_IN_NETWORK")
CERT_MASS_T = Decimal("4.5")   # "> 4.5 t gross mass" needs a road-transport certificate and a qualified driver
HEAVY_MASS_T = Decimal(12)   # "≥ 12 t" (or a tractor) must be on the national platform
RETRY_BASE_S = 30.0
RETRY_MAX_S = 3600.0

# 准驾车型 a licence class covers (GA/T 公安部令第 162 号 附件 1), and the class a vehicle type needs.
_COVERS = {
    "A1": {"A1", "A3", "B1", "B2", "C1", "C2", "C3", "C4", "M"},
    "A2": {"A2", "B1", "B2", "C1", "C2", "C3", "C4", "M"},
    "A3": {"A3", "C1", "C2", "C3", "C4"},
    "B1": {"B1", "C1", "C2", "C3", "C4", "M"},
    "B2": {"B2", "C1", "C2", "C3", "C4", "M"},
    "C1": {"C1", "C2", "C3", "C4"},
    "C2": {"C2"}, "C3": {"C3", "C4"}, "C4": {"C4"}, "C6": {"C6"},
}
_CLASS_RE = re.compile(r"A[123]|B[12]|C[1-6]|[DEFMNP]")


def required_class(vehicle_type: str | None) -> str | None:
    """The driving-licence class a vehicle type (GA 802 code) needs, or None when no rule applies.

    >>> required_class("Q11"), required_class("H12"), required_class("H31"), required_class("B11")
    ('A2', 'B2', 'C1', None)
    """
    t = (vehicle_type or "").upper()
    if t.startswith("Q"):
        return "A2"                      # tractors (半挂/全挂牵引车)
    if t[:2] in ("H1", "H2"):
        return "B2"                      # heavy and medium trucks
    if t[:2] in ("H3", "H4"):
        return "C1"                      # light and micro trucks
    if t[:2] == "H5":
        return "C3"                      # low-speed trucks
    return None


def licence_allows(vehicle_class: str | None, needed: str) -> bool:
    """Whether a licence's 准驾车型 (e.g. ``"A2"``, ``"B2E"``, ``"A2,D"``) covers class ``needed``.

    >>> licence_allows("B2", "A2"), licence_allows("A2", "B2"), licence_allows("A2D", "A2")
    (False, True, True)
    """
    held = _CLASS_RE.findall((vehicle_class or "").upper())
    return any(needed == c or needed in _COVERS.get(c, ()) for c in held)


def is_placeholder(number: str | None) -> bool:
    """An empty certificate number or the spec's placeholder (division prefix + zeros, ``xxxxxx000000``).

    >>> is_placeholder("340104000000"), is_placeholder("340104000000000000"), is_placeholder("340104123456")
    (True, True, False)
    """
    n = (number or "").strip()
    return not n or (len(n) >= 12 and set(n[6:]) == {"0"})


@dataclass
class Outcome:
    """What one run decided: anomalies fired per code, rules left pending per code, the waybills to retry."""

    fired: dict[str, int] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    undecided: list[int] = field(default_factory=list)
    calls: int = 0

    def merge(self, other: Outcome) -> None:
        for mine, theirs in ((self.fired, other.fired), (self.pending, other.pending)):
            for k, n in theirs.items():
                mine[k] = mine.get(k, 0) + n
        self.undecided += other.undecided
        self.calls += other.calls


_ITEMS_SQL = text("""
    SELECT w.id AS waybill_id, w.operator_id, w.despatch_at,
           coalesce(nullif(w.permit_number, ''), o.permit_number) AS permit_number, o.usci AS operator_usci,
           wv.id AS item_id, wv.vehicle_number, wv.plate_color, vr.id AS report_id, v.id AS vehicle_id,
           CASE WHEN vr.id IS NOT NULL THEN vr.vehicle_type ELSE v.vehicle_type END AS vehicle_type,
           CASE WHEN vr.id IS NOT NULL THEN vr.gross_mass_t ELSE v.gross_mass_t END AS gross_mass_t,
           CASE WHEN vr.id IS NOT NULL THEN vr.road_transport_certificate_number
                ELSE v.road_transport_certificate_number END AS certificate
    FROM waybill w JOIN operator o ON o.id = w.operator_id
    LEFT JOIN waybill_vehicle wv ON wv.waybill_id = w.id
    LEFT JOIN vehicle_report vr ON vr.operator_id = w.operator_id AND vr.vehicle_number = wv.vehicle_number
                               AND vr.plate_color = wv.plate_color AND NOT vr.is_sandbox
    LEFT JOIN vehicle v ON v.vehicle_number = wv.vehicle_number AND v.plate_color = wv.plate_color
    WHERE w.id = ANY(:ids) AND NOT w.is_sandbox
    ORDER BY w.id, wv.seq
""")

_DRIVERS_SQL = text("""
    SELECT wv.waybill_id, wv.id AS item_id, wd.driving_license, dr.id AS report_id, d.id AS driver_id,
           CASE WHEN dr.id IS NOT NULL THEN dr.vehicle_class ELSE d.vehicle_class END AS vehicle_class,
           CASE WHEN dr.id IS NOT NULL THEN dr.valid_from ELSE d.valid_from END AS valid_from,
           CASE WHEN dr.id IS NOT NULL THEN dr.valid_to ELSE d.valid_to END AS valid_to,
           CASE WHEN dr.id IS NOT NULL THEN dr.qualification_certificate
                ELSE d.qualification_certificate END AS qualification_certificate
    FROM waybill_driver wd JOIN waybill_vehicle wv ON wv.id = wd.waybill_vehicle_id
    JOIN waybill w ON w.id = wv.waybill_id
    LEFT JOIN driver_report dr ON dr.operator_id = w.operator_id AND dr.driving_license = wd.driving_license
                              AND NOT dr.is_sandbox
    LEFT JOIN driver d ON d.driving_license = wd.driving_license
    WHERE wv.waybill_id = ANY(:ids)
    ORDER BY wv.waybill_id, wv.seq, wd.id
""")


@dataclass
class _Rule:
    """One code's findings on one waybill."""

    problems: list[dict[str, Any]] = field(default_factory=list)   # each: zh, en, numbers
    documents: list[dict[str, Any]] = field(default_factory=list)
    down: set[str] = field(default_factory=set)                    # systems that could not answer

    def add(self, zh: str, en: str, numbers: dict[str, Any], doc: dict[str, Any] | None = None) -> None:
        self.problems.append({"zh": zh, "en": en, "numbers": numbers})
        if doc is not None and doc not in self.documents:
            self.documents.append(doc)


def _vdoc(it) -> dict[str, Any] | None:
    if it.report_id is not None:
        return {"kind": "vehicle", "id": it.report_id, "key": f"vehicle:{it.report_id}"}
    return None if it.vehicle_id is None else {"kind": "vehicle", "id": it.vehicle_id, "key": f"vehicle:{it.vehicle_id}",
                                               "sharedRow": True}


def _ddoc(d) -> dict[str, Any] | None:
    if d.report_id is not None:
        return {"kind": "driver", "id": d.report_id, "key": f"driver:{d.report_id}"}
    return None if d.driver_id is None else {"kind": "driver", "id": d.driver_id, "key": f"driver:{d.driver_id}",
                                             "sharedRow": True}


def _plate(it) -> str:
    return f"{it.vehicle_number}/{it.plate_color}"


def _ask(rule: _Rule, fn, *args):
    """Ask the registry; ``None`` (and the system noted as down on ``rule``) when it cannot answer."""
    try:
        return fn(*args)
    except RegistryDown as e:
        rule.down.add(e.system)
        return None


def _validity_text(ans) -> tuple[str, str, dict[str, Any]]:
    r = ans.record or {}
    nums = {"registryStatus": r.get("status"), "validFrom": r.get("validFrom"), "validTo": r.get("validTo")}
    return (f"运政状态 {r.get('status')}，有效期 {r.get('validFrom') or '—'} 至 {r.get('validTo') or '长期'}",
            f"registry status {r.get('status')}, valid {r.get('validFrom') or '—'} to {r.get('validTo') or 'open'}",
            nums)


def _operator_rule(session: Session, reg: Registries, w, day: dt.date) -> _Rule:
    rule = _Rule()
    doc = {"kind": "operator", "id": w.operator_id, "key": f"operator:{w.operator_id}"}
    permit = (w.permit_number or "").strip()
    if not permit:
        rule.add("运单未填道路运输经营许可证号", "no road-transport operating licence number on the waybill",
                 {"permitNumber": None}, doc)
        return rule
    ans = _ask(rule, reg.operator_licence, session, permit)
    if ans is None:
        return rule
    if not ans.found:
        rule.add(f"经营许可证 {permit} 在运政系统中不存在", f"operating licence {permit} is not in the 运政 registry",
                 {"permitNumber": permit, "found": False}, doc)
    elif not ans.valid_on(day):
        zh, en, nums = _validity_text(ans)
        rule.add(f"经营许可证 {permit} 在发车日 {day} 无效（{zh}）",
                 f"operating licence {permit} not valid on the despatch day {day} ({en})",
                 {"permitNumber": permit, "despatchDay": day.isoformat(), **nums}, doc)
    elif (ans.record or {}).get("usci") and w.operator_usci and ans.record["usci"] != w.operator_usci:
        rule.add(f"经营许可证 {permit} 属于另一家企业", f"operating licence {permit} belongs to another company",
                 {"permitNumber": permit, "licenceUsci": ans.record["usci"], "operatorUsci": w.operator_usci}, doc)
    return rule


def _vehicle_rules(session: Session, reg: Registries, items: list, day: dt.date) -> tuple[_Rule, _Rule]:
    cert, network = _Rule(), _Rule()
    for it in items:
        if it.item_id is None or it.gross_mass_t is None:
            continue  # no report of the vehicle: INTAKE_UNKNOWN_PARTY says so; its mass is unknown here
        mass, plate, doc = Decimal(it.gross_mass_t), _plate(it), _vdoc(it)
        base = {"vehicle": plate, "grossMassT": str(mass), "despatchDay": day.isoformat()}
        if mass > CERT_MASS_T:
            number = (it.certificate or "").strip()
            if is_placeholder(number):
                cert.add(f"车辆 {plate} 总质量 {mass} 吨（> 4.5 吨）无道路运输证（证号 {number or '空'}）",
                         f"vehicle {plate} of {mass} t gross mass (> 4.5 t) has no road-transport certificate "
                         f"(number {number or 'empty'})", {**base, "certificate": number, "placeholder": True}, doc)
            else:
                ans = _ask(cert, reg.vehicle_certificate, session, number)
                if ans is not None and not ans.found:
                    cert.add(f"车辆 {plate} 的道路运输证 {number} 在运政系统中不存在",
                             f"road-transport certificate {number} of vehicle {plate} is not in the 运政 registry",
                             {**base, "certificate": number, "found": False}, doc)
                elif ans is not None and (ans.record or {}).get("vehicleNumber") not in (None, it.vehicle_number):
                    cert.add(f"道路运输证 {number} 属于车辆 {ans.record['vehicleNumber']}，不是 {plate}",
                             f"road-transport certificate {number} belongs to {ans.record['vehicleNumber']}, "
                             f"not {plate}", {**base, "certificate": number,
                                              "certificateVehicle": ans.record["vehicleNumber"]}, doc)
                elif ans is not None and not ans.valid_on(day):
                    zh, en, nums = _validity_text(ans)
                    cert.add(f"车辆 {plate} 的道路运输证 {number} 在发车日 {day} 无效（{zh}）",
                             f"road-transport certificate {number} of vehicle {plate} not valid on {day} ({en})",
                             {**base, "certificate": number, **nums}, doc)
        tractor = (it.vehicle_type or "").upper().startswith("Q")
        if mass >= HEAVY_MASS_T or tractor:
            ans = _ask(network, reg.in_network, session, it.vehicle_number, it.plate_color)
            why = {**base, "vehicleType": it.vehicle_type, "tractor": tractor}
            if ans is not None and not (ans.found and (ans.record or {}).get("inNetwork")):
                network.add(f"{'牵引车' if tractor else '重型货车'} {plate}（总质量 {mass} 吨）未在全国道路货运车辆公共监管与服务平台入网",
                            f"{'tractor' if tractor else 'heavy truck'} {plate} ({mass} t) is not registered on "
                            f"the national freight-vehicle platform",
                            {**why, "found": ans.found, "inNetwork": (ans.record or {}).get("inNetwork", False)}, doc)
            elif ans is not None and ans.record.get("since") and dt.date.fromisoformat(ans.record["since"]) > day:
                network.add(f"车辆 {plate} 于 {ans.record['since']} 才入网，晚于发车日 {day}",
                            f"vehicle {plate} joined the national platform on {ans.record['since']}, after the "
                            f"despatch day {day}", {**why, "inNetwork": True, "since": ans.record["since"]}, doc)
    return cert, network


def _driver_rules(session: Session, reg: Registries, items: dict[int, Any], drivers: list,
                  day: dt.date) -> tuple[_Rule, _Rule]:
    cert, licence = _Rule(), _Rule()
    for d in drivers:
        it = items.get(d.item_id)
        if d.report_id is None and d.driver_id is None:
            continue  # never reported: INTAKE_UNKNOWN_PARTY
        who, doc = mask_id_number(d.driving_license), _ddoc(d)
        base = {"driver": who, "despatchDay": day.isoformat()}
        if it is not None and it.gross_mass_t is not None and Decimal(it.gross_mass_t) > CERT_MASS_T:
            mass, number = Decimal(it.gross_mass_t), (d.qualification_certificate or "").strip()
            shown = mask_id_number(number) if number else "空"
            vb = {**base, "vehicle": _plate(it), "grossMassT": str(mass)}
            if is_placeholder(number):
                cert.add(f"驾驶员 {who} 驾驶 {mass} 吨车辆 {_plate(it)}（> 4.5 吨）无从业资格证（证号 {shown}）",
                         f"driver {who} of the {mass} t vehicle {_plate(it)} (> 4.5 t) has no qualification "
                         f"certificate (number {shown if number else 'empty'})", {**vb, "placeholder": True}, doc)
            else:
                ans = _ask(cert, reg.driver_certificate, session, number)
                if ans is not None and not ans.found:
                    cert.add(f"驾驶员 {who} 的从业资格证 {shown} 在运政系统中不存在",
                             f"qualification certificate {shown} of driver {who} is not in the 运政 registry",
                             {**vb, "certificate": shown, "found": False}, doc)
                elif ans is not None and (ans.record or {}).get("drivingLicense") not in (None, d.driving_license):
                    cert.add(f"从业资格证 {shown} 属于另一名驾驶员，不是 {who}",
                             f"qualification certificate {shown} belongs to another person, not driver {who}",
                             {**vb, "certificate": shown, "holderDiffers": True}, doc)
                elif ans is not None and not ans.valid_on(day):
                    zh, en, nums = _validity_text(ans)
                    cert.add(f"驾驶员 {who} 的从业资格证在发车日 {day} 无效（{zh}）",
                             f"qualification certificate of driver {who} not valid on {day} ({en})",
                             {**vb, "certificate": shown, **nums}, doc)
        lo, hi = d.valid_from, d.valid_to
        if (hi is not None and hi < day) or (lo is not None and lo > day):
            licence.add(f"驾驶员 {who} 的驾驶证有效期 {lo or '—'} 至 {hi or '长期'}，发车日 {day} 不在其内",
                        f"driving licence of driver {who} valid {lo or '—'} to {hi or 'open'}, not on the despatch "
                        f"day {day}", {**base, "validFrom": lo.isoformat() if lo else None,
                                       "validTo": hi.isoformat() if hi else None}, doc)
        needed = required_class(it.vehicle_type if it is not None else None)
        if needed and not licence_allows(d.vehicle_class, needed):
            licence.add(f"驾驶员 {who} 准驾车型 {d.vehicle_class or '空'}，车辆 {_plate(it)}（{it.vehicle_type}）需 {needed}",
                        f"driver {who} holds class {d.vehicle_class or 'none'}; vehicle {_plate(it)} "
                        f"({it.vehicle_type}) needs {needed}",
                        {**base, "vehicle": _plate(it), "vehicleType": it.vehicle_type,
                         "vehicleClass": d.vehicle_class, "needed": needed}, doc)
    return cert, licence


_PENDING_ZH = "未核验（登记系统不可用）"
_PENDING_EN = "not checked yet (registry unavailable)"


def check_qualifications(session: Session, ids: Sequence[int], registries: Registries, *,
                         queue_retries: bool = True, attempt: int = 0) -> Outcome:
    """Evaluate the registry rules for these waybills and update the ledger (the caller commits).

    Rules a registry outage left undecided get a ``pending_check`` marker, and (``queue_retries``) the waybills
    a retry job on the document-rules queue, due after 30 s · 2^attempt (at most an hour; it never gives up).
    """
    out = Outcome()
    ids = list(ids)
    if not ids:
        return out
    calls0 = registries.calls
    registries.new_batch()
    items: dict[int, list] = {}
    for r in session.execute(_ITEMS_SQL, {"ids": ids}):
        items.setdefault(r.waybill_id, []).append(r)
    drivers: dict[int, list] = {}
    for r in session.execute(_DRIVERS_SQL, {"ids": ids}):
        drivers.setdefault(r.waybill_id, []).append(r)
    ledger = Ledger(session, [document_key(i) for i in items], CODES)  # write only what changes
    every = [r for rows in items.values() for r in rows]
    registries.prefetch(session, "operator_licence", ((r.permit_number or "").strip() for r in every))
    registries.prefetch(session, "vehicle_certificate", ((r.certificate or "").strip() for r in every))
    registries.prefetch(session, "in_network", (f"{r.vehicle_number}/{r.plate_color}" for r in every if r.item_id))
    registries.prefetch(session, "driver_certificate", ((d.qualification_certificate or "").strip()
                                                        for rows in drivers.values() for d in rows))
    markers: list[dict[str, Any]] = []  # "not checked yet", written in one statement per batch
    since = dt.datetime.now(dt.UTC).isoformat()
    for wid, rows in items.items():
        w = rows[0]
        day = w.despatch_at.astimezone(BEIJING).date()
        by_item = {r.item_id: r for r in rows if r.item_id is not None}
        vcert, network = _vehicle_rules(session, registries, rows, day)
        dcert, licence = _driver_rules(session, registries, by_item, drivers.get(wid, []), day)
        rules = {"QUAL_OPERATOR_PERMIT": _operator_rule(session, registries, w, day), "QUAL_VEHICLE_CERT": vcert,
                 "QUAL_DRIVER_CERT": dcert, "QUAL_DRIVER_LICENSE": licence, "VEHICLE_NOT_IN_NETWORK": network}
        key, fired, decided = document_key(wid), set(), []
        for code, rule in rules.items():
            systems = sorted(rule.down)
            if rule.problems:
                p = rule.problems
                zh = "；".join(x["zh"] for x in p[:3]) + (f"（共 {len(p)} 项）" if len(p) > 3 else "")
                en = "; ".join(x["en"] for x in p[:3]) + (f" ({len(p)} in all)" if len(p) > 3 else "")
                evidence = {"checked": not systems, "numbers": [x["numbers"] for x in p],
                            "documents": rule.documents, "uncheckedSystems": systems}
                if not ledger.unchanged(key, code, en, evidence):
                    record(session, code, document_kind="waybill", document_key=key, operator_id=w.operator_id,
                           document_id=wid, reason_zh=zh, reason_en=en, evidence=evidence)
                fired.add(code)
                decided.append(code)
                out.fired[code] = out.fired.get(code, 0) + 1
            elif systems:
                names_zh = "、".join(SYSTEM_NAMES[s][0] for s in systems)
                names_en = ", ".join(SYSTEM_NAMES[s][1] for s in systems)
                markers.append({"code": code, "document_kind": "waybill", "document_key": key,
                                "operator_id": w.operator_id, "document_id": wid,
                                "reason_zh": f"{_PENDING_ZH}：{names_zh}", "reason_en": f"{_PENDING_EN}: {names_en}",
                                "evidence": {"checked": False, "systems": systems, "attempt": attempt,
                                             "since": since}})
                out.pending[code] = out.pending.get(code, 0) + 1
            else:
                decided.append(code)
        if ledger.needs_resolve(key, decided, fired):
            resolve(session, document_kind="waybill", document_key=key, codes=decided, still_firing=fired)
        if any(rule.down for rule in rules.values()):
            out.undecided.append(wid)
    for k in range(0, len(markers), 1000):
        mark_pending_many(session, markers[k:k + 1000])
    out.calls = registries.calls - calls0
    if queue_retries and out.undecided:
        queue_retry(session, out.undecided, attempt)
    return out


def queue_retry(session: Session, ids: Sequence[int], attempt: int) -> int:
    """Queue the registry rules again for ``ids`` on the document-rules queue, after the back-off of ``attempt``."""
    ids = sorted(set(ids))
    delay = min(RETRY_BASE_S * 2 ** attempt, RETRY_MAX_S)
    digest = hashlib.sha1(",".join(map(str, ids)).encode()).hexdigest()[:16]
    run_after = session.scalar(text("SELECT now()")) + dt.timedelta(seconds=delay)
    return jobs.enqueue(session, jobs.KIND_DOCUMENT_RULES, f"registry-retry:{digest}",
                        {"waybill_ids": ids, "registry_only": True, "attempt": attempt + 1}, run_after=run_after)

