"""The demo is a replay of past days: its documents are received when the generator planned to send them.

The generator writes a province for past days (``GeneratorConfig.start``, 30 days) and plans when each waybill and
fund flow is sent (``sendAt``; ``sendToProDateTime`` is that time minus 0–59 s), sending 2 % of them more than
24 h late on purpose (the ``INTAKE_LATE`` ground truth). The feed then pushes the whole province through
``/exchange`` in minutes, weeks after those days, and the province stamps ``received_at`` with the real arrival:
every demo document would read as late (upload timeliness 0 for every platform, intake alarms for all).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from simulation.demo.files import read_jsonl
from store import jobs
from store.models import Operator, SystemMeta

__all__ = ["REPLAY_DELAY", "REPLAY_META_KEY", "ReplayResult", "replay_received_times"]

#: ``system_meta`` key recording the data set (manifest digest) whose documents were replayed.
REPLAY_META_KEY = "demo_replay"
#: Received = sendToProDateTime + this: the generator's planned send is 0–59 s after sendToProDateTime.
REPLAY_DELAY = dt.timedelta(seconds=60)
#: Documents per re-check job (the document rules are set-based over a job's ids).
_RECHECK_CHUNK = 500

# Only move a document earlier: an already replayed one (or one the province really received in time) is left.
# Each row's intake job (key ``waybill:<id>`` / ``fund_flow:<id>``, etl.intake.pipeline) still pending means
# the rules have not seen it yet and will see the replayed time; any other moved row was checked with the feed's
# time and is re-checked.
_REPLAY_SQL = {
    kind: text(f"""
        WITH moved AS (
            UPDATE {kind} SET received_at = send_to_pro_at + :delay
            WHERE operator_id = ANY(:operators) AND NOT is_sandbox AND received_at > send_to_pro_at + :delay
            RETURNING id)
        SELECT m.id, NOT EXISTS (SELECT 1 FROM job j WHERE j.kind = :job_kind AND j.status = 'pending'
                                  AND j.key = '{kind}:' || m.id) AS checked
        FROM moved m ORDER BY m.id""")
    for kind in ("waybill", "fund_flow")
}


@dataclass
class ReplayResult:
    """What :func:`replay_received_times` did: documents moved per table, re-check jobs queued, or skipped."""

    skipped: bool = False
    waybills: int = 0
    fund_flows: int = 0
    rechecked: int = 0
    recheck_jobs: int = 0


def replay_received_times(session: Session, data_dir: Path, digest: str) -> ReplayResult:
    """Record each of the data set's waybills and fund flows as received when the generator planned to send it.

    After the feed and before the document rules run, ``received_at`` (what ``INTAKE_LATE`` compares with the
    goods receipt or the last payment, spec/RULES.md §1) of the data set's platforms' production documents is set
    to ``sendToProDateTime`` + :data:`REPLAY_DELAY`, so the replayed province is late exactly where the generator
    sent late. Only the demo does this, once per data set (recorded in ``system_meta`` under
    :data:`REPLAY_META_KEY`; a data set loaded before this step existed is replayed on the next load). The
    archive of messages keeps the real arrival time; production never rewrites ``received_at``.

    Documents the rules already checked with the feed's time (a worker ran during the load, or the data set was
    loaded before this step existed) get a document-rules job (supervision.rules.jobs) over their ids, which
    re-runs every rule and resolves the stale ``INTAKE_LATE``; the others still have intake's pending job. The
    caller commits.
    """
    done = session.get(SystemMeta, REPLAY_META_KEY)
    if done is not None and done.value.get("manifest_sha256") == digest:
        return ReplayResult(skipped=True)
    uscis = [rec["unifiedSocialCreditIdentifier"] for rec in read_jsonl(data_dir / "operators.jsonl")]
    operators = list(session.scalars(select(Operator.id).where(Operator.usci.in_(uscis))))
    result = ReplayResult()
    for kind, ids_key in (("waybill", "waybill_ids"), ("fund_flow", "fund_flow_ids")):
        rows = session.execute(_REPLAY_SQL[kind], {"delay": REPLAY_DELAY, "operators": operators,
                                                   "job_kind": jobs.KIND_DOCUMENT_RULES}).all()
        if kind == "waybill":
            result.waybills = len(rows)
        else:
            result.fund_flows = len(rows)
        stale = [r.id for r in rows if r.checked]
        for k in range(0, len(stale), _RECHECK_CHUNK):
            chunk = stale[k:k + _RECHECK_CHUNK]
            jobs.enqueue(session, jobs.KIND_DOCUMENT_RULES, f"demo-replay:{kind}:{chunk[0]}-{chunk[-1]}",
                         {ids_key: chunk})
            result.recheck_jobs += 1
        result.rechecked += len(stale)
    value = {"manifest_sha256": digest, "waybills": result.waybills, "fundFlows": result.fund_flows}
    session.execute(insert(SystemMeta).values(key=REPLAY_META_KEY, value=value)
                    .on_conflict_do_update(index_elements=["key"], set_={"value": value}))
    return result
