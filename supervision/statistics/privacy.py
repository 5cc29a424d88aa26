"""The privacy floor (k-anonymity) of the analysts' statistics: a figure resting on too few vehicles or operators
is not published.

For a scope with ``aggregates_only`` (analysts), every cell, pair or row whose figures rest on fewer than ``k``
distinct vehicles, or (business figures: scale, flows) on fewer than ``k`` distinct operators, is **suppressed**;
the suppressed rows of a table are **merged** into one remainder row ("其他 · other (suppressed)") when the remainder
itself passes the floor, and dropped otherwise. Totals are those of what is published, so no suppressed figure
can be recovered by subtracting the published ones from a total. ``k`` is configuration ``k_anonymity`` (default
5). Regulators, admin and an operator reading its own platform see everything (they may see the documents).

Density rests on vehicles only: BeiDou fixes belong to no operator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from auth.scope import Scope

__all__ = ["DEFAULT_K", "REMAINDER_LABEL", "Floor", "PrivacyReport", "floor", "k_anonymity"]

DEFAULT_K = 5
REMAINDER_LABEL = "其他 · other (suppressed)"


def k_anonymity(session: Session) -> int:
    """``k`` in force: configuration ``k_anonymity`` (helper module ``supervision.configuration``), else 5."""
    try:
        from supervision import configuration

        return int(configuration.get(session, "k_anonymity"))
    except (ImportError, KeyError):
        return DEFAULT_K


@dataclass
class PrivacyReport:
    """What the floor did to an answer (``as_wire`` goes into the answer as ``privacy``)."""

    k: int | None
    basis: tuple[str, ...]
    suppressed: int = 0
    merged: bool = False
    dropped: int = 0

    def as_wire(self) -> dict[str, Any]:
        if self.k is None:
            return {"applied": False}
        how = "merged" if self.merged else ("dropped" if self.suppressed else "none")
        return {"applied": True, "k": self.k, "basis": list(self.basis), "suppressed": self.suppressed,
                "mergedInto": REMAINDER_LABEL if self.merged else None, "method": how,
                "note_zh": f"依据少于 {self.k} 辆不同车辆或 {self.k} 家不同经营者的数据不予公布"
                           + ("（已合并为“其他”一行）" if self.merged else ""),
                "note_en": f"figures resting on fewer than {self.k} distinct vehicles or operators are suppressed"
                           + (" (merged into one 'other' row)" if self.merged else "")}


@dataclass
class Floor:
    """The floor for one answer: ``k`` (None: not applied), and on which distinct counts it rests."""

    k: int | None
    basis: tuple[str, ...] = ("vehicles", "operators")
    report: PrivacyReport = field(init=False)

    def __post_init__(self) -> None:
        self.report = PrivacyReport(self.k, self.basis)

    @property
    def applied(self) -> bool:
        return self.k is not None

    def passes(self, vehicles: int, operators: int | None = None) -> bool:
        """Whether a figure resting on these distinct counts may be published."""
        if self.k is None:
            return True
        if "vehicles" in self.basis and vehicles < self.k:
            return False
        return not ("operators" in self.basis and operators is not None and operators < self.k)

    def apply(
        self,
        rows: Sequence[dict[str, Any]],
        *,
        vehicles: Callable[[dict[str, Any]], set],
        operators: Callable[[dict[str, Any]], set] | None = None,
        merge: Callable[[list[dict[str, Any]]], dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """The publishable rows of ``rows``; the suppressed ones merged by ``merge`` into one remainder row when
        that passes (its distinct sets are the unions), else dropped. Counts go to :attr:`report`."""
        if self.k is None:
            return list(rows)
        kept, out = [], []
        for row in rows:
            ops = operators(row) if operators else None
            (kept if self.passes(len(vehicles(row)), None if ops is None else len(ops)) else out).append(row)
        self.report.suppressed += len(out)
        if out and merge is not None:
            v_all: set = set().union(*(vehicles(r) for r in out))
            o_all: set | None = set().union(*(operators(r) for r in out)) if operators else None
            if self.passes(len(v_all), None if o_all is None else len(o_all)):
                kept.append(merge(out))
                self.report.merged = True
                return kept
        self.report.dropped += len(out)
        return kept


def floor(session: Session, scope: Scope, basis: Iterable[str] = ("vehicles", "operators")) -> Floor:
    """The floor for ``scope``: applied (k from the configuration) for aggregates-only scopes, else not."""
    return Floor(k_anonymity(session) if scope.aggregates_only else None, tuple(basis))
