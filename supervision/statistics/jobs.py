"""The statistics roll-up on the job queue: triggers (migration 0013) mark the operator × days a waybill version
or a verification touched in ``stat_dirty`` and queue one ``statistics`` job; this handler drains the marks."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from store.jobs import KIND_STATISTICS, Handler

__all__ = ["statistics_handlers"]


def _refresh(session: Session, payload: dict[str, Any]) -> dict[str, int]:
    from supervision.statistics.rollup import refresh_dirty

    counts = refresh_dirty(session, batch=int(payload.get("batch", 500)))
    return {"days": counts.days, "waybills": counts.waybills, "stat_rows": counts.stat_rows,
            "od_rows": counts.od_rows}


def statistics_handlers() -> dict[str, Handler]:
    """Handlers of the statistics jobs, to join verification's and the document rules' in ``wlhy worker``."""
    return {KIND_STATISTICS: _refresh}
