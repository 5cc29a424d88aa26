"""The outside registries the qualification rules ask, behind a per-day answer cache (table ``registry_answer``).

``Registries`` wraps the 运政 client (licences, certificates) and the national platform's (入网). Each answer is
kept per (kind, key, Beijing day of asking): a province-day of 70,000 waybills asks each licence, certificate
and plate once, not once per waybill, and a second worker or the daily sweep the same day asks nothing again.
"No such record" is an answer and is cached; an outage is not: :class:`RegistryDown` is raised, and once a system
has failed in this batch it is not asked again (a down registry costs one timeout per batch, not per waybill).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.beijing import BEIJING
from etl.adapters.errors import AdapterError
from etl.adapters.national import NationalPlatformClient
from etl.adapters.yunzheng import YunzhengClient
from store.models import RegistryAnswer

__all__ = ["KEEP_DAYS", "KINDS", "Answer", "Registries", "RegistryDown", "prune"]

#: kind -> outside system answering it
KINDS = {"operator_licence": "yunzheng", "vehicle_certificate": "yunzheng", "driver_certificate": "yunzheng",
         "in_network": "national"}

#: Days of answers kept (the sweep prunes older ones; only today's are ever read).
KEEP_DAYS = 7

SYSTEM_NAMES = {"yunzheng": ("运政", "road-transport registry (运政)"),
                "national": ("全国道路货运车辆公共监管与服务平台", "national freight-vehicle platform")}


class RegistryDown(Exception):
    """The outside system could not answer (down, 5xx, timeout, malformed answer): the rule is not decided."""

    def __init__(self, system: str, why: str) -> None:
        super().__init__(f"{system}: {why}")
        self.system, self.why = system, why


@dataclass(frozen=True)
class Answer:
    """One registry answer: ``found`` false means the registry has no such record; ``record`` its JSON fields
    (``number``, ``holder``, ``validFrom``, ``validTo`` ISO dates or None, ``status``; or ``inNetwork``,
    ``since`` for the national platform)."""

    found: bool
    record: dict[str, Any] | None = None

    def valid_on(self, day: dt.date) -> bool:
        """A certificate's validity on ``day`` (status valid, day within [validFrom, validTo])."""
        r = self.record or {}
        if not self.found or r.get("status") != "valid":
            return False
        lo, hi = r.get("validFrom"), r.get("validTo")
        return (lo is None or dt.date.fromisoformat(lo) <= day) and (hi is None or day <= dt.date.fromisoformat(hi))


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


def _certificate(rec, **extra) -> dict[str, Any]:
    # (a driver's name is not kept: the rules need the ID number, not the name)
    return {"number": rec.number, "holder": rec.holder, "validFrom": _iso(rec.valid_from),
            "validTo": _iso(rec.valid_to), "status": rec.status} | extra


