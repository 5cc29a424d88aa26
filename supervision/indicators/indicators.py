"""The eight indicators of spec/RULES.md §3 per operator and period, computed in SQL over the anomaly ledger.

Every indicator is ``good / total`` × 100 over one kind of unit of the period; with no unit (no denominator) it is
*not applicable* (``None``), never 100. Units of a period ``[first, last]`` (Beijing days, both included), production
data only (sandbox documents and sandbox operators never count):

=======================  ===================================================  =====================================
indicator                units (denominator)                                  a unit is bad when
=======================  ===================================================  =====================================
upload_timeliness        waybills received (``receipt_at``) in the period +   it has an ``INTAKE_LATE``
                         fund flows last paid in the period
intake_quality           messages archived in the period with an outcome      its result code is not 1001 (unless
                         (replays of a used reference excluded)               its ``INTAKE_REJECTED`` was overturned)
fund_matching            the period's waybills                                it has a ``MATCH_*``
vehicle_qualification    distinct vehicles on the period's waybills           a ``QUAL_VEHICLE_*`` on its waybill
                                                                              item or on the vehicle
driver_qualification     distinct drivers on the period's waybills            a ``QUAL_DRIVER_*`` likewise
vehicle_in_network       the heavy ones (≥ 12 t gross mass or tractor Q1x)    ``VEHICLE_NOT_IN_NETWORK`` likewise
                         of those vehicles
trajectory_compliance    the period's waybills with a current verification   a vehicle item's verdict is not PASS
uniqueness               the period's waybills                                it has a ``DUPLICATE_WAYBILL``
=======================  ===================================================  =====================================

An anomaly counts while it stands (``open``, ``appealed``, ``upheld``); ``resolved`` and ``overturned`` ones (a
correction, an appeal won) and ``pending_check`` markers (registry down, not decided) do not.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.beijing import day_bounds
from supervision.configuration import INDICATORS
from supervision.indicators.periods import Period

__all__ = ["COUNTED", "INDICATORS", "NAMES", "OperatorIndicators", "compute"]

#: Anomaly statuses that lower an indicator.
COUNTED = ("open", "appealed", "upheld")
_COUNTED_SQL = "('open', 'appealed', 'upheld')"

#: indicator -> (Chinese, English) name, as spec/RULES.md §3 spells them.
NAMES: dict[str, tuple[str, str]] = {
    "upload_timeliness": ("上传及时率", "upload timeliness"),
    "intake_quality": ("接入合格率", "intake quality"),
    "fund_matching": ("匹配率", "waybill–fund matching"),
    "vehicle_qualification": ("车辆资质合规率", "vehicle qualification"),
    "driver_qualification": ("驾驶员资质合规率", "driver qualification"),
    "vehicle_in_network": ("车辆入网率", "vehicle in network"),
    "trajectory_compliance": ("轨迹合规率", "trajectory compliance"),
    "uniqueness": ("单据唯一性", "uniqueness"),
}

HEAVY_SQL = "(x.gross_mass_t >= 12 OR upper(coalesce(x.vehicle_type, '')) LIKE 'Q1%')"

# The period's production waybills of the operators asked about (the CTE every indicator starts from). The
# operator list is an array parameter (never NULL: :func:`compute` resolves "all"), so no join order depends on
# row estimates; the anomaly look-ups below are index probes per unit (ix_anomaly_document_id), which stays fast
# when the planner's statistics lag behind a bulk load.
BASE_CTES = """
ops AS (SELECT unnest(CAST(:ops AS bigint[])) AS id),
w AS MATERIALIZED (
  SELECT w.id, w.operator_id FROM waybill w
  WHERE w.operator_id = ANY(CAST(:ops AS bigint[])) AND NOT w.is_sandbox
    AND w.receipt_at >= :t0 AND w.receipt_at < :t1
)"""


def _standing(kind: str, doc: str, code_sql: str, extra: str = "") -> str:
    """SQL: the standing anomalies of ``code_sql`` on the document ``kind`` whose id is ``doc`` (an index probe)."""
    return (f"SELECT a.id, a.code FROM anomaly a WHERE a.document_kind = '{kind}' AND a.document_id = {doc} "
            f"AND a.status IN {_COUNTED_SQL} AND ({code_sql}){extra}")


_VEHICLE_CODES = "a.code LIKE 'QUAL\\_VEHICLE%' OR a.code = 'VEHICLE_NOT_IN_NETWORK'"
_DRIVER_CODES = "a.code LIKE 'QUAL\\_DRIVER%'"
# item-level keys ``waybill:<id>:<seq>`` name the item; evidence may name the plate / licence, or list the
# vehicles / drivers concerned in ``documents`` (supervision.rules.qualifications: ``{"kind": "vehicle", "id": …}``
# — the platform's report id, or the shared row's id with ``sharedRow``); without such a list the anomaly concerns
# every vehicle / driver of the waybill.
_ITEM = " AND split_part(a.document_key, ':', 3) IN ('', v.seq::text)"


def _listed(kind: str, shared: str, report_match: str) -> str:
    return (f" AND (NOT coalesce(a.evidence -> 'documents', '[]'::jsonb) @> '[{{\"kind\": \"{kind}\"}}]'"
            f" OR EXISTS (SELECT 1 FROM jsonb_array_elements(a.evidence -> 'documents') doc"
            f" WHERE doc ->> 'kind' = '{kind}' AND CASE WHEN doc ? 'sharedRow'"
            f" THEN (doc ->> 'id')::bigint = {shared}"
            f" ELSE EXISTS (SELECT 1 FROM {kind}_report r WHERE r.id = (doc ->> 'id')::bigint AND {report_match})"
            f" END))")


_VEHICLE_LISTED = _listed("vehicle", "v.vehicle_id", "r.vehicle_number = v.vehicle_number")
_DRIVER_LISTED = _listed("driver", "v.driver_id", "r.driving_license = v.driving_license")

# The vehicle items and driver items of those waybills, and the standing anomalies that concern them: one on the
# waybill (or its item) or one on the vehicle / driver record itself.
PARTY_CTES = f"""
wv AS MATERIALIZED (
  SELECT w.operator_id, v.waybill_id, v.seq, v.vehicle_id, v.vehicle_number,
         coalesce(v.vehicle_id::text, v.vehicle_number || '/' || v.plate_color) AS vkey
  FROM w JOIN waybill_vehicle v ON v.waybill_id = w.id
),
wd AS MATERIALIZED (
  SELECT w.operator_id, v.waybill_id, v.seq, d.driver_id, d.driving_license,
         coalesce(d.driver_id::text, d.driving_license) AS dkey
  FROM w JOIN waybill_vehicle v ON v.waybill_id = w.id JOIN waybill_driver d ON d.waybill_vehicle_id = v.id
),
vbad AS MATERIALIZED (
  SELECT v.operator_id, v.vkey, a.id AS anomaly_id, a.code
  FROM wv v CROSS JOIN LATERAL (
    {_standing("waybill", "v.waybill_id", _VEHICLE_CODES, _ITEM + _VEHICLE_LISTED +
               " AND coalesce(a.evidence ->> 'vehicleNumber', v.vehicle_number) = v.vehicle_number")}
    UNION ALL {_standing("vehicle", "v.vehicle_id", _VEHICLE_CODES)}) a
),
dbad AS MATERIALIZED (
  SELECT v.operator_id, v.dkey, a.id AS anomaly_id, a.code
  FROM wd v CROSS JOIN LATERAL (
    {_standing("waybill", "v.waybill_id", _DRIVER_CODES, _ITEM + _DRIVER_LISTED +
               " AND coalesce(a.evidence ->> 'drivingLicense', v.driving_license) = v.driving_license")}
    UNION ALL {_standing("driver", "v.driver_id", _DRIVER_CODES)}) a
),
vk AS MATERIALIZED (
  SELECT k.operator_id, k.vkey, k.vehicle_id,
         EXISTS (SELECT 1 FROM vehicle x WHERE x.id = k.vehicle_id AND {HEAVY_SQL})
         OR EXISTS (SELECT 1 FROM vehicle_report x WHERE x.vehicle_id = k.vehicle_id AND NOT x.is_sandbox
                    AND {HEAVY_SQL}) AS heavy,
         bool_or(b.code LIKE 'QUAL\\_VEHICLE%') AS unqualified,
         bool_or(b.code = 'VEHICLE_NOT_IN_NETWORK') AS off_network
  FROM (SELECT operator_id, vkey, max(vehicle_id) AS vehicle_id FROM wv GROUP BY 1, 2) k
  LEFT JOIN vbad b ON b.operator_id = k.operator_id AND b.vkey = k.vkey
  GROUP BY k.operator_id, k.vkey, k.vehicle_id
)"""


def _flag(code_sql: str) -> str:
    return f"EXISTS ({_standing('waybill', 'w.id', code_sql)})"


_LATE, _UNMATCHED, _DUPLICATE = (_flag("a.code = 'INTAKE_LATE'"), _flag("a.code LIKE 'MATCH\\_%'"),
                                 _flag("a.code = 'DUPLICATE_WAYBILL'"))
_FF_LATE = _standing("fund_flow", "f.id", "a.code = 'INTAKE_LATE'")


_SQL = text(f"""
WITH {BASE_CTES},
ws AS (
  SELECT w.operator_id, count(*) AS waybills,
         count(*) FILTER (WHERE NOT {_LATE}) AS timely,
         count(*) FILTER (WHERE NOT {_UNMATCHED}) AS matched,
         count(*) FILTER (WHERE NOT {_DUPLICATE}) AS unique_
  FROM w GROUP BY w.operator_id
),
fs AS (
  SELECT f.operator_id, count(*) AS fund_flows,
         count(*) FILTER (WHERE NOT EXISTS ({_FF_LATE})) AS timely
  FROM fund_flow f
  WHERE f.operator_id = ANY(CAST(:ops AS bigint[])) AND NOT f.is_sandbox
    AND coalesce(f.last_paid_at, f.send_to_pro_at) >= :t0 AND coalesce(f.last_paid_at, f.send_to_pro_at) < :t1
  GROUP BY f.operator_id
),
ms AS (
  SELECT m.operator_id, count(*) AS messages,
         count(*) FILTER (WHERE m.result_code = 1001 OR EXISTS (
           SELECT 1 FROM anomaly a WHERE a.document_kind = 'message' AND a.document_id = m.id
             AND a.code = 'INTAKE_REJECTED' AND a.status IN ('overturned', 'resolved'))) AS accepted
  FROM message m
  WHERE m.operator_id = ANY(CAST(:ops AS bigint[])) AND NOT m.is_sandbox AND m.duplicate_of IS NULL
    AND m.result_code IS NOT NULL AND m.received_at >= :t0 AND m.received_at < :t1
  GROUP BY m.operator_id
),
{PARTY_CTES},
vs AS (
  SELECT operator_id, count(*) AS vehicles,
         count(*) FILTER (WHERE NOT coalesce(unqualified, false)) AS qualified,
         count(*) FILTER (WHERE heavy) AS heavy,
         count(*) FILTER (WHERE heavy AND NOT coalesce(off_network, false)) AS in_network
  FROM vk GROUP BY operator_id
),
ds AS (
  SELECT k.operator_id, count(*) AS drivers, count(*) FILTER (WHERE NOT k.bad) AS qualified
  FROM (SELECT wd.operator_id, wd.dkey, bool_or(b.anomaly_id IS NOT NULL) AS bad
        FROM wd LEFT JOIN dbad b ON b.operator_id = wd.operator_id AND b.dkey = wd.dkey
        GROUP BY wd.operator_id, wd.dkey) k
  GROUP BY k.operator_id
),
ts AS (
  SELECT t.operator_id, count(*) AS verified, count(*) FILTER (WHERE t.pass) AS passed
  FROM (SELECT w.operator_id, w.id, bool_and(v.verdict = 'PASS') AS pass
        FROM w JOIN verification v ON v.waybill_id = w.id AND v.current GROUP BY w.operator_id, w.id) t
  GROUP BY t.operator_id
)
SELECT ops.id AS operator_id,
       coalesce(ws.waybills, 0) AS waybills,
       coalesce(ws.timely, 0) + coalesce(fs.timely, 0) AS upload_timeliness_good,
       coalesce(ws.waybills, 0) + coalesce(fs.fund_flows, 0) AS upload_timeliness_total,
       coalesce(ms.accepted, 0) AS intake_quality_good, coalesce(ms.messages, 0) AS intake_quality_total,
       coalesce(ws.matched, 0) AS fund_matching_good, coalesce(ws.waybills, 0) AS fund_matching_total,
       coalesce(vs.qualified, 0) AS vehicle_qualification_good,
       coalesce(vs.vehicles, 0) AS vehicle_qualification_total,
       coalesce(ds.qualified, 0) AS driver_qualification_good, coalesce(ds.drivers, 0) AS driver_qualification_total,
       coalesce(vs.in_network, 0) AS vehicle_in_network_good, coalesce(vs.heavy, 0) AS vehicle_in_network_total,
       coalesce(ts.passed, 0) AS trajectory_compliance_good, coalesce(ts.verified, 0) AS trajectory_compliance_total,
       coalesce(ws.unique_, 0) AS uniqueness_good, coalesce(ws.waybills, 0) AS uniqueness_total
