"""Origin–destination flows (C2) by division (province, city, county) or H3 cell (resolution 5–7), from
``od_flow``: waybills, vehicles, tonnes, tonne-km (with its estimated part) and charges per pair, as rows or as
GeoJSON arcs (LineStrings from the origin's point to the destination's: division points or cell centres).

``od_flow`` keeps county pairs and res-7 cell pairs per operator and day; coarser levels are derived here (code
prefixes, H3 parent masks), so every level adds up to the same totals. Scope: an operator its own flows, a
regulator the flows of the operators registered in its division, analysts with the k-floor (vehicles and
operators).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from auth.scope import Scope
from core.errors import InvalidInputError
from geo import gazetteer, hexes
from supervision.statistics import privacy
from supervision.statistics.rollup import OD_COUNTY_LEVEL, OD_H3_LEVEL, OD_H3_RES
from supervision.statistics.scale import scope_clause

__all__ = ["FLOW_COLUMNS", "H3_RESOLUTIONS", "LEVELS", "flow_features", "flows"]

LEVELS = ("province", "city", "county", "h3")
H3_RESOLUTIONS = (5, 6, 7)
FLOW_COLUMNS = ("origin", "originName", "destination", "destinationName", "waybills", "vehicles", "operators",
                "tonnes", "tonneKm", "tonneKmEstimated", "estimatedShare", "amount", "suppressedPairs",
                "originLon", "originLat", "destinationLon", "destinationLat")


def flows(
    db_session: Session,
    scope: Scope,
    *,
    level: str = "city",
    res: int = 7,
    first: dt.date,
    last: dt.date,
    operator_id: int | None = None,
    limit: int = 5_000,
) -> dict[str, Any]:
    """OD pairs of the period at ``level`` (``h3``: at resolution ``res``), heaviest (tonnes) first.

    Returns
    -------
    dict
        ``rows`` (``FLOW_COLUMNS``; the merged remainder has no origin/destination), ``totals``, ``estimated``,
        ``privacy``, ``truncated``, ``level``, ``res``, ``from``, ``to``.
    """
    if level not in LEVELS:
        raise InvalidInputError(f"level must be one of {list(LEVELS)}; got {level!r}")
    if level == "h3" and res not in H3_RESOLUTIONS:
        raise InvalidInputError(f"res must be one of {list(H3_RESOLUTIONS)}; got {res}")
    if last < first:
        raise InvalidInputError(f"to ({last}) is before from ({first})")
    params: dict[str, Any] = {"d0": first, "d1": last}
    if level == "h3":
        clear, set_ = hexes.parent_masks(res)
        params |= {"clear": clear, "set": set_}
        o_expr = "CAST((CAST(f.origin AS bigint) & :clear) | :set AS text)" if res != OD_H3_RES else "f.origin"
        d_expr = o_expr.replace("origin", "destination")
        params["level"] = OD_H3_LEVEL
    else:
        n = {"province": 2, "city": 4, "county": 6}[level]
        o_expr = f"rpad(left(f.origin, {n}), 6, '0')"
        d_expr = f"rpad(left(f.destination, {n}), 6, '0')"
        params["level"] = OD_COUNTY_LEVEL
    clause, scope_params = scope_clause(scope, "f.operator_id")
    where = ["f.level = :level", "f.day BETWEEN :d0 AND :d1", clause]
    params |= scope_params
    if operator_id is not None:
        where.append("f.operator_id = :op")
        params["op"] = operator_id
    where_sql = " AND ".join(where)
    sums = db_session.execute(text(f"""
        SELECT {o_expr} AS o, {d_expr} AS d, sum(f.waybills) AS waybills, sum(f.tonnes) AS tonnes,
               sum(f.tonne_km) AS tonne_km, sum(f.tonne_km_estimated) AS tonne_km_estimated,
               sum(f.amount) AS amount, array_agg(DISTINCT f.operator_id) AS operators
        FROM od_flow f WHERE {where_sql} GROUP BY 1, 2"""), params).mappings().all()
    keys = {(r["o"], r["d"]): set(r["keys"]) for r in db_session.execute(text(f"""
        SELECT {o_expr} AS o, {d_expr} AS d, array_agg(DISTINCT k) AS keys
        FROM od_flow f CROSS JOIN LATERAL unnest(f.vehicle_keys) AS k WHERE {where_sql} GROUP BY 1, 2"""),
        params).mappings()}
    rows = [{"origin": r["o"], "destination": r["d"], "_vehicles": keys.get((r["o"], r["d"]), set()),
             "_operators": set(r["operators"] or ()), "waybills": int(r["waybills"] or 0),
             "tonnes": float(r["tonnes"] or 0), "tonne_km": float(r["tonne_km"] or 0),
             "tonne_km_estimated": float(r["tonne_km_estimated"] or 0), "amount": float(r["amount"] or 0)}
            for r in sums]
    _locate(rows, level)

    fl = privacy.floor(db_session, scope)
    published = fl.apply(rows, vehicles=lambda r: r["_vehicles"], operators=lambda r: r["_operators"],
                         merge=_merged)
    pairs = sorted((r for r in published if r["origin"] is not None), key=lambda r: (-r["tonnes"], r["origin"],
                                                                                      r["destination"]))
    remainder = [r for r in published if r["origin"] is None]
    ordered = pairs[:limit] + remainder
    totals = _wire(_merged(published, label=False)) if published else _wire(_merged([], label=False))
    for k in ("origin", "originName", "destination", "destinationName", "suppressedPairs", "originLon",
              "originLat", "destinationLon", "destinationLat"):
        totals.pop(k, None)
    return {"level": level, "res": res if level == "h3" else None, "from": first.isoformat(),
            "to": last.isoformat(), "rows": [_wire(r) for r in ordered], "truncated": len(pairs) > limit,
            "totals": totals,
            "estimated": {"tonneKm": totals["tonneKmEstimated"], "share": totals["estimatedShare"]},
            "privacy": fl.report.as_wire()}


def _locate(rows: list[dict[str, Any]], level: str) -> None:
    """Each end's point and name: the division's (gazetteer) or the cell centre."""
    if level == "h3":
        for end in ("origin", "destination"):
            cells = np.array([int(r[end]) for r in rows], dtype=np.int64)
            lon, lat = hexes.cells_to_points(cells)
            names = hexes.cell_to_str(cells) if len(cells) else []
            for r, x, y, name in zip(rows, lon, lat, names, strict=True):
                r[end + "_lon"], r[end + "_lat"], r[end] = float(x), float(y), str(name)
                r[end + "_name"] = None
        return
    for r in rows:
        for end in ("origin", "destination"):
            d = gazetteer.get(r[end]) if r[end] else None
            r[end + "_lon"] = d.lon if d else None
            r[end + "_lat"] = d.lat if d else None
            r[end + "_name"] = d.name if d else None


def _merged(rows: list[dict[str, Any]], label: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"origin": None, "destination": None, "_vehicles": set(), "_operators": set(),
                           "waybills": 0, "tonnes": 0.0, "tonne_km": 0.0, "tonne_km_estimated": 0.0, "amount": 0.0}
    for r in rows:
        out["_vehicles"] |= r["_vehicles"]
        out["_operators"] |= r["_operators"]
        for k in ("waybills", "tonnes", "tonne_km", "tonne_km_estimated", "amount"):
            out[k] += r[k]
    out["suppressedPairs"] = len(rows) if label else None
    out["origin_name"] = privacy.REMAINDER_LABEL if label else None
    return out


def _wire(r: dict[str, Any]) -> dict[str, Any]:
    tkm = r["tonne_km"]
    return {"origin": r["origin"], "originName": r.get("origin_name"), "destination": r["destination"],
            "destinationName": r.get("destination_name"), "waybills": r["waybills"],
            "vehicles": len(r["_vehicles"]), "operators": len(r["_operators"]), "tonnes": round(r["tonnes"], 3),
            "tonneKm": round(tkm, 3), "tonneKmEstimated": round(r["tonne_km_estimated"], 3),
            "estimatedShare": round(r["tonne_km_estimated"] / tkm, 4) if tkm else 0.0,
            "amount": round(r["amount"], 2), "suppressedPairs": r.get("suppressedPairs"),
            "originLon": _r6(r.get("origin_lon")), "originLat": _r6(r.get("origin_lat")),
            "destinationLon": _r6(r.get("destination_lon")), "destinationLat": _r6(r.get("destination_lat"))}


def _r6(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 6)


def flow_features(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """GeoJSON features of a :func:`flows` answer: one LineString arc per pair (origin → destination; a pair
    within one division or cell is a Point), the merged remainder with no geometry."""
    features = []
    for row in answer["rows"]:
        a = (row["originLon"], row["originLat"])
        b = (row["destinationLon"], row["destinationLat"])
        if None in a or None in b:
            geometry = None
        elif a == b:
            geometry = {"type": "Point", "coordinates": list(a)}
        else:
            geometry = {"type": "LineString", "coordinates": [list(a), list(b)]}
        props = {k: v for k, v in row.items() if k not in ("originLon", "originLat", "destinationLon",
                                                             "destinationLat")}
        features.append({"type": "Feature", "geometry": geometry, "properties": props})
    return features
