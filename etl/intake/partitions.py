"""Day partitions of ``position`` made ahead of the traffic that needs them.

``wlhy_ensure_position_partition`` creates a missing day under one global advisory lock held to the end of the
writer's transaction, so a message that needs a new day stalls every other writer of new days meanwhile.  The
exchange only accepts fixes in [now − ``position_max_age_days``, now + ``position_max_future_s``]
(``etl.schemas.locations.TimeWindow``), so every day platform traffic can need is known: :func:`ensure_ahead`
creates them, one short transaction per day, at app start and daily (``etl.intake.recovery.run_forever``, which
the app and ``wlhy worker`` run).  Normal traffic then never creates a partition itself.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.beijing import BEIJING
from core.config import get_settings

__all__ = ["days_needed", "ensure_ahead"]

log = logging.getLogger(__name__)


def days_needed(today: dt.date, *, days_back: int, days_ahead: int) -> list[dt.date]:
    """Beijing days ``today − days_back`` … ``today + days_ahead``.

    >>> [d.day for d in days_needed(dt.date(2026, 12, 2), days_back=1, days_ahead=2)]
    [1, 2, 3, 4]
    """
    return [today + dt.timedelta(days=k) for k in range(-days_back, days_ahead + 1)]


def ensure_ahead(session_factory: Callable[[], Session], *, today: dt.date | None = None,
                 days_back: int | None = None, days_ahead: int | None = None) -> int:
    """Create the missing ``position`` partitions of the days platform traffic may use; returns how many were new.

    Defaults: Beijing today, the window's ``position_max_age_days`` (+1: the oldest accepted fix may fall on the
    day before) back and ``position_partition_days_ahead`` ahead.  One transaction per day, so the global lock is
    held for one CREATE TABLE at a time; days that exist cost one catalogue look-up.
    """
    settings = get_settings()
    today = today or dt.datetime.now(BEIJING).date()
    days_back = settings.position_max_age_days + 1 if days_back is None else days_back
    days_ahead = settings.position_partition_days_ahead if days_ahead is None else days_ahead
    created = 0
    with session_factory() as session:
        for day in days_needed(today, days_back=days_back, days_ahead=days_ahead):
            name = f"position_p{day:%Y%m%d}"
            if session.scalar(text("SELECT to_regclass(:n) IS NULL"), {"n": name}):
                session.execute(text("SELECT wlhy_ensure_position_partition(:d)"), {"d": day})
                created += 1
            session.commit()
    if created:
        log.info("created %s position day partitions ahead (%s … %s)", created,
                 today - dt.timedelta(days=days_back), today + dt.timedelta(days=days_ahead))
    return created
