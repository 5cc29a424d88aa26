"""The comprehensive score and the ranking (spec/RULES.md §3), kept in ``indicator_value`` / ``score``.

Score = the weighted mean of the applicable indicators (weights from :mod:`supervision.configuration`; an indicator
without a denominator is left out and named in ``skipped``), rounded to 0.01. Rank by score, ties broken by more
waybills first (equal score and waybills share a rank); the change is against the previous period of equal length
(previous month, quarter, or the same number of days): ``rankChange`` = previous rank − rank (positive: moved up),
``scoreChange`` = score − previous score. Every stored row cites the configuration version that produced it.

A period is computed once and stored; :func:`ranking` recomputes it when it is stale — never computed, another
configuration version, a new operator, or a ``rank_dirty`` mark (migration 0012 triggers: an anomaly new, resolved
or overturned, a waybill, a verification) newer than the stored rows. The ``ranking`` job
(:mod:`supervision.indicators.jobs`) takes the marks and recomputes only the operators concerned in every stored
period containing the marked days; :func:`rebuild` re-derives whole ranges.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from auth.scope import Scope
from supervision import configuration
from supervision.configuration import INDICATORS, Configuration
from supervision.indicators.indicators import NAMES, OperatorIndicators, compute
from supervision.indicators.periods import Period

__all__ = ["Ranking", "RankingRow", "rank_rows", "ranking", "rebuild", "recompute_dirty", "refresh", "score_of"]


def score_of(ind: OperatorIndicators, weights: dict[str, float]) -> tuple[float | None, list[str]]:
    """Weighted mean of the applicable indicators, and the indicators skipped for want of a denominator.

    >>> ind = OperatorIndicators(1, 4, {i: (0, 0) for i in INDICATORS} | {"uniqueness": (3, 4)})
    >>> score_of(ind, configuration.DEFAULTS["indicator_weights"])[0]
    75.0
    """
    total_w = acc = 0.0
    skipped = []
    for i in INDICATORS:
        v, w = ind.value(i), float(weights.get(i, 0))
        if v is None:
            if w > 0:
                skipped.append(i)
            continue
        total_w += w
        acc += w * v
    return (round(acc / total_w, 2) if total_w > 0 else None), skipped


_UPSERT_VALUE = text("""
    INSERT INTO indicator_value (operator_id, period_start, period_end, indicator, value, numerator, denominator,
                                 config_version, computed_at)
    VALUES (:operator_id, :first, :last, :indicator, :value, :numerator, :denominator, :config_version, now())
    ON CONFLICT (operator_id, period_start, period_end, indicator) DO UPDATE
    SET value = excluded.value, numerator = excluded.numerator, denominator = excluded.denominator,
        config_version = excluded.config_version, computed_at = now()
""")
_UPSERT_SCORE = text("""
    INSERT INTO score (operator_id, period_start, period_end, score, rank, waybills, config_version, skipped,
                       computed_at)
    VALUES (:operator_id, :first, :last, :score, NULL, :waybills, :config_version, :skipped, now())
    ON CONFLICT (operator_id, period_start, period_end) DO UPDATE
    SET score = excluded.score, waybills = excluded.waybills, config_version = excluded.config_version,
        skipped = excluded.skipped, computed_at = now()
""")
# Rank among scored rows: score desc, then more waybills first; exact ties share the rank.
_RERANK = text("""
    UPDATE score s SET rank = r.rnk
    FROM (SELECT operator_id,
                 CASE WHEN score IS NULL THEN NULL
                      ELSE rank() OVER (PARTITION BY score IS NULL ORDER BY score DESC, waybills DESC) END AS rnk
          FROM score WHERE period_start = :first AND period_end = :last) r
    WHERE s.operator_id = r.operator_id AND s.period_start = :first AND s.period_end = :last
      AND s.rank IS DISTINCT FROM r.rnk
""")
_CHANGES = text("""
    UPDATE score s
    SET previous_rank = p.rank, rank_change = p.rank - s.rank,
        score_change = round(CAST(s.score - p.score AS numeric), 2)
    FROM (SELECT c.operator_id, q.rank, q.score FROM score c
          LEFT JOIN score q ON q.operator_id = c.operator_id AND q.period_start = :pfirst AND q.period_end = :plast
          WHERE c.period_start = :first AND c.period_end = :last) p
    WHERE s.operator_id = p.operator_id AND s.period_start = :first AND s.period_end = :last
