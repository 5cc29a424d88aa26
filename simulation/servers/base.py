"""Pieces every third-party simulator shares: fault switch, error answers, in-memory tables, admin loading.

Admin and health endpoints are never affected by faults, so a test can always switch a fault off again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Body, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from etl.adapters._http import NOT_FOUND_CODE
from etl.adapters.records import WireRecord

__all__ = [
    "FaultIn",
    "SimError",
    "Table",
    "add_admin_records",
    "new_app",
    "not_found",
    "read_jsonl",
    "registry_app",
]


class FaultIn(BaseModel):
    """Body of ``POST /admin/faults``."""

    mode: Literal["ok", "down", "slow", "error"]
    delay_s: float = Field(0.0, ge=0, le=600)
    status: int | None = Field(None, ge=400, le=599)


class SimError(Exception):
    """Raised by a simulator handler to answer ``{"code": ..., "message": ...}`` with `status`."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def not_found(what: str, key: object) -> SimError:
    """The error a simulator answers when it has no such record (clients map it to ``None``)."""
    return SimError(404, NOT_FOUND_CODE, f"no {what} {key}")


class Table:
    """An in-memory table of wire records: a primary key and optional secondary (non-unique) indexes.

    Parameters
    ----------
    model : type[WireRecord]
        The record's wire shape (``etl.adapters.records``): validates incoming records; stored records are
        its JSON dump (camelCase, extras kept).
    key : callable
        Record -> primary key; a record with an existing key replaces the old one.
    indexes : dict of name -> callable, optional
        Record -> secondary key, for lookups by another field (plate + colour, USCI, ID number).
    """

    def __init__(
        self,
        model: type[WireRecord],
        key: Callable[[dict], Any],
        indexes: dict[str, Callable[[dict], Any]] | None = None,
    ):
        self.model = model
        self._key = key
        self.rows: dict[Any, dict] = {}
        self._indexes = indexes or {}
        self._by: dict[str, dict[Any, dict[Any, dict]]] = {name: {} for name in self._indexes}

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, records: list[Any]) -> int:
        """Validate and upsert `records`; return how many were stored. Raises ``ValidationError``."""
        valid = self.model.dump_many(records)
        for rec in valid:
            pk = self._key(rec)
            old = self.rows.get(pk)
            if old is not None:
                for name, fn in self._indexes.items():
                    self._by[name].get(fn(old), {}).pop(pk, None)
            self.rows[pk] = rec
            for name, fn in self._indexes.items():
                self._by[name].setdefault(fn(rec), {})[pk] = rec
        return len(valid)

    def get(self, pk: Any) -> dict | None:
        return self.rows.get(pk)

    def get_or_raise(self, pk: Any, what: str) -> dict:
        """The record with primary key `pk`, or raise the NOT_FOUND ``SimError`` naming `what`."""
        rec = self.rows.get(pk)
        if rec is None:
            raise not_found(what, pk)
        return rec

    def find(self, index: str, value: Any) -> list[dict]:
        """Every record whose `index` key equals `value`."""
        return list(self._by[index].get(value, {}).values())


def read_jsonl(path: Path) -> list[dict]:
    """Records of a JSON-lines file; a missing file is an empty list (not every run writes every kind)."""
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def new_app(title: str, description: str) -> FastAPI:
    """A FastAPI app with the fault switch (``/admin/faults``), ``/health`` and ``SimError`` answers."""
    app = FastAPI(title=title, description=description)
    app.state.fault = FaultIn(mode="ok")
    # Business requests seen (faulted ones included), so checks can count a client's retries.
    app.state.requests = 0

    @app.exception_handler(SimError)
    async def _sim_error(request: Request, exc: SimError) -> JSONResponse:
        return JSONResponse({"code": exc.code, "message": exc.message}, status_code=exc.status)

    @app.middleware("http")
    async def _faults(request: Request, call_next):
        fault: FaultIn = app.state.fault
        if request.url.path.startswith("/admin") or request.url.path == "/health":
            return await call_next(request)
        app.state.requests += 1
        if fault.mode == "ok":
            return await call_next(request)
        if fault.mode == "down":
            return JSONResponse(
                {"code": "UNAVAILABLE", "message": f"{title} is down (simulated)"},
                status_code=fault.status or 503,
            )
        if fault.mode == "error":
            return JSONResponse(
                {"code": "INTERNAL_ERROR", "message": f"{title} failed (simulated)"},
                status_code=fault.status or 500,
            )
        # "slow": asyncio.sleep keeps the event loop free for admin calls while this request waits.
        await asyncio.sleep(fault.delay_s)
        return await call_next(request)

    @app.get("/health")
    async def _health() -> dict:
        return {"status": "ok", "fault": app.state.fault.mode, "requests": app.state.requests}

    @app.get("/admin/faults")
    async def _get_faults() -> FaultIn:
        return app.state.fault

    @app.post("/admin/faults")
    async def _set_faults(fault: FaultIn) -> FaultIn:
        app.state.fault = fault
        return fault

    return app


def add_admin_records(app: FastAPI, tables: dict[str, Table]) -> None:
    """Add ``POST /admin/records/{kind}`` and ``POST /admin/records?kind=``: upsert a JSON list of records.

    With a single table, ``kind`` may be left out.
    """

    def _load(kind: str | None, records: list[Any]) -> JSONResponse:
        if kind is None and len(tables) == 1:
            kind = next(iter(tables))
        if kind not in tables:
            raise SimError(400, "UNKNOWN_KIND", f"kind must be one of {sorted(tables)}, got {kind!r}")
        try:
            n = tables[kind].add(records)
        except ValidationError as exc:
            return JSONResponse(
                {
                    "code": "INVALID_RECORD",
                    "message": str(exc),
                    "errors": json.loads(exc.json(include_url=False)),
                },
                status_code=422,
            )
        return JSONResponse({"kind": kind, "loaded": n, "total": len(tables[kind])})

    @app.post("/admin/records/{kind}")
    async def _records_kind(kind: str, records: Annotated[list[Any], Body()]) -> JSONResponse:
        return _load(kind, records)

    @app.post("/admin/records")
    async def _records(records: Annotated[list[Any], Body()], kind: str | None = None) -> JSONResponse:
        return _load(kind, records)

    @app.get("/admin/records")
    async def _counts() -> dict[str, int]:
        return {k: len(t) for k, t in tables.items()}


def registry_app(title: str, description: str, tables: dict[str, Table], data_dir: Path | None) -> FastAPI:
    """A simulator app holding `tables` (``app.state.tables``, loadable through ``/admin/records``).

    Each table is seeded from ``data_dir/registry/<kind>.jsonl`` (none when `data_dir` is None).
    """
    if data_dir is not None:
        for kind, table in tables.items():
            table.add(read_jsonl(Path(data_dir) / "registry" / f"{kind}.jsonl"))
    app = new_app(title, description)
    app.state.tables = tables
    add_admin_records(app, tables)
    return app