FROM ops
LEFT JOIN ws ON ws.operator_id = ops.id LEFT JOIN fs ON fs.operator_id = ops.id
LEFT JOIN ms ON ms.operator_id = ops.id LEFT JOIN vs ON vs.operator_id = ops.id
LEFT JOIN ds ON ds.operator_id = ops.id LEFT JOIN ts ON ts.operator_id = ops.id
ORDER BY ops.id
""")


@dataclass(frozen=True)
class OperatorIndicators:
    """One operator's eight indicators over a period: ``counts[indicator] = (good, total)``."""

    operator_id: int
    waybills: int
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)

    def value(self, indicator: str) -> float | None:
        """0–100, or None when the indicator has no denominator (not applicable)."""
        good, total = self.counts[indicator]
        return None if total == 0 else 100.0 * good / total


def production_operators(db_session: Session) -> list[int]:
    """Every operator a ranking lists: production ones (sandbox platforms are joint tests, not ranked)."""
    return list(db_session.execute(text("SELECT id FROM operator WHERE NOT is_sandbox ORDER BY id")).scalars())


def bounds(period: Period) -> dict[str, dt.datetime]:
    t0, t1 = day_bounds(period.first, period.last)
    return {"t0": t0, "t1": t1}


def compute(db_session: Session, period: Period, operator_ids: list[int] | None = None) -> list[OperatorIndicators]:
    """The indicators of every production operator (or of ``operator_ids``) over ``period``, by operator id."""
    if operator_ids is None:
        operator_ids = production_operators(db_session)
    params = {**bounds(period), "ops": sorted(operator_ids)}
    # The statement's cost estimate crosses jit_above_cost on a real month, and compiling its ~270 functions takes
    # longer (≈ 11 s on 2 cores) than running it (≈ 1.5 s): no JIT for the rest of this transaction.
    db_session.execute(text("SET LOCAL jit = off"))
    out = []
    for r in db_session.execute(_SQL, params).mappings():
        counts = {i: (int(r[f"{i}_good"]), int(r[f"{i}_total"])) for i in INDICATORS}
        out.append(OperatorIndicators(operator_id=r["operator_id"], waybills=int(r["waybills"]), counts=counts))
    return out
