"""The demo's statistics and ranking after a fresh load: what ``wlhy stats rebuild`` does, over the demo's days.

The intake triggers mark every loaded waybill's operator × day, so the worker would drain them too, but the
BeiDou bulk load marks nothing (density) and the ranking computes only the periods stored; one rebuild of the data
set's days makes the dashboard and ``/api/v1/stats``, ``/api/v1/rankings`` answer from the start. It is recorded in
``system_meta`` with the data set's digest, so a run interrupted before it finished rebuilds on the next start.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from simulation.demo.load import DEMO_META_KEY
from store.models import SystemMeta

__all__ = ["ROLLUP_META_KEY", "demo_days", "needs_rollup", "roll_up"]

ROLLUP_META_KEY = "demo_rollup"


def _digest(session: Session, key: str) -> str | None:
    value = session.scalar(select(SystemMeta.value).where(SystemMeta.key == key))
    return (value or {}).get("manifest_sha256")


def needs_rollup(session: Session) -> bool:
    """True when the loaded data set has not been rolled up yet (a fresh load, or a rebuild cut short)."""
    loaded = _digest(session, DEMO_META_KEY)
    return loaded is not None and _digest(session, ROLLUP_META_KEY) != loaded


def demo_days(session: Session) -> tuple[dt.date, dt.date] | None:
    """The Beijing days the demo's waybills span, first despatch to last receipt (None without waybills)."""
    row = session.execute(text(
        "SELECT min(CAST(despatch_at AT TIME ZONE 'Asia/Shanghai' AS date)), "
        "       max(CAST(receipt_at AT TIME ZONE 'Asia/Shanghai' AS date)) FROM waybill WHERE NOT is_sandbox")).one()
    return None if row[0] is None else (min(row[0], row[1]), max(row[0], row[1]))


def roll_up(session_factory: Callable[[], Session], *, say: Callable[[str], object] = print) -> dict | None:
    """Rebuild statistics (scale, OD flows, density), then indicators, scores and rankings over the demo's days,
    one committed day at a time, saying each day's progress; returns the figures (None without waybills)."""
    from supervision.indicators import rebuild as rebuild_indicators
    from supervision.statistics.rollup import RollupCounts, rebuild

    t0 = time.perf_counter()
    with session_factory() as s:
        days = demo_days(s)
        loaded = _digest(s, DEMO_META_KEY)
    if days is None:
        return None
    first, last = days
    n = (last - first).days + 1
    say(f"statistics: rolling up {n} days {first} – {last} (GET /api/v1/stats/scale, /stats/flows, /stats/density)")
    total = RollupCounts()
    day = first
    while day <= last:  # a committed transaction per day, as `wlhy stats rebuild` does
        with session_factory() as s:
            c = rebuild(s, day, day)
            s.commit()
        total.add(c)
        say(f"statistics: {day} done ({(day - first).days + 1}/{n}, {c.waybills} waybills, "
            f"{c.stat_rows} scale rows, {c.od_rows} OD rows, {c.density_rows} density cells)")
        day += dt.timedelta(days=1)
    with session_factory() as s:
        ranked = rebuild_indicators(s, first, last)
        s.execute(insert(SystemMeta).values(key=ROLLUP_META_KEY, value={"manifest_sha256": loaded})
                  .on_conflict_do_update(index_elements=["key"], set_={"value": {"manifest_sha256": loaded}}))
        s.commit()
    seconds = time.perf_counter() - t0
    say(f"rankings: {len(ranked.get('periods', []))} periods ({', '.join(ranked.get('periods', []))}), "
        f"{ranked.get('operatorPeriods', 0)} operator-periods, configuration v{ranked.get('configVersion')} "
        f"(GET /api/v1/rankings?from={first}&to={last}); roll-up done in {seconds:.1f} s")
    return {"first": first, "last": last, "days": total.days, "waybills": total.waybills,
            "statRows": total.stat_rows, "odRows": total.od_rows, "densityRows": total.density_rows,
            "periods": ranked.get("periods", []), "seconds": round(seconds, 1)}