""")


def _lock(db_session: Session, period: Period) -> None:
    # one writer per period at a time (the job and a request may both refresh it)
    db_session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
                       {"k": f"ranking:{period.first}:{period.last}"})


def _stored(db_session: Session, period: Period) -> bool:
    return db_session.execute(text("SELECT EXISTS (SELECT 1 FROM score WHERE period_start = :first "
                                   "AND period_end = :last)"), _p(period)).scalar_one()


def _p(period: Period) -> dict[str, Any]:
    return {"first": period.first, "last": period.last}


def _rerank(db_session: Session, period: Period) -> None:
    db_session.execute(_RERANK, _p(period))
    prev = period.previous()
    db_session.execute(_CHANGES, {**_p(period), "pfirst": prev.first, "plast": prev.last})


def refresh(db_session: Session, period: Period, operator_ids: list[int] | None = None,
            cfg: Configuration | None = None) -> int:
    """Recompute and store the indicators and scores of ``period`` (all production operators, or only
    ``operator_ids``), re-rank the period and the change columns of the next one; returns the operators computed.
    The previous period is computed first when it is not stored (the change needs it)."""
    cfg = cfg or configuration.current(db_session)
    prev = period.previous()
    if not _stored(db_session, prev):
        _write(db_session, prev, None, cfg)
        db_session.execute(_RERANK, _p(prev))
    n = _write(db_session, period, operator_ids, cfg)
    _rerank(db_session, period)
    nxt = period.next()
    if _stored(db_session, nxt):
        db_session.execute(_CHANGES, {**_p(nxt), "pfirst": period.first, "plast": period.last})
    return n


def _write(db_session: Session, period: Period, operator_ids: list[int] | None, cfg: Configuration) -> int:
    _lock(db_session, period)
    results = compute(db_session, period, operator_ids)
    weights = cfg.values["indicator_weights"]
    values, scores = [], []
    for r in results:
        for i in INDICATORS:
            good, total = r.counts[i]
            values.append({"operator_id": r.operator_id, **_p(period), "indicator": i, "value": r.value(i),
                           "numerator": good if total else None, "denominator": total or None,
                           "config_version": cfg.version})
        score, skipped = score_of(r, weights)
        scores.append({"operator_id": r.operator_id, **_p(period), "score": score, "waybills": r.waybills,
                       "config_version": cfg.version, "skipped": skipped})
    if values:
        db_session.execute(_UPSERT_VALUE, values)
        db_session.execute(_UPSERT_SCORE, scores)
    return len(results)


_STALE = text("""
    SELECT NOT EXISTS (SELECT 1 FROM score WHERE period_start = :first AND period_end = :last)
        OR EXISTS (SELECT 1 FROM score WHERE period_start = :first AND period_end = :last
                   AND config_version <> :version)
        OR EXISTS (SELECT 1 FROM operator o WHERE NOT o.is_sandbox AND NOT EXISTS (
                     SELECT 1 FROM score s WHERE s.operator_id = o.id AND s.period_start = :first
                       AND s.period_end = :last))
        OR EXISTS (SELECT 1 FROM rank_dirty d JOIN score s ON s.operator_id = d.operator_id
                     AND s.period_start = :first AND s.period_end = :last
                   WHERE d.day BETWEEN :first AND :last AND d.marked_at > s.computed_at)
""")


def stale(db_session: Session, period: Period, cfg: Configuration) -> bool:
    """Whether the stored ranking of ``period`` must be recomputed before it is shown."""
    return db_session.execute(_STALE, {**_p(period), "version": cfg.version}).scalar_one()


@dataclass
class RankingRow:
    """One operator's line of a ranking."""

    operator_id: int
    operator_name: str
    division_code: str | None
    waybills: int
    indicators: dict[str, dict[str, Any]]
    score: float | None
    rank: int | None  # within the rows the scope sees (a county ranks its own operators)
    province_rank: int | None
    previous_rank: int | None
    rank_change: int | None
    score_change: float | None
    skipped: list[str]
    config_version: int

    def as_wire(self) -> dict[str, Any]:
        return {"operatorId": self.operator_id, "operatorName": self.operator_name,
                "divisionCode": self.division_code, "waybills": self.waybills, "score": self.score,
                "rank": self.rank, "provinceRank": self.province_rank, "previousRank": self.previous_rank,
                "rankChange": self.rank_change, "scoreChange": self.score_change, "skipped": self.skipped,
                "configVersion": self.config_version, "indicators": self.indicators}


