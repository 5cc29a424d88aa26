"""How long a demo's waybills wait for their verdict: per waybill, from its receipt to its verdict (p50, p95, max),
and when every waybill had one.

Run it beside a ``wlhy demo up`` (same ``WLHY_VAR_DIR`` / ``WLHY_PG_PORT`` / ``WLHY_DATABASE_URL``), during the load
or after it. "Receipt" is when the waybill could first be verified: its message's real arrival
(``message.received_at``; the demo's replay rewrites ``waybill.received_at`` into the past, not the archive) or its
completion (goods receipt + the verifier's 2 h grace), whichever is later; and, since the demo feeds a platform's
fixes after its waybills, also the arrival of the last message of the load ("data in"). "Verdict" is when every
vehicle item of the waybill has a current verification: with ``--watch`` the time this script first saw it
(polled every ``--every`` seconds), otherwise ``verification.verified_at``, which is the start of the verifying
transaction (a batch of 200 waybills shares one: an underestimate by up to a batch's duration).

    .venv/bin/python bench/demo.py --watch            # until every completed waybill has a verdict
    .venv/bin/python bench/demo.py                    # once, from the stored times
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time

import numpy as np
from sqlalchemy import create_engine, text

from store.db import database_url
from trajectories.jobs import GRACE


# Completed production waybills: when they could first be verified, and when all their items had a current verdict.
_WAYBILLS_SQL = text(
    """
    SELECT w.id, greatest(m.received_at, w.receipt_at + :grace) AS ready,
           (SELECT CASE WHEN count(v.id) >= (SELECT count(*) FROM waybill_vehicle i WHERE i.waybill_id = w.id)
                   THEN max(v.verified_at) END
            FROM verification v WHERE v.waybill_id = w.id AND v.current) AS verdict_at
    FROM waybill w LEFT JOIN message m ON m.id = w.message_id
    WHERE NOT w.is_sandbox AND w.receipt_at + :grace <= now()
    """
)
_SPAN_SQL = text("SELECT min(received_at), max(received_at), count(*), now() FROM message")


def _pct(values: list[float]) -> str:
    if not values:
        return "-"
    a = np.asarray(values)
    return f"p50 {np.percentile(a, 50):,.0f} s, p95 {np.percentile(a, 95):,.0f} s, max {a.max():,.0f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--watch", action="store_true", help="poll until every completed waybill has a verdict")
    ap.add_argument("--every", type=float, default=5.0, help="seconds between polls with --watch")
    ap.add_argument("--timeout", type=float, default=3 * 3600, help="give up watching after this many seconds")
    args = ap.parse_args()
    engine = create_engine(database_url())
    seen: dict[int, dt.datetime] = {}  # waybill -> when this script first saw its verdict (--watch)
    t0 = time.monotonic()
    while True:
        with engine.connect() as c:
            rows = c.execute(_WAYBILLS_SQL, {"grace": GRACE}).all()
            first_msg, last_msg, messages, now = c.execute(_SPAN_SQL).one()
        for r in rows:
            if r.verdict_at is not None and r.id not in seen:
                seen[r.id] = now
        done = sum(1 for r in rows if r.verdict_at is not None)
        if not args.watch:
            break
        print(f"{now:%H:%M:%S} messages {messages:,}, completed waybills {len(rows):,}, with a verdict {done:,}, "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
        if rows and done == len(rows) or time.monotonic() - t0 > args.timeout:
            break
        time.sleep(args.every)
    if not rows:
        print("no completed waybill yet")
        return
    verdict = {r.id: (seen.get(r.id) if args.watch else r.verdict_at) for r in rows}
    missing = [r for r in rows if verdict[r.id] is None]
    from_ready = [(verdict[r.id] - r.ready).total_seconds() for r in rows if verdict[r.id] is not None and r.ready]
    from_data = [(verdict[r.id] - max(r.ready, last_msg)).total_seconds() for r in rows
                 if verdict[r.id] is not None and r.ready]
    print(f"completed waybills {len(rows):,}, with a verdict {len(rows) - len(missing):,}, messages {messages:,} "
          f"({first_msg:%H:%M:%S}–{last_msg:%H:%M:%S} UTC), verdict times {'seen by --watch' if args.watch else 'verified_at'}")
    print(f"receipt → verdict: {_pct(from_ready)}")
    print(f"data in (last message of the load) → verdict: {_pct(from_data)}")
    if not missing:
        last = max(verdict.values())
        first = min(verdict.values())
        print(f"every waybill had its verdict at {last:%H:%M:%S} UTC: {(last - first_msg).total_seconds():,.0f} s "
              f"after the first message, {(last - last_msg).total_seconds():,.0f} s after the last; "
              f"{len(rows) / max((last - first).total_seconds(), 1):,.1f} waybills/s between the first and the last "
              f"verdict")
    else:
        print(f"{len(missing):,} completed waybills have no verdict yet")
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