@dataclass
class Registries:
    """The registry clients with the answer cache, for one batch of checks.

    Parameters
    ----------
    yunzheng, national : clients, optional
        Built from the settings (``WLHY_YUNZHENG_URL``, ``WLHY_NATIONAL_URL``) when left out.
    today : date, optional
        The Beijing day answers are cached under (default: today).
    refresh : bool
        Ask again even when today's answer is cached (a regulator who knows the registry was just corrected).
    """

    yunzheng: YunzhengClient | None = None
    national: NationalPlatformClient | None = None
    today: dt.date | None = None
    refresh: bool = False
    cache_engine: Any = None  # write answers in their own short transactions (parallel sweeps: no lock waits)
    calls: int = 0
    down: dict[str, str] = field(default_factory=dict)
    _memo: dict[tuple[str, str], Answer] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._pinned = self.today is not None  # a worker left unpinned follows the calendar (new_batch)
        if self.today is None:
            self.today = dt.datetime.now(BEIJING).date()

    @classmethod
    def from_urls(cls, yunzheng_url: str | None, national_url: str | None, **kw) -> Registries:
        """Clients for these base URLs (None: from the settings), with the settings' call policy."""
        from core.config import get_settings

        s = get_settings()
        policy = {"timeout_s": s.adapter_timeout_s, "retries": s.adapter_retries, "backoff_s": s.adapter_backoff_s}
        return cls(yunzheng=YunzhengClient(yunzheng_url or s.yunzheng_url, **policy),
                   national=NationalPlatformClient(national_url or s.national_url, **policy), **kw)

    def new_batch(self) -> None:
        """Forget which systems were down (the next batch tries them again) and the in-memory answers."""
        self.down.clear()
        self._memo.clear()
        if not self._pinned:
            self.today = dt.datetime.now(BEIJING).date()

    def prefetch(self, session: Session, kind: str, keys: Iterable[str]) -> None:
        """Load today's cached answers for ``keys`` in one query (a batch then asks the table nothing more)."""
        keys = sorted({k for k in keys if k})
        if self.refresh or not keys:
            return
        for row in session.execute(select(RegistryAnswer.key, RegistryAnswer.found, RegistryAnswer.answer).where(
                RegistryAnswer.kind == kind, RegistryAnswer.key.in_(keys), RegistryAnswer.day == self.today)):
            self._memo[(kind, row.key)] = Answer(row.found, row.answer)

    def close(self) -> None:
        for c in (self.yunzheng, self.national):
            if c is not None:
                c.close()

    # ---- the questions the rules ask -------------------------------------------------------------------

    def operator_licence(self, session: Session, permit_number: str) -> Answer:
        return self._ask(session, "operator_licence", permit_number, lambda: self._yz().get_operator_licence(
            permit_number), lambda r: _certificate(r, usci=r.usci))

    def vehicle_certificate(self, session: Session, number: str) -> Answer:
        return self._ask(session, "vehicle_certificate", number, lambda: self._yz().get_vehicle_certificate(
            number), lambda r: _certificate(r, vehicleNumber=r.vehicle_number, plateColor=r.plate_color))

    def driver_certificate(self, session: Session, number: str) -> Answer:
        return self._ask(session, "driver_certificate", number, lambda: self._yz().get_driver_certificate(
            number), lambda r: _certificate(r, holder=None, drivingLicense=r.id_number))

    def in_network(self, session: Session, vehicle_number: str, plate_color: str) -> Answer:
        return self._ask(session, "in_network", f"{vehicle_number}/{plate_color}",
                         lambda: self._nat().get_in_network(vehicle_number, plate_color),
                         lambda r: {"inNetwork": r.in_network, "since": _iso(r.since)})

    # ---- plumbing --------------------------------------------------------------------------------------

    def _yz(self) -> YunzhengClient:
        if self.yunzheng is None:
            self.yunzheng = YunzhengClient.from_settings()
        return self.yunzheng

    def _nat(self) -> NationalPlatformClient:
        if self.national is None:
            self.national = NationalPlatformClient.from_settings()
        return self.national

    def _ask(self, session: Session, kind: str, key: str, call: Callable[[], Any],
             shape: Callable[[Any], dict[str, Any]]) -> Answer:
        memo = self._memo.get((kind, key))
        if memo is not None:
            return memo
        system = KINDS[kind]
        if not self.refresh:
            row = session.execute(select(RegistryAnswer.found, RegistryAnswer.answer).where(
                RegistryAnswer.kind == kind, RegistryAnswer.key == key, RegistryAnswer.day == self.today)).first()
            if row is not None:
                ans = self._memo[(kind, key)] = Answer(row.found, row.answer)
                return ans
        if system in self.down:
            raise RegistryDown(system, self.down[system])
        try:
            self.calls += 1
            rec = call()
        except AdapterError as e:
            # unavailable, timeout, malformed answer, a refused request (a 4xx other than "no such record", e.g. a
            # wrong base URL): undecided, never guessed
            self.down[system] = type(e).__name__
            raise RegistryDown(system, type(e).__name__) from e
        ans = Answer(False, None) if rec is None else Answer(True, shape(rec))
        stmt = insert(RegistryAnswer).values(kind=kind, key=key, day=self.today, found=ans.found,
                                             answer=ans.record)
        stmt = stmt.on_conflict_do_update(
            index_elements=["kind", "key", "day"],
            set_={"found": stmt.excluded.found, "answer": stmt.excluded.answer, "fetched_at": stmt.excluded.fetched_at})
        if self.cache_engine is not None:
            with self.cache_engine.begin() as conn:
                conn.execute(stmt)
        else:
            session.execute(stmt)
        self._memo[(kind, key)] = ans
        return ans


def prune(session: Session, today: dt.date | None = None, keep_days: int = KEEP_DAYS) -> int:
    """Drop cached answers older than ``keep_days`` before ``today``; returns how many went."""
    today = today or dt.datetime.now(BEIJING).date()
    res = session.execute(delete(RegistryAnswer).where(RegistryAnswer.day < today - dt.timedelta(days=keep_days)))
    return res.rowcount or 0