@dataclass
class Ranking:
    """A period's ranking as one scope sees it."""

    period: Period
    previous: Period
    config_version: int
    weights: dict[str, float]
    rows: list[RankingRow] = field(default_factory=list)
    computed_at: dt.datetime | None = None

    def as_wire(self) -> dict[str, Any]:
        return {"period": self.period.label, "from": self.period.first, "to": self.period.last,
                "previousPeriod": {"period": self.previous.label, "from": self.previous.first,
                                   "to": self.previous.last},
                "configVersion": self.config_version, "weights": self.weights, "computedAt": self.computed_at,
                "indicatorNames": {k: {"zh": v[0], "en": v[1]} for k, v in NAMES.items()},
                "total": len(self.rows), "items": [r.as_wire() for r in self.rows]}


_ROWS = text("""
    SELECT s.operator_id, o.name, o.division_code, s.waybills, s.score, s.rank, s.previous_rank, s.rank_change,
           s.score_change, coalesce(s.skipped, '{}') AS skipped, s.config_version, s.computed_at,
           p.score AS previous_score
    FROM score s JOIN operator o ON o.id = s.operator_id
    LEFT JOIN score p ON p.operator_id = s.operator_id AND p.period_start = :pfirst AND p.period_end = :plast
    WHERE s.period_start = :first AND s.period_end = :last AND NOT o.is_sandbox
""")
_VALUES = text("""
    SELECT operator_id, indicator, value, numerator, denominator FROM indicator_value
    WHERE period_start = :first AND period_end = :last
""")


def rank_rows(rows: list[dict[str, Any]], score_key: str = "score") -> dict[int, int | None]:
    """Rank dicts by score (desc) then waybills (desc), exact ties sharing the rank; unscored rows get None.

    >>> rank_rows([{"operator_id": 1, "score": 80, "waybills": 5}, {"operator_id": 2, "score": 80, "waybills": 9},
    ...            {"operator_id": 3, "score": 80, "waybills": 9}, {"operator_id": 4, "score": None, "waybills": 1}])
    {2: 1, 3: 1, 1: 3, 4: None}
    """
    scored = sorted((r for r in rows if r[score_key] is not None),
                    key=lambda r: (-r[score_key], -r["waybills"], r["operator_id"]))
    out: dict[int, int | None] = {}
    prev_key, prev_rank = None, 0
    for n, r in enumerate(scored, 1):
        key = (r[score_key], r["waybills"])
        prev_rank = prev_rank if key == prev_key else n
        prev_key = key
        out[r["operator_id"]] = prev_rank
    for r in rows:
        out.setdefault(r["operator_id"], None)
    return out


def ranking(db_session: Session, scope: Scope, first: dt.date, last: dt.date, *,
            period: Period | None = None) -> Ranking:
    """The ranking of ``[first, last]`` as ``scope`` sees it (computed and stored first when stale).

    Regulators of a city or county see the operators registered there, ranked among themselves (``rank``) with
    their province rank beside it; an operator sees its own row only; admin, province and analysts see every
    operator (a ranking is an aggregate per operator, no personal data).
    """
    period = period or Period(first, last)
    prev = period.previous()
    cfg = configuration.current(db_session)
    prev_refreshed = False
    if stale(db_session, prev, cfg):
        _write(db_session, prev, None, cfg)
        _rerank(db_session, prev)
        prev_refreshed = True
    if stale(db_session, period, cfg):
        refresh(db_session, period, cfg=cfg)
    elif prev_refreshed:
        _rerank(db_session, period)
    params = {**_p(period), "pfirst": prev.first, "plast": prev.last}
    raw = [dict(r) for r in db_session.execute(_ROWS, params).mappings()]
    raw = [r for r in raw if scope.allows(r["operator_id"], r["division_code"])]
    values: dict[int, dict[str, dict[str, Any]]] = {}
    for v in db_session.execute(_VALUES, _p(period)).mappings():
        values.setdefault(v["operator_id"], {})[v["indicator"]] = {
            "value": None if v["value"] is None else round(v["value"], 2),
            "good": None if v["numerator"] is None else int(v["numerator"]),
            "total": int(v["denominator"] or 0)}
    local = scope.operator_id is None and bool(scope.division_prefix)
    ranks = rank_rows(raw) if local else {r["operator_id"]: r["rank"] for r in raw}
    prev_ranks = (rank_rows([{**r, "waybills": r["waybills"]} for r in raw if r["previous_score"] is not None],
                            "previous_score") if local else {})
    rows = []
    for r in raw:
        rank = ranks[r["operator_id"]]
        prank = prev_ranks.get(r["operator_id"]) if local else r["previous_rank"]
        rows.append(RankingRow(
            operator_id=r["operator_id"], operator_name=r["name"], division_code=r["division_code"],
            waybills=r["waybills"], indicators={i: values.get(r["operator_id"], {}).get(
                i, {"value": None, "good": None, "total": 0}) for i in INDICATORS},
            score=r["score"], rank=rank, province_rank=r["rank"], previous_rank=prank,
            rank_change=(prank - rank) if prank is not None and rank is not None else None,
            score_change=None if r["score_change"] is None else float(r["score_change"]),
            skipped=list(r["skipped"]), config_version=r["config_version"]))
    rows.sort(key=lambda x: (x.rank is None, x.rank or 0, -x.waybills, x.operator_id))
    computed = max((r["computed_at"] for r in raw), default=None)
    return Ranking(period=period, previous=prev, config_version=cfg.version,
                   weights=cfg.values["indicator_weights"], rows=rows, computed_at=computed)


