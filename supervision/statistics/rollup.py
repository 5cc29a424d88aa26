"""The business-scale and OD roll-ups: ``stat_daily`` and ``od_flow`` re-derived per operator × Beijing day.

A waybill counts on the Beijing day of its receipt (when it is complete), under its loading division, its operator
and its main cargo type (the heaviest goods line). Production data only: sandbox (joint-test) waybills never count.

Tonne-km per vehicle item = the item's tonnes × its distance. The distance is the length of the item's verified
trajectory (current verification PASS or SUSPECT; the source with the better coverage, BeiDou on a tie) when
there is one; otherwise the great-circle distance between the loading and the receipt division points × the
detour factor (configuration ``detour_factor`` when the configuration has it, else :data:`DETOUR_FACTOR`),
counted as *estimated* (``tonne_km_estimated``, ``waybills_estimated``) so every answer says how much of its
tonne-km is an estimate. A FAIL verdict's track is not used: it contradicts the waybill.

Capacity (active vehicles, drivers) and the privacy floor need distinct counts that survive any grouping over any
period, so each row keeps the distinct vehicle and driver keys (``hashtextextended`` of plate:colour and of the
licence, 64 bits; a collision among a province's vehicles is improbable, ~1e-10 for 100k of them).

Incremental: triggers (migration 0013) mark ``stat_dirty`` when a waybill version or a verification arrives and
queue one ``statistics`` job; :func:`refresh_dirty` drains it. :func:`rebuild` re-derives a whole date range.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.beijing import day_bounds
from geo import gazetteer, hexes
from geo.distance import haversine_m

__all__ = ["DETOUR_FACTOR", "OD_H3_LEVEL", "OD_H3_RES", "RollupCounts", "derive", "detour_factor", "rebuild",
           "refresh", "refresh_dirty"]

#: Road distance ÷ great-circle distance assumed where no verified trajectory exists (China's trunk roads ~1.2–1.4).
DETOUR_FACTOR = 1.3
#: OD flows by H3 cell are kept at this resolution; resolutions 5 and 6 are its parents (bit masks, in SQL).
OD_H3_RES = 7
OD_H3_LEVEL = "h3r7"
OD_COUNTY_LEVEL = "county"

_ITEMS_SQL = """
SELECT w.id AS waybill_id, w.operator_id, CAST(w.receipt_at AT TIME ZONE 'Asia/Shanghai' AS date) AS day,
       w.loading_division_code AS division_code, w.total_amount AS amount,
       iv.id AS item_id, iv.loading_division_code AS o_div, iv.receipt_division_code AS d_div,
       ST_X(iv.loading_geom) AS o_lon, ST_Y(iv.loading_geom) AS o_lat,
       ST_X(iv.receipt_geom) AS d_lon, ST_Y(iv.receipt_geom) AS d_lat,
       hashtextextended(iv.vehicle_number || ':' || iv.plate_color, 0) AS vehicle_key,
       coalesce(g.kg, iv.weight_kg, 0) AS kg, g.cargo, tr.length_m AS measured_m, dr.keys AS driver_keys
FROM waybill w
JOIN waybill_vehicle iv ON iv.waybill_id = w.id
LEFT JOIN LATERAL (
    SELECT sum(weight_kg) AS kg,
           (array_agg(cargo_type_code ORDER BY weight_kg DESC, cargo_type_code))[1] AS cargo
    FROM waybill_goods WHERE waybill_vehicle_id = iv.id) g ON true
LEFT JOIN LATERAL (
    SELECT t.length_m FROM verification v JOIN trajectory t ON t.waybill_vehicle_id = v.waybill_vehicle_id
    WHERE v.waybill_id = w.id AND v.waybill_vehicle_id = iv.id AND v.current  -- waybill_id: the indexed column
      AND v.verdict IN ('PASS', 'SUSPECT') AND t.length_m > 0
    ORDER BY t.coverage DESC NULLS LAST, t.source DESC LIMIT 1) tr ON true
LEFT JOIN LATERAL (
    SELECT array_agg(DISTINCT hashtextextended(driving_license, 0)) AS keys
    FROM waybill_driver WHERE waybill_vehicle_id = iv.id) dr ON true
