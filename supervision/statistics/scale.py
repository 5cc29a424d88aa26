"""Business scale (C2): capacity, completed waybills, tonnes, tonne-km, freight charges by day or month ×
operator × division × cargo type, from ``stat_daily`` (kept by :mod:`supervision.statistics.rollup`).

Who sees what (the ``Scope``): regulators the business of the operators registered in their division (wherever it
was loaded; ``division`` narrows to a loading division), an operator its own platform's figures only (no province
totals), analysts aggregates with the k-floor (:mod:`supervision.statistics.privacy`).
Vehicles and drivers are distinct counts over the whole row (period × group), never sums of daily counts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from auth.scope import NOWHERE, Scope
from core.errors import InvalidInputError
from geo import gazetteer
from supervision.statistics import privacy

__all__ = ["DIVISION_LEVELS", "GROUPS", "SCALE_COLUMNS", "division_prefix", "scale", "scope_clause"]

GROUPS = ("operator", "division", "cargo")
DIVISION_LEVELS = {"province": 2, "city": 4, "county": 6}
#: The wire columns of a scale row, in order (CSV too).
SCALE_COLUMNS = ("period", "operatorId", "operatorName", "divisionCode", "divisionName", "cargoTypeCode",
                 "waybills", "vehicles", "drivers", "tonnes", "tonneKm", "tonneKmEstimated", "estimatedShare",
                 "waybillsEstimated", "amount", "suppressedRows")


def division_prefix(code: str | None) -> str:
    """The leading digits a GB/T 2260 code stands for: ``340000`` → ``34``, ``340100`` → ``3401``."""
    if not code:
        return ""
    if not (len(code) == 6 and code.isdigit()):
        raise InvalidInputError(f"division must be a 6-digit GB/T 2260 code; got {code!r}")
    for n in (2, 4):
        if code[n:] == "0" * (6 - n):
            return code[:n]
    return code


def scope_clause(scope: Scope, column: str) -> tuple[str, dict[str, Any]]:
    """SQL restricting an operator-id column to what ``scope`` sees (as ``Scope.operator_filter``: an operator its
    own platform, a regulator the operators registered in its division, others all)."""
    if scope.operator_id is not None:
        return f"{column} = :scope_op", {"scope_op": scope.operator_id}
    if scope.division_prefix == NOWHERE:
        return "false", {}
    if scope.division_prefix:
        return (f"{column} IN (SELECT id FROM operator WHERE division_code LIKE :scope_div)",
                {"scope_div": scope.division_prefix + "%"})
    return "true", {}


def _filters(scope: Scope, division: str | None, operator_id: int | None) -> tuple[list[str], dict[str, Any]]:
    clause, params = scope_clause(scope, "s.operator_id")
    where = ["s.day BETWEEN :d0 AND :d1", clause]
    if division:
        where.append("s.division_code LIKE :div")
        params["div"] = division_prefix(division) + "%"
    if operator_id is not None:
        where.append("s.operator_id = :op")
        params["op"] = operator_id
    return where, params


def scale(
    db_session: Session,
    scope: Scope,
    *,
    first: dt.date,
    last: dt.date,
    by: str = "day",
    group: Sequence[str] = (),
    division: str | None = None,
    operator_id: int | None = None,
    division_level: str = "county",
) -> dict[str, Any]:
    """Scale rows per period × the chosen groups, with totals, the estimated share and the privacy report.

    Parameters
    ----------
    by : {"day", "month"}
    group : subset of ("operator", "division", "cargo")
    division : str, optional
        Only business loaded in this division (6-digit code; a city or the province code covers its children).
    operator_id : int, optional
        Only this operator (an operator's user sees its own whatever it asks).
    division_level : {"county", "city", "province"}
        Granularity of the ``division`` group.

    Returns
    -------
    dict
        ``rows`` (``SCALE_COLUMNS``), ``totals`` (of the published rows), ``estimated`` (count and share of
        estimated tonne-km), ``privacy`` (what the k-floor suppressed or merged), ``from``, ``to``, ``by``, ``group``.
    """
    if by not in ("day", "month"):
        raise InvalidInputError(f"by must be day or month; got {by!r}")
    bad = [g for g in group if g not in GROUPS]
    if bad:
        raise InvalidInputError(f"group must be among {list(GROUPS)}; got {bad}")
    if division_level not in DIVISION_LEVELS:
        raise InvalidInputError(f"divisionLevel must be one of {list(DIVISION_LEVELS)}; got {division_level!r}")
    if last < first:
        raise InvalidInputError(f"to ({last}) is before from ({first})")
    group = [g for g in GROUPS if g in group]
    n = DIVISION_LEVELS[division_level]
    dims = {"operator": "s.operator_id", "division": f"rpad(left(s.division_code, {n}), 6, '0')",
            "cargo": "s.cargo_type_code"}
    period = "s.day" if by == "day" else "CAST(date_trunc('month', s.day) AS date)"
    select_dims = ", ".join([f"{period} AS period"] + [f"{dims[g]} AS {g}" for g in group])
    group_by = ", ".join(str(i + 1) for i in range(len(group) + 1))
    where, params = _filters(scope, division, operator_id)
    params |= {"d0": first, "d1": last}
    where_sql = " AND ".join(where)
    sums = db_session.execute(text(f"""
        SELECT {select_dims}, sum(s.waybills) AS waybills, sum(s.tonnes) AS tonnes, sum(s.tonne_km) AS tonne_km,
               sum(s.amount) AS amount, sum(s.waybills_estimated) AS waybills_estimated,
               sum(s.tonne_km_estimated) AS tonne_km_estimated, array_agg(DISTINCT s.operator_id) AS operators
        FROM stat_daily s WHERE {where_sql} GROUP BY {group_by} ORDER BY {group_by}"""), params).mappings().all()
    sets: dict[str, dict[tuple, set]] = {}
    for name, column in (("vehicles", "vehicle_keys"), ("drivers", "driver_keys")):
        found = db_session.execute(text(f"""
            SELECT {select_dims}, array_agg(DISTINCT k) AS keys
            FROM stat_daily s CROSS JOIN LATERAL unnest(s.{column}) AS k
            WHERE {where_sql} GROUP BY {group_by}"""), params).mappings().all()
        sets[name] = {tuple(r[c] for c in ["period", *group]): set(r["keys"]) for r in found}

    rows = []
    for r in sums:
        key = tuple(r[c] for c in ["period", *group])
        rows.append({"period": r["period"], **{g: r[g] for g in group},
                     "_vehicles": sets["vehicles"].get(key, set()), "_drivers": sets["drivers"].get(key, set()),
                     "_operators": set(r["operators"] or ()), "waybills": int(r["waybills"] or 0),
                     "tonnes": float(r["tonnes"] or 0), "tonne_km": float(r["tonne_km"] or 0),
                     "amount": float(r["amount"] or 0), "waybills_estimated": int(r["waybills_estimated"] or 0),
                     "tonne_km_estimated": float(r["tonne_km_estimated"] or 0)})

    fl = privacy.floor(db_session, scope)
    published = fl.apply(rows, vehicles=lambda r: r["_vehicles"], operators=lambda r: r["_operators"],
                         merge=lambda out: _merged(out, group))
    names = _operator_names(db_session, {r.get("operator") for r in published} - {None})
    wire = [_wire(r, by, names) for r in published]
    totals = _wire(_merged(published, group, label=None) if published else _empty(), by, names)
    for k in ("period", "operatorId", "operatorName", "divisionCode", "divisionName", "cargoTypeCode",
              "suppressedRows"):
        totals.pop(k, None)
    return {"from": first.isoformat(), "to": last.isoformat(), "by": by, "group": group, "rows": wire,
            "totals": totals,
            "estimated": {"waybills": totals["waybillsEstimated"], "tonneKm": totals["tonneKmEstimated"],
                          "share": totals["estimatedShare"],
                          "method": "great-circle distance between the division points × detour factor, where "
                                    "no verified trajectory exists"},
            "privacy": fl.report.as_wire()}


def _empty() -> dict[str, Any]:
    return {"period": None, "_vehicles": set(), "_drivers": set(), "_operators": set(), "waybills": 0,
            "tonnes": 0.0, "tonne_km": 0.0, "amount": 0.0, "waybills_estimated": 0, "tonne_km_estimated": 0.0}


def _merged(rows: list[dict[str, Any]], group: Sequence[str], label: str | None = privacy.REMAINDER_LABEL
            ) -> dict[str, Any]:
    out = _empty()
    for r in rows:
        for k in ("_vehicles", "_drivers", "_operators"):
            out[k] = out[k] | r[k]
        for k in ("waybills", "tonnes", "tonne_km", "amount", "waybills_estimated", "tonne_km_estimated"):
            out[k] += r[k]
    out["period"] = label
    for g in group:
        out[g] = None
    out["suppressedRows"] = len(rows) if label else None
    return out


def _operator_names(session: Session, ids: set) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(text("SELECT id, name FROM operator WHERE id = ANY(:ids)"), {"ids": list(ids)}).all()
    return {r.id: r.name for r in rows}


def _wire(r: dict[str, Any], by: str, names: dict[int, str]) -> dict[str, Any]:
    period = r.get("period")
    if isinstance(period, dt.date):
        period = period.isoformat() if by == "day" else period.strftime("%Y-%m")
    div = r.get("division")
    division = gazetteer.get(div) if div else None
    tkm = r["tonne_km"]
    return {"period": period, "operatorId": r.get("operator"), "operatorName": names.get(r.get("operator")),
            "divisionCode": div, "divisionName": division.name if division else None,
            "cargoTypeCode": r.get("cargo"), "waybills": r["waybills"], "vehicles": len(r["_vehicles"]),
            "drivers": len(r["_drivers"]), "tonnes": round(r["tonnes"], 3), "tonneKm": round(tkm, 3),
            "tonneKmEstimated": round(r["tonne_km_estimated"], 3),
            "estimatedShare": round(r["tonne_km_estimated"] / tkm, 4) if tkm else 0.0,
            "waybillsEstimated": r["waybills_estimated"], "amount": round(r["amount"], 2),
            "suppressedRows": r.get("suppressedRows")}