def _months(first: dt.date, last: dt.date) -> list[Period]:
    out, d = [], first.replace(day=1)
    while d <= last:
        nxt = dt.date(d.year + (d.month == 12), d.month % 12 + 1, 1)
        p = Period(d, nxt - dt.timedelta(days=1))
        out.append(p)
        d = nxt
    return out


def _quarters(first: dt.date, last: dt.date) -> list[Period]:
    out, d = [], dt.date(first.year, 3 * ((first.month - 1) // 3) + 1, 1)
    while d <= last:
        nxt = dt.date(d.year + (d.month >= 10), (d.month + 2) % 12 + 1, 1)
        out.append(Period(d, nxt - dt.timedelta(days=1)))
        d = nxt
    return out


def rebuild(db_session: Session, first: dt.date, last: dt.date) -> dict[str, Any]:
    """Re-derive every indicator, score and rank touching ``[first, last]``: each month and quarter, and every
    other stored period overlapping it, oldest first (so each change column sees its recomputed predecessor).
    Marks of those days are consumed. Returns what was done (periods, operators, seconds)."""
    import time

    t = time.perf_counter()
    cfg = configuration.current(db_session)
    periods = {(p.first, p.last): p for p in _months(first, last) + _quarters(first, last)}
    for a, b in db_session.execute(text("SELECT DISTINCT period_start, period_end FROM score "
                                        "WHERE period_start <= :last AND period_end >= :first"),
                                   {"first": first, "last": last}):
        periods.setdefault((a, b), Period(a, b))
    # the marks seen before recomputing: one committed meanwhile (its data perhaps unseen) stays for the job
    marks = list(db_session.execute(text("SELECT id FROM rank_dirty WHERE day BETWEEN :first AND :last"),
                                    {"first": first, "last": last}).scalars())
    operators = 0
    for key in sorted(periods, key=lambda k: (k[1] - k[0], k[0])):
        operators += refresh(db_session, periods[key], cfg=cfg)
    db_session.execute(text("DELETE FROM rank_dirty WHERE id = ANY(:ids)"), {"ids": marks})
    return {"periods": [periods[k].label for k in sorted(periods)], "operatorPeriods": operators,
            "configVersion": cfg.version, "seconds": round(time.perf_counter() - t, 3)}


def recompute_dirty(db_session: Session) -> dict[str, Any]:
    """Take every ``rank_dirty`` mark and recompute the marked operators in each stored period containing a marked
    day (re-ranking those periods); periods never stored are left to be computed when first asked for. The marks
    read (and only those) are deleted."""
    marks = db_session.execute(text("SELECT id, operator_id, day FROM rank_dirty")).all()
    if not marks:
        return {"marks": 0, "periods": []}
    first, last = min(m.day for m in marks), max(m.day for m in marks)
    stored = [Period(a, b) for a, b in db_session.execute(text(
        "SELECT DISTINCT period_start, period_end FROM score WHERE period_start <= :last AND period_end >= :first "
        "ORDER BY period_start, period_end"), {"first": first, "last": last})]
    cfg = configuration.current(db_session)
    done = []
    for p in stored:
        ops = sorted({m.operator_id for m in marks if p.contains(m.day)})
        if ops:
            refresh(db_session, p, ops, cfg=cfg)
            done.append({"period": p.label, "operators": ops})
    # Only the marks read: one committed during this run (its data unseen here) stays for the next run.
    db_session.execute(text("DELETE FROM rank_dirty WHERE id = ANY(:ids)"), {"ids": [m.id for m in marks]})
    return {"marks": len(marks), "periods": done}