WHERE NOT w.is_sandbox AND w.receipt_at >= :t0 AND w.receipt_at < :t1 {extra}
"""

_STAT_COLUMNS = ("day", "operator_id", "division_code", "cargo_type_code", "waybills", "vehicles", "drivers",
                 "tonnes", "tonne_km", "amount", "waybills_estimated", "tonne_km_estimated", "vehicle_keys",
                 "driver_keys")
_OD_COLUMNS = ("day", "level", "origin", "destination", "operator_id", "waybills", "vehicles", "tonnes",
               "tonne_km", "amount", "tonne_km_estimated", "vehicle_keys")


@dataclass
class RollupCounts:
    """What a roll-up wrote."""

    days: int = 0
    waybills: int = 0
    stat_rows: int = 0
    od_rows: int = 0
    density_rows: int = 0

    def add(self, other: RollupCounts) -> None:
        for k in ("days", "waybills", "stat_rows", "od_rows", "density_rows"):
            setattr(self, k, getattr(self, k) + getattr(other, k))


def detour_factor(session: Session) -> float:
    """The detour factor in force: configuration ``detour_factor`` when the configuration knows it, else 1.3."""
    try:
        from supervision import configuration

        return float(configuration.get(session, "detour_factor"))
    except (ImportError, KeyError):
        return DETOUR_FACTOR


def _division_points() -> tuple[dict[str, float], dict[str, float]]:
    table = gazetteer.divisions()
    return dict(zip(table["code"], table["lon"], strict=True)), dict(zip(table["code"], table["lat"], strict=True))


def _items(session: Session, t0: dt.datetime, t1: dt.datetime,
           pairs: list[tuple[int, dt.date]] | None) -> pd.DataFrame:
    params: dict = {"t0": t0, "t1": t1}
    extra = ""
    if pairs is not None:
        extra = ("AND (w.operator_id, CAST(w.receipt_at AT TIME ZONE 'Asia/Shanghai' AS date)) IN "
                 "(SELECT * FROM unnest(CAST(:ops AS bigint[]), CAST(:days AS date[])))")
        params |= {"ops": [p[0] for p in pairs], "days": [p[1] for p in pairs]}
    result = session.execute(text(_ITEMS_SQL.format(extra=extra)), params)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def derive(items: pd.DataFrame, detour: float = DETOUR_FACTOR) -> tuple[list[tuple], list[tuple]]:
    """``stat_daily`` and ``od_flow`` rows (tuples in ``_STAT_COLUMNS`` / ``_OD_COLUMNS`` order) from vehicle
    items (the columns of the items query).

    Pure (no database): the bench and the tests feed it directly.
    """
    if items.empty:
        return [], []
    df = items.copy()
    df["kg"] = df["kg"].astype(float)
    df["tonnes"] = df["kg"] / 1000.0
    lon_by, lat_by = _division_points()
    o_lon = df["o_div"].map(lon_by).astype(float).fillna(df["o_lon"].astype(float))
    o_lat = df["o_div"].map(lat_by).astype(float).fillna(df["o_lat"].astype(float))
    d_lon = df["d_div"].map(lon_by).astype(float).fillna(df["d_lon"].astype(float))
    d_lat = df["d_div"].map(lat_by).astype(float).fillna(df["d_lat"].astype(float))
    straight_km = np.nan_to_num(haversine_m(o_lon.to_numpy(), o_lat.to_numpy(), d_lon.to_numpy(),
                                            d_lat.to_numpy()) / 1000.0)
    measured_km = df["measured_m"].astype(float).to_numpy() / 1000.0
    estimated = np.isnan(measured_km)
    km = np.where(estimated, straight_km * detour, measured_km)
    df["tonne_km"] = df["tonnes"].to_numpy() * km
    df["tonne_km_estimated"] = np.where(estimated, df["tonne_km"], 0.0)
    df["estimated"] = estimated
    # a waybill's amount spread over its items by weight (equally when nothing is weighed): OD rows add up
    df["amount"] = df["amount"].astype(float)
    w_kg = df.groupby("waybill_id")["kg"].transform("sum")
    n_items = df.groupby("waybill_id")["kg"].transform("size")
    df["item_amount"] = np.where(w_kg > 0, df["amount"] * df["kg"] / w_kg.where(w_kg > 0, 1), df["amount"] / n_items)

    # --- stat_daily: per waybill first (one main cargo type), then per group
    heaviest = df.sort_values(["waybill_id", "kg", "cargo"], ascending=[True, False, True], na_position="last")
    cargo = heaviest.drop_duplicates("waybill_id").set_index("waybill_id")["cargo"].fillna("")
    df["cargo_type_code"] = df["waybill_id"].map(cargo)
    df["division_code"] = df["division_code"].fillna("")
    group = ["day", "operator_id", "division_code", "cargo_type_code"]
    sums = df.groupby(group, sort=True).agg(
        waybills=("waybill_id", "nunique"), tonnes=("tonnes", "sum"), tonne_km=("tonne_km", "sum"),
        amount=("item_amount", "sum"), tonne_km_estimated=("tonne_km_estimated", "sum"))
    est = df[df["estimated"]].groupby(group)["waybill_id"].nunique().rename("waybills_estimated")
    vkeys = _key_sets(df, group, "vehicle_key")
    drivers = df[group + ["driver_keys"]].explode("driver_keys").dropna(subset=["driver_keys"])
    dkeys = _key_sets(drivers, group, "driver_keys")
    stat = sums.join(est).join(vkeys.rename("vehicle_keys")).join(dkeys.rename("driver_keys")).reset_index()
    stat["waybills_estimated"] = stat["waybills_estimated"].fillna(0).astype(int)
    for col in ("vehicle_keys", "driver_keys"):
        stat[col] = [v if isinstance(v, list) else [] for v in stat[col]]
    stat["vehicles"] = stat["vehicle_keys"].map(len)
    stat["drivers"] = stat["driver_keys"].map(len)
    stat_rows = _records(stat, _STAT_COLUMNS)

    # --- od_flow: per vehicle item, by county pair and by res-7 cell pair
    o_cell = hexes.points_to_cells(df["o_lon"].astype(float).to_numpy(), df["o_lat"].astype(float).to_numpy(),
                                   OD_H3_RES)
    d_cell = hexes.points_to_cells(df["d_lon"].astype(float).to_numpy(), df["d_lat"].astype(float).to_numpy(),
                                   OD_H3_RES)
    county = df.assign(level=OD_COUNTY_LEVEL, origin=df["o_div"].fillna(""), destination=df["d_div"].fillna(""))
    cells = df.assign(level=OD_H3_LEVEL, origin=o_cell.astype(str), destination=d_cell.astype(str))
    cells = cells[(o_cell > 0) & (d_cell > 0)]
    od = pd.concat([county, cells], ignore_index=True)
    og = ["day", "level", "origin", "destination", "operator_id"]
    osums = od.groupby(og, sort=True).agg(
        waybills=("waybill_id", "nunique"), tonnes=("tonnes", "sum"), tonne_km=("tonne_km", "sum"),
        amount=("item_amount", "sum"), tonne_km_estimated=("tonne_km_estimated", "sum"))
    ostat = osums.join(_key_sets(od, og, "vehicle_key").rename("vehicle_keys")).reset_index()
    ostat["vehicles"] = ostat["vehicle_keys"].map(len)
    return stat_rows, _records(ostat, _OD_COLUMNS)


def _records(frame: pd.DataFrame, columns: tuple[str, ...]) -> list[tuple]:
    """Rows as tuples of plain Python values in ``columns`` order, sums rounded to the columns' 3 decimals."""
    values = []
    for col in columns:
        series = frame[col]
        if col in ("tonnes", "tonne_km", "amount", "tonne_km_estimated"):
            series = series.astype(float).round(3)
        values.append(series.tolist())
    return list(zip(*values, strict=True))


