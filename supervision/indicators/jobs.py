"""The ``ranking`` job: the triggers of migration 0012 mark operator × days in ``rank_dirty`` when an anomaly is new,
resolved or overturned, a waybill arrives or changes, or a verification is stored, and queue one job
(``ranking:dirty``); this handler takes every mark at once and recomputes those operators in the stored periods
containing the marked days (:func:`supervision.indicators.ranking.recompute_dirty`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from store.jobs import KIND_RANKING, Handler
from supervision.indicators.ranking import recompute_dirty

__all__ = ["ranking_handlers", "run_ranking_job"]


def run_ranking_job(session: Session, payload: dict[str, Any]) -> dict[str, Any]:
    """Recompute what the marks name (the payload carries nothing: the marks are the work list)."""
    return recompute_dirty(session)


def ranking_handlers() -> dict[str, Handler]:
    """Handlers for ``store.jobs.Worker`` (``wlhy worker`` joins them to verification's)."""
    return {KIND_RANKING: run_ranking_job}