def _key_sets(df: pd.DataFrame, group: list[str], column: str) -> pd.Series:
    """Sorted distinct keys per group, as lists (numpy: one sort and split, no Python call per group)."""
    uniq = df[group + [column]].drop_duplicates()
    if uniq.empty:
        return pd.Series([], index=pd.MultiIndex.from_tuples([], names=group), dtype=object)
    grouped = uniq.groupby(group, sort=True)
    codes = grouped.ngroup().to_numpy()
    keys = uniq[column].to_numpy(dtype=np.int64)
    order = np.lexsort((keys, codes))
    parts = np.split(keys[order], np.flatnonzero(np.diff(codes[order])) + 1)
    return pd.Series([p.tolist() for p in parts], index=grouped.size().index, dtype=object)


def _write(session: Session, stat_rows: list[tuple], od_rows: list[tuple]) -> None:
    """COPY the rows in (a day of a province is tens of thousands of rows: COPY, not INSERT per row)."""
    raw = session.connection().connection.driver_connection
    for table, columns, rows in (("stat_daily", _STAT_COLUMNS, stat_rows), ("od_flow", _OD_COLUMNS, od_rows)):
        if not rows:
            continue
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row(row)


def refresh(session: Session, pairs: Iterable[tuple[int, dt.date]]) -> RollupCounts:
    """Re-derive ``stat_daily`` and ``od_flow`` for these operator × Beijing days (replacing what was there).

    The caller commits.
    """
    pairs = sorted({(int(o), d) for o, d in pairs})
    if not pairs:
        return RollupCounts()
    ops = [p[0] for p in pairs]
    days = [p[1] for p in pairs]
    for table in ("stat_daily", "od_flow"):
        session.execute(text(f"DELETE FROM {table} WHERE (operator_id, day) IN "
                             "(SELECT * FROM unnest(CAST(:ops AS bigint[]), CAST(:days AS date[])))"),
                        {"ops": ops, "days": days})
    t0, t1 = day_bounds(min(days), max(days))
    items = _items(session, t0, t1, pairs)
    stat_rows, od_rows = derive(items, detour_factor(session))
    _write(session, stat_rows, od_rows)
    return RollupCounts(days=len(set(days)), waybills=int(items["waybill_id"].nunique()) if len(items) else 0,
                        stat_rows=len(stat_rows), od_rows=len(od_rows))


def refresh_dirty(session: Session, *, batch: int = 500) -> RollupCounts:
    """Drain ``stat_dirty``: re-derive every marked operator × day, ``batch`` at a time (``SKIP LOCKED``: two
    workers share the work). The caller commits; a failure rolls the marks back with it, so nothing is lost."""
    total = RollupCounts()
    while True:
        taken = session.execute(text(
            "DELETE FROM stat_dirty WHERE id IN (SELECT id FROM stat_dirty ORDER BY id LIMIT :n "
            "FOR UPDATE SKIP LOCKED) RETURNING operator_id, day"), {"n": batch}).all()
        if not taken:
            return total
        pairs = {(r.operator_id, r.day) for r in taken}
        # the same operator-day marked again by rows not in this batch: drained now too
        session.execute(text("DELETE FROM stat_dirty WHERE (operator_id, day) IN "
                             "(SELECT * FROM unnest(CAST(:ops AS bigint[]), CAST(:days AS date[])))"),
                        {"ops": [p[0] for p in pairs], "days": [p[1] for p in pairs]})
        total.add(refresh(session, pairs))


def rebuild(
    db_session: Session,
    first: dt.date,
    last: dt.date,
    *,
    density: bool = True,
    on_day: Callable[[dt.date, RollupCounts], None] | None = None,
) -> RollupCounts:
    """Re-derive every statistic of the Beijing days ``first``..``last``: scale, OD flows and (unless told not
    to) the density roll-up; one day at a time, ``on_day(day, counts)`` after each (progress). The caller commits.
    """
    if last < first:
        raise ValueError(f"last ({last}) is before first ({first})")
    from supervision.statistics.density import rollup_density

    total = RollupCounts()
    detour = detour_factor(db_session)
    day = first
    while day <= last:
        db_session.execute(text("DELETE FROM stat_daily WHERE day = :d"), {"d": day})
        db_session.execute(text("DELETE FROM od_flow WHERE day = :d"), {"d": day})
        db_session.execute(text("DELETE FROM stat_dirty WHERE day = :d"), {"d": day})
        t0, t1 = day_bounds(day)
        items = _items(db_session, t0, t1, None)
        stat_rows, od_rows = derive(items, detour)
        _write(db_session, stat_rows, od_rows)
        counts = RollupCounts(days=1, waybills=int(items["waybill_id"].nunique()) if len(items) else 0,
                              stat_rows=len(stat_rows), od_rows=len(od_rows))
        if density:
            counts.density_rows = rollup_density(db_session, day)
        total.add(counts)
        if on_day is not None:
            on_day(day, counts)
        day += dt.timedelta(days=1)
    return total
