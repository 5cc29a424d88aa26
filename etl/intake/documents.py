"""Upsert of validated documents by natural key, keeping every version (spec/EXCHANGE.md §3).

Input is the validated payload as a wire-named dict (``model.model_dump(by_alias=True)``: camelCase keys, parsed
values).  The same content sent again changes nothing; different content under the same natural key is a
correction: the row is replaced, its version goes up and the previous version stays in ``document_version``.

Ownership (DESIGN.md): every natural key includes the reporting operator and the sandbox flag, so one platform's
document never changes another's, and joint-test data never changes production data.  A vehicle or driver is
one shared row (一数一源) plus one *report* per platform (``vehicle_report`` / ``driver_report``, the versioned
document): the shared row is created by the first production report, belongs to that platform for good
(``operator_id``) and mirrors that platform's report; other platforms' reports never touch it.  Sandbox reports
are kept as reports only, linked to no shared row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from types import SimpleNamespace
from typing import Any, Literal

from psycopg.types.json import Jsonb
from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from geo import crs, gazetteer
from geo.distance import haversine_m
from store.db import pg
from store.models import (
    DocumentVersion,
    Driver,
    DriverReport,
    FundFlow,
    FundFlowPayment,
    FundFlowWaybill,
    Operator,
    Vehicle,
    VehicleReport,
    Waybill,
    WaybillVehicle,
)

__all__ = ["UpsertResult", "adapt", "column_param", "content_sha256", "insert_row", "insert_sql",
           "upsert_document", "upsert_operator"]

Status = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class UpsertResult:
    """What an upsert did: the row id, its version now, and whether anything changed."""

    kind: str
    document_id: int
    version: int
    status: Status
    #: The ``document_version`` row still to write, when the caller asked to write it itself (``defer_version``).
    version_row: dict[str, Any] | None = field(default=None, compare=False, repr=False)


def content_sha256(payload: dict[str, Any]) -> str:
    """Digest of a payload's content, independent of key order."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def upsert_document(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    operator: Operator,
    message_id: int | None = None,
    is_sandbox: bool = False,
    as_received: dict[str, Any] | None = None,
    defer_version: bool = False,
) -> UpsertResult:
    """Insert or correct one document of ``kind`` (waybill, fund_flow, vehicle, driver) from its wire dict.

    ``payload`` is the validated, parsed form (decides the row and whether content changed); ``as_received`` is
    the JSON exactly as the platform sent it, kept in the version history (what is forwarded to the Ministry).
    The document is ``operator``'s own: for a vehicle or driver it is ``operator``'s report (``document_id`` is
    the report's id), and the shared vehicle / driver row changes only when ``operator`` is the platform it
    belongs to.  ``is_sandbox`` documents are kept apart from production ones (their own rows).
    With ``defer_version`` the new ``document_version`` row is not written but handed back (``version_row``), for
    the caller to write with its own statements (the intake: with the outbox row, in one statement).
    """
    try:
        handler = _HANDLERS[kind]
    except KeyError:
        raise ValueError(f"upsert_document: kind must be one of {sorted(_HANDLERS)}, got {kind!r}") from None
    digest = content_sha256(payload)
    doc = handler(payload, operator, is_sandbox)
    model, columns = doc.model, doc.columns
    # Only what decides the path, locked (no ORM entity: a new document, the common case, needs none).
    table = model.__table__
    found = pg(session).execute(_lock_sql(table, tuple(doc.key)), doc.key).fetchone()  # id, version, sha
    if found is not None and found[2] == digest:
        return UpsertResult(kind, found[0], found[1], "unchanged")
    with ExitStack() as orm:
        # The caller's savepoint may be a raw one (etl.intake.pipeline), which the ORM does not know of: whatever the
        # ORM changes (a correction, a shared row loaded to be changed) is under an ORM savepoint of its own, so a
        # failure expires it instead of leaving it to be flushed by a later commit.  A new document needs none.
        guard = _OrmSavepoint(session, orm)
        if found is not None:
            guard()
        return _upsert(session, kind, doc, columns, found, digest, operator=operator, message_id=message_id,
                       is_sandbox=is_sandbox, as_received=as_received, payload=payload, defer_version=defer_version,
                       orm=guard)


class _OrmSavepoint:
    """Called before the ORM loads a row to change: opens ``session.begin_nested()`` on ``stack`` (once)."""

    def __init__(self, session: Session, stack: ExitStack):
        self.session, self.stack, self.open = session, stack, False

    def __call__(self) -> None:
        if not self.open:
            self.stack.enter_context(self.session.begin_nested())
            self.session.connection()  # emitted now (the Session emits it lazily, at its own next statement)
            self.open = True


def _upsert(session: Session, kind: str, doc: _Doc, columns: dict[str, Any], found: Any, digest: str, *,
            operator: Operator, message_id: int | None, is_sandbox: bool, as_received: dict[str, Any] | None,
            payload: dict[str, Any], defer_version: bool, orm: _OrmSavepoint) -> UpsertResult:
    model, table = doc.model, doc.model.__table__
    shared, shared_is_new = None, False
    now = func.now()
    if found is None and doc.shared is not None and not is_sandbox:
        # A new report and, unless it exists, its shared row: one statement (both INSERTs).
        values = {**columns, "content_sha256": digest, "version": 1, "message_id": message_id,
                  "is_sandbox": is_sandbox}
        created = _insert_with_shared(session, table, values, doc.shared, operator, digest, message_id)
        if created is not None:  # both created now: nobody else can see or lock the shared row
            new_id, shared_id = created
            shared, shared_is_new = _NewShared(shared_id, operator.id), True
            columns = {**columns, doc.shared.link: shared_id}
        else:  # the shared row exists (another platform's, or being created by one): locked, then the report
            shared, shared_is_new = _shared_row(session, doc.shared, operator, digest, message_id, orm=orm,
                                                insert=False)
            columns = {**columns, doc.shared.link: shared.id}
            new_id = insert_row(session, table, {**values, doc.shared.link: shared.id}, "id")
        row: Any = _NewRow(id=new_id, version=1, **columns)
        status: Status = "created"
    elif doc.shared is not None and not is_sandbox:
        shared, shared_is_new = _shared_row(session, doc.shared, operator, digest, message_id,
                                            need_row=found is not None, orm=orm)
        columns = {**columns, doc.shared.link: shared.id}
    if found is None and shared is None:
        # Core INSERT … RETURNING id: no ORM object, no flush (the busiest path of the intake), with what the
        # kind writes along with a new row (doc.with_new).
        values = {**columns, "content_sha256": digest, "version": 1, "message_id": message_id,
                  "is_sandbox": is_sandbox}
        if doc.with_new is None:
            new_id = insert_row(session, table, values, "id")
        else:
            ctes, params = doc.with_new
            new_id = pg(session).execute(
                f"WITH doc AS ({_prefixed_insert_sql(table, tuple(values), 'doc_')} RETURNING id), "
                f"{', '.join(ctes)} SELECT id FROM doc",
                adapt({**{f"doc_{k}": v for k, v in values.items()}, **params})).fetchone()[0]
        row = _NewRow(id=new_id, version=1, **columns)
        status = "created"
    elif found is not None:
        row = session.get(model, found[0], populate_existing=True)  # locked above
        for name, value in columns.items():
            setattr(row, name, value)
        row.content_sha256 = digest
        row.version += 1
        row.message_id = message_id
        row.updated_at = now
        session.execute(
            update(DocumentVersion)
            .where(DocumentVersion.kind == kind, DocumentVersion.document_id == row.id,
                   DocumentVersion.superseded_at.is_(None))
            .values(superseded_at=now)
        )
        status = "updated"
    if shared is not None and not (shared_is_new and status == "created") and shared.operator_id in (None, operator.id):
        # The platform the shared row belongs to corrected its report: the row shows it (no other platform's does).
        for name, value in doc.shared.attrs.items():
            setattr(shared, name, value)
        shared.operator_id = operator.id
        shared.version, shared.content_sha256, shared.message_id = row.version, digest, message_id
        shared.updated_at = now
    if doc.children is not None:
        doc.children(session, row, status == "created")
    version = {"kind": kind, "document_id": row.id, "version": row.version, "operator_id": operator.id,
               "message_id": message_id, "content_sha256": digest,
               "payload": as_received if as_received is not None else json.loads(json.dumps(payload, default=str))}
    if not defer_version:
        insert_row(session, DocumentVersion.__table__, version)
    session.flush()  # the ORM changes of a correction (nothing to do for a new document)
    return UpsertResult(kind, row.id, row.version, status, version if defer_version else None)


def column_param(table: Table, name: str) -> str:
    """``%(name)s`` with the column's type as a cast (as SQLAlchemy binds it), the value adapted (jsonb)."""
    sql_type = table.c[name].type.compile(dialect=postgresql.dialect()).split("(", 1)[0]
    return f"%({name})s::{sql_type}"


def adapt(values: dict[str, Any]) -> dict[str, Any]:
    """Parameters for :func:`pg`: dicts and lists become jsonb (psycopg adapts the rest as SQLAlchemy would)."""
    return {k: Jsonb(v) if isinstance(v, dict | list) else v for k, v in values.items()}


@cache
def _lock_sql(table: Table, keys: tuple[str, ...]) -> str:
    where = " AND ".join(f"{k} = {column_param(table, k)}" for k in keys)
    return f"SELECT id, version, content_sha256 FROM {table.name} WHERE {where} FOR UPDATE"


@cache
def insert_sql(table: Table, keys: tuple[str, ...], returning: str | None = None, on_conflict: str = "") -> str:
    sql = (f"INSERT INTO {table.name} ({', '.join(keys)}) VALUES ({', '.join(column_param(table, k) for k in keys)})"
           f"{on_conflict}")
    return sql + (f" RETURNING {returning}" if returning else "")


def insert_row(session: Session, table: Table, values: dict[str, Any], returning: str | None = None, *,
               before: tuple[tuple[Table, dict[str, Any]], ...] = (), then: tuple[str, dict[str, Any]] | None = None
               ) -> Any:
    """INSERT one row of ``values`` into ``table`` through :func:`store.db.pg` (types cast as the columns'); the
    ``returning`` column's value, or None.

    ``before``: rows of other tables inserted by the same statement (data-modifying CTEs, one round trip in all);
    ``then``: a statement of its own (``INSERT … SELECT …``, its parameters' names distinct from the columns') that
    the same round trip runs last, as the statement's main part (no ``returning`` then).
    """
    if not before and then is None:
        cur = pg(session).execute(insert_sql(table, tuple(values), returning), adapt(values))
        return cur.fetchone()[0] if returning else None
    if then is not None and returning:
        raise ValueError("insert_row: returning with then")
    rows = (*before, (table, values))
    parts, params = [], {}
    for n, (t, v) in enumerate(rows):
        params.update({f"r{n}_{k}": x for k, x in v.items()})
        parts.append(_prefixed_insert_sql(t, tuple(v), f"r{n}_"))
    if then is None:  # the row of ``table`` is the statement's main part
        main = parts.pop() + (f" RETURNING {returning}" if returning else "")
    else:
        main, more = then
        params.update(more)
    parts = [f"r{n} AS ({sql})" for n, sql in enumerate(parts)]
    cur = pg(session).execute((f"WITH {', '.join(parts)} " if parts else "") + main, adapt(params))
    return cur.fetchone()[0] if returning else None


@cache
def _prefixed_insert_sql(table: Table, keys: tuple[str, ...], prefix: str) -> str:
    values = ", ".join(column_param(table, k).replace(f"%({k})s", f"%({prefix}{k})s", 1) for k in keys)
    return f"INSERT INTO {table.name} ({', '.join(keys)}) VALUES ({values})"


class _NewRow(SimpleNamespace):
    """A document row this transaction has just inserted (Core): its id, version and column values."""


@dataclass(frozen=True)
class _Shared:
    """The one shared row (vehicle, driver) behind a platform's report: its model, natural key, attributes."""

    model: type
    natural: dict[str, Any]
    attrs: dict[str, Any]
    link: str  # the report's column that points at it


@dataclass(frozen=True)
class _Doc:
    model: type
    key: dict[str, Any]  # natural key of the document's own row: column -> value
    columns: dict[str, Any]
    children: Callable[[Session, Any, bool], None] | None = None  # (session, row, row is new)
    shared: _Shared | None = None
    #: What a new row's INSERT writes with it, in the same statement: data-modifying CTEs (``name AS (…)``) that
    #: read the new row's id from ``doc`` (``FROM doc`` / ``(SELECT id FROM doc)``), and their parameters;
    #: ``children`` leaves out, for a new row, what these write.
    with_new: tuple[tuple[str, ...], dict[str, Any]] | None = None


@dataclass(frozen=True)
class _NewShared:
    """A shared row this transaction has just created (so nobody else can see or lock it): its id is enough."""

    id: int
    operator_id: int


def _shared_row(session: Session, shared: _Shared, operator: Operator, digest: str,
                message_id: int | None, *, need_row: bool = True,
                orm: Callable[[], None] | None = None, insert: bool = True) -> tuple[Any, bool]:
    """The shared row of ``shared.natural``, locked; created (belonging to ``operator``) when there is none.

    ``INSERT … ON CONFLICT DO NOTHING`` then a locking read: two platforms reporting a new vehicle at once get the
    same row (the second waits for the first), never a unique violation.  A row just created needs no locking read
    unless the caller will change it (``need_row``: the platform's report already existed).  ``insert`` false:
    the caller's INSERT found the row there (:func:`_insert_with_shared`), only the locking read is left.
    """
    model = shared.model
    created = None
    if insert:
        values = _shared_values(shared, operator, digest, message_id)
        found = pg(session).execute(insert_sql(model.__table__, tuple(values), "id",
                                               f" ON CONFLICT ({', '.join(shared.natural)}) DO NOTHING"),
                                    adapt(values)).fetchone()
        created = found[0] if found else None
    if created is not None and not need_row:
        return _NewShared(created, operator.id), True
    if orm is not None:  # an ORM row the caller may change: under an ORM savepoint
        orm()
    row = session.scalars(
        select(model).where(*(getattr(model, k) == v for k, v in shared.natural.items()))
        .with_for_update(key_share=True).execution_options(populate_existing=True)
    ).one()
    return row, created is not None


def _shared_values(shared: _Shared, operator: Operator, digest: str, message_id: int | None) -> dict[str, Any]:
    return {**shared.natural, **shared.attrs, "operator_id": operator.id, "version": 1, "content_sha256": digest,
            "message_id": message_id}


def _insert_with_shared(session: Session, table: Table, values: dict[str, Any], shared: _Shared, operator: Operator,
                        digest: str, message_id: int | None) -> tuple[int, int] | None:
    """A new report (``values``, its link column left out) and its new shared row in one statement: ``INSERT … ON
    CONFLICT DO NOTHING`` of the shared row, and the report linked to it if that created it.  The report's id and
    the shared row's; None when the shared row was there (nothing written: the caller locks it, then inserts)."""
    shared_values = _shared_values(shared, operator, digest, message_id)
    sql = _with_shared_sql(table, tuple(values), shared.model.__table__, tuple(shared_values), tuple(shared.natural),
                           shared.link)
    params = {**values, **{f"s_{k}": v for k, v in shared_values.items()}}
    row = pg(session).execute(sql, adapt(params)).fetchone()
    return None if row is None else (row[0], row[1])


@cache
def _with_shared_sql(table: Table, keys: tuple[str, ...], shared_table: Table, shared_keys: tuple[str, ...],
                     natural: tuple[str, ...], link: str) -> str:
    values = ", ".join(column_param(table, k) for k in keys)
    return (f"WITH s AS ({_prefixed_insert_sql(shared_table, shared_keys, 's_')} "
            f"ON CONFLICT ({', '.join(natural)}) DO NOTHING RETURNING id) "
            f"INSERT INTO {table.name} ({', '.join(keys)}, {link}) SELECT {values}, s.id FROM s "
            f"RETURNING id, {link}")


def upsert_operator(session: Session, record: dict[str, Any], *, is_sandbox: bool = False) -> Operator:
    """Create or update an operator from its registration record (wire names: unifiedSocialCreditIdentifier, …)."""
    usci = record["unifiedSocialCreditIdentifier"]
    row = session.scalars(select(Operator).where(Operator.usci == usci)).one_or_none()
    values = {
        "name": record["name"],
        "permit_number": record.get("permitNumber"),
        "legal_representative": record.get("legalRepresentative"),
        "contact_person": record.get("contactPerson"),
        "telephone": record.get("telephone"),
        "division_code": gazetteer.normalize_code(record.get("countrySubdivisionCode") or "") or None,
        "address": record.get("address"),
        "is_sandbox": is_sandbox,
    }
    if row is None:
        row = Operator(usci=usci, **values)
        session.add(row)
    else:
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = func.now()
    session.flush()
    return row


# --- per kind: (model, natural-key filter, column values, children writer) ---------------------------------


def _vehicle(p: dict[str, Any], operator: Operator, is_sandbox: bool) -> _Doc:
    natural = {"vehicle_number": p["vehicleNumber"], "plate_color": str(p["vehiclePlateColorCode"])}
    attrs = {
        "vehicle_type": p.get("vehicleType"),
        "owner": p.get("owner"),
        "use_character": p.get("useCharacter"),
        "vin": p.get("vin"),
        "issuing_organizations": p.get("issuingOrganizations"),
        "register_date": p.get("registerDate"),
        "issue_date": p.get("issueDate"),
        "energy_type": p.get("vehicleEnergyType"),
        "tonnage_t": p.get("vehicleTonnage"),
        "gross_mass_t": p.get("grossMass"),
        "road_transport_certificate_number": p.get("roadTransportCertificateNumber"),
        "trailer_plate_number": p.get("trailerVehiclePlateNumber"),
        "remark": p.get("remark"),
    }
    key = {"operator_id": operator.id, "vehicle_number": natural["vehicle_number"],
           "plate_color": natural["plate_color"], "is_sandbox": is_sandbox}
    return _Doc(VehicleReport, key, {**natural, "operator_id": operator.id, **attrs},
                shared=_Shared(Vehicle, natural, attrs, "vehicle_id"))


def _driver(p: dict[str, Any], operator: Operator, is_sandbox: bool) -> _Doc:
    natural = {"driving_license": p["drivingLicense"]}
    attrs = {
        "name": p["driverName"],
        "vehicle_class": p.get("vehicleClass"),
        "issuing_organizations": p.get("issuingOrganizations"),
        "valid_from": p.get("validPeriodFrom"),
        "valid_to": p.get("validPeriodTo"),
        "qualification_certificate": p.get("qualificationCertificate"),
        "telephone": p.get("telephone"),
        "remark": p.get("remark"),
    }
    key = {"operator_id": operator.id, "driving_license": natural["driving_license"], "is_sandbox": is_sandbox}
    return _Doc(DriverReport, key, {**natural, "operator_id": operator.id, **attrs},
                shared=_Shared(Driver, natural, attrs, "driver_id"))


def _waybill(p: dict[str, Any], operator: Operator, is_sandbox: bool) -> _Doc:
    consignor = p.get("consignorInfo") or {}
    consignee = p.get("consigneeInfo") or {}
    carrier = p.get("actualCarrierInfo") or {}
    insurance = p.get("insuranceInformation") or {}
    items = p.get("vehicleInfo") or []
    weight = sum((_goods_weight(item) for item in items), Decimal(0))
    loading_code = _division(consignor.get("countrySubdivisionCode"))
    receipt_code = _division(consignee.get("countrySubdivisionCode"))
    cols = {
        "operator_id": operator.id,
        "shipping_note_number": p["shippingNoteNumber"],
        "serial_number": p["serialNumber"],
        "original_document_number": p["originalDocumentNumber"],
        "vehicle_amount": int(p["vehicleAmount"]),
        "transport_type_code": str(p["transportTypeCode"]),
        "business_type_code": str(p["businessTypeCode"]),
        "carrier": p["carrier"],
        "usci": p["unifiedSocialCreditIdentifier"],
        "permit_number": p["permitNumber"],
        "send_to_pro_at": p["sendToProDateTime"],
        "consignment_at": p["consignmentDateTime"],
        "despatch_at": p["despatchActualDateTime"],
        "receipt_at": p["goodsReceiptDateTime"],
        "total_amount": p["totalMonetaryAmount"],
        "consignor": consignor.get("consignor"),
        "consignor_id": consignor.get("consignorId"),
        "loading_place": consignor.get("placeOfLoading"),
        "loading_division_code": loading_code,
        "consignee": consignee.get("consignee"),
        "consignee_id": consignee.get("consigneeId"),
        "receipt_place": consignee.get("goodsReceiptPlace"),
        "receipt_division_code": receipt_code,
        "actual_carrier_name": carrier.get("actualCarrierName"),
        "actual_carrier_license": carrier.get("actualCarrierBusinessLicense"),
        "actual_carrier_id": carrier.get("actualCarrierId"),
        "policy_number": insurance.get("policyNumber"),
        "insurance_company_code": insurance.get("insuranceCompanyCode"),
        "remark": p.get("remark"),
        "total_weight_kg": weight,
        "straight_distance_m": _straight_distance_m(loading_code, receipt_code),
    }
    key = {"operator_id": operator.id, "shipping_note_number": cols["shipping_note_number"],
           "serial_number": cols["serial_number"], "is_sandbox": is_sandbox}

    def children(session: Session, row: Waybill, new: bool) -> None:
        if not new:  # a new row has no children to replace (one statement less on the busiest path)
            session.execute(delete(WaybillVehicle).where(WaybillVehicle.waybill_id == row.id))
        if not (new and one_item):  # a new row's INSERT wrote its one vehicle item (with_new)
            for seq, item in enumerate(items):
                _add_waybill_vehicle(session, row, seq, item, cols, link=not is_sandbox)
        if not new:  # a new row's INSERT did it (with_new)
            # Fund flows (of this operator, this mode) that arrived before this waybill now find it.
            pg(session).execute(_LINK_EARLIER_FUND_FLOWS, {**link, "waybill_id": row.id})

    link = {"shipping_note_number": cols["shipping_note_number"], "serial_number": cols["serial_number"],
            "operator_id": operator.id, "is_sandbox": is_sandbox}
    # The usual waybill has one vehicle item: a new row's INSERT writes it too (its CTEs' names are used once).
    one_item = len(items) == 1
    if one_item:
        with_new = ((_LINK_EARLIER_FUND_FLOWS_CTE, _WAYBILL_VEHICLE_CTES),
                    {**link, **_waybill_vehicle_params(0, items[0], cols, link=not is_sandbox)})
    else:
        with_new = ((_LINK_EARLIER_FUND_FLOWS_CTE,), link)
    return _Doc(Waybill, key, cols, children, with_new=with_new)


def _add_waybill_vehicle(session: Session, row: Waybill, seq: int, item: dict[str, Any], w: dict[str, Any], *,
                         link: bool) -> None:
    # Core inserts with sub-selects for the vehicle and driver links: one statement per vehicle item, no ORM
    # flushes (the waybill path is the busiest document path of the intake).  A sandbox waybill (``link`` false)
    # links no shared vehicle or driver row.
    pg(session).execute(_WAYBILL_VEHICLE_SQL, {"waybill_id": row.id, **_waybill_vehicle_params(seq, item, w, link=link)})


def _waybill_vehicle_params(seq: int, item: dict[str, Any], w: dict[str, Any], *, link: bool) -> dict[str, Any]:
    """The parameters of :data:`_WAYBILL_VEHICLE_SQL` for one vehicle item, but the waybill's id."""
    loading_code = _division(item.get("loadingCountrySubdivisionCode")) or w["loading_division_code"]
    receipt_code = _division(item.get("receiptCountrySubdivisionCode")) or w["receipt_division_code"]
    system = item.get("coordinateSystem") or "GCJ02"
    loading_xy = _given_point(item.get("loadingLongitude"), item.get("loadingLatitude"), system)
    receipt_xy = _given_point(item.get("receiptLongitude"), item.get("receiptLatitude"), system)
    plate, color = item["vehicleNumber"], str(item["vehiclePlateColorCode"])
    return {
        "seq": seq, "plate": plate, "color": color, "link": link,
        "despatch_at": item.get("despatchActualDateTime") or w["despatch_at"],
        "receipt_at": item.get("goodsReceiptDateTime") or w["receipt_at"],
        "loading_place": item.get("placeOfLoading") or w["loading_place"], "loading_division_code": loading_code,
        "receipt_place": item.get("goodsReceiptPlace") or w["receipt_place"], "receipt_division_code": receipt_code,
        "loading_geom": _ewkt(loading_xy or _division_point(loading_code)),
        "receipt_geom": _ewkt(receipt_xy or _division_point(receipt_code)),
        "from_coordinates": loading_xy is not None and receipt_xy is not None,
        "system": system if (loading_xy or receipt_xy) else None, "weight_kg": _goods_weight(item),
        "drivers": json.dumps([{"driver_name": d["driverName"], "driving_license": d["drivingLicense"]}
                               for d in item.get("driver") or []], ensure_ascii=False),
        "goods": json.dumps([{"description": g["descriptionOfGoods"],
                              "cargo_type_code": str(g["cargoTypeClassificationCode"]),
                              "weight_kg": str(g["goodsItemGrossWeight"]),
                              "cube_m3": None if g.get("cube") is None else str(g["cube"]),
                              "packages": g.get("totalNumberOfPackages")}
                             for g in item.get("goodsInfo") or []], ensure_ascii=False),
    }


# One statement per vehicle item: the item, its drivers and its goods (data-modifying CTEs), the vehicle and driver
# links by sub-select; a sandbox waybill (``link`` false) links no shared vehicle or driver row.
_WAYBILL_VEHICLE_SQL = """
WITH wv AS (
  INSERT INTO waybill_vehicle (waybill_id, seq, vehicle_number, plate_color, vehicle_id, despatch_at, receipt_at,
      loading_place, loading_division_code, receipt_place, receipt_division_code, loading_geom, receipt_geom,
      places_from_coordinates, declared_coordinate_system, weight_kg)
  VALUES (CAST(%(waybill_id)s AS bigint), CAST(%(seq)s AS smallint), CAST(%(plate)s AS varchar), CAST(%(color)s AS varchar),
      CASE WHEN CAST(%(link)s AS boolean) THEN (SELECT v.id FROM vehicle v
                                              WHERE v.vehicle_number = CAST(%(plate)s AS varchar)
                                                AND v.plate_color = CAST(%(color)s AS varchar)) END,
      CAST(%(despatch_at)s AS timestamptz), CAST(%(receipt_at)s AS timestamptz), CAST(%(loading_place)s AS varchar),
      CAST(%(loading_division_code)s AS varchar), CAST(%(receipt_place)s AS varchar),
      CAST(%(receipt_division_code)s AS varchar), ST_GeomFromEWKT(CAST(%(loading_geom)s AS text)),
      ST_GeomFromEWKT(CAST(%(receipt_geom)s AS text)), CAST(%(from_coordinates)s AS boolean), CAST(%(system)s AS varchar),
      CAST(%(weight_kg)s AS numeric))
  RETURNING id),
d AS (
  INSERT INTO waybill_driver (waybill_vehicle_id, driver_name, driving_license, driver_id)
  SELECT wv.id, x.driver_name, x.driving_license,
         CASE WHEN CAST(%(link)s AS boolean) THEN (SELECT dr.id FROM driver dr WHERE dr.driving_license = x.driving_license) END
  FROM wv, jsonb_to_recordset(CAST(%(drivers)s AS jsonb)) AS x(driver_name text, driving_license text)),
g AS (
  INSERT INTO waybill_goods (waybill_vehicle_id, description, cargo_type_code, weight_kg, cube_m3, packages)
  SELECT wv.id, x.description, x.cargo_type_code, x.weight_kg, x.cube_m3, x.packages
  FROM wv, jsonb_to_recordset(CAST(%(goods)s AS jsonb))
       AS x(description text, cargo_type_code text, weight_kg numeric, cube_m3 numeric, packages integer))
SELECT id FROM wv
"""
# The same as CTEs of a new waybill's INSERT (``doc``, _Doc.with_new), for its one vehicle item.
_WAYBILL_VEHICLE_CTES = (_WAYBILL_VEHICLE_SQL.strip().removeprefix("WITH ").removesuffix("SELECT id FROM wv").strip()
                         .replace("CAST(%(waybill_id)s AS bigint)", "(SELECT id FROM doc)"))
assert _WAYBILL_VEHICLE_CTES.startswith("wv AS (") and "%(waybill_id)s" not in _WAYBILL_VEHICLE_CTES


def _fund_flow(p: dict[str, Any], operator: Operator, is_sandbox: bool) -> _Doc:
    payments = p.get("financiallist") or []
    notes = p.get("shippingNoteList") or []
    paid_at = [x["dateTime"] for x in payments if x.get("dateTime")]
    cols = {
        "operator_id": operator.id,
        "document_number": p["documentNumber"],
        "send_to_pro_at": p["sendToProDateTime"],
        "carrier": p["carrier"],
        "actual_carrier_id": p["actualCarrierId"],
        "vehicle_number": p["vehicleNumber"],
        "plate_color": str(p["vehiclePlateColorCode"]),
        "remark": p.get("remark"),
        "total_paid": sum((Decimal(str(x["monetaryAmount"])) for x in payments), Decimal(0)),
        "last_paid_at": max(paid_at) if paid_at else None,
    }
    key = {"operator_id": operator.id, "document_number": cols["document_number"], "is_sandbox": is_sandbox}

    def children(session: Session, row: FundFlow, new: bool) -> None:
        if new:  # the new row's INSERT wrote them (with_new)
            return
        session.execute(delete(FundFlowWaybill).where(FundFlowWaybill.fund_flow_id == row.id))
        session.execute(delete(FundFlowPayment).where(FundFlowPayment.fund_flow_id == row.id))
        if notes:  # one statement, the waybill of each note by sub-select (it may not have arrived yet)
            pg(session).execute(_FUND_FLOW_WAYBILL_SQL, {
                "fund_flow_id": row.id, "operator_id": operator.id, "is_sandbox": is_sandbox,
                "notes": _notes_json(notes)})
        if payments:
            rows = [{"fund_flow_id": row.id, "seq": seq, "payment_means_code": str(x["paymentMeansCode"]),
                     "recipient": x["recipient"], "receipt_account": x["receiptAccount"],
                     "bank_code": x.get("bankCode"), "sequence_code": x["sequenceCode"],
                     "amount": x["monetaryAmount"], "paid_at": x["dateTime"]} for seq, x in enumerate(payments)]
            with pg(session).cursor() as cur:
                cur.executemany(insert_sql(FundFlowPayment.__table__, tuple(rows[0])), rows)

    ctes, params = [], {"operator_id": operator.id, "is_sandbox": is_sandbox}
    if notes:
        ctes.append(_FUND_FLOW_NOTES_CTE)
        params["notes"] = _notes_json(notes)
    if payments:
        ctes.append(_FUND_FLOW_PAYMENTS_CTE)
        params["payments"] = json.dumps(
            [{"seq": seq, "payment_means_code": str(x["paymentMeansCode"]), "recipient": x["recipient"],
              "receipt_account": x["receiptAccount"], "bank_code": x.get("bankCode"),
              "sequence_code": x["sequenceCode"], "amount": _text(x["monetaryAmount"]), "paid_at": _text(x["dateTime"])}
             for seq, x in enumerate(payments)], ensure_ascii=False)
    return _Doc(FundFlow, key, cols, children, with_new=(tuple(ctes), params) if ctes else None)


def _notes_json(notes: list[dict[str, Any]]) -> str:
    return json.dumps([{"shipping_note_number": n["shippingNoteNumber"], "serial_number": n["serialNumber"],
                        "total_amount": str(n["totalMonetaryAmount"])} for n in notes], ensure_ascii=False)


def _text(v: Any) -> str | None:
    """A parsed value as PostgreSQL reads it back from text: numbers exactly, times in ISO 8601 with their offset."""
    return None if v is None else v.isoformat() if hasattr(v, "isoformat") else str(v)


_FUND_FLOW_WAYBILL_SQL = """
INSERT INTO fund_flow_waybill (fund_flow_id, shipping_note_number, serial_number, total_amount, waybill_id)
SELECT %(fund_flow_id)s::bigint, x.shipping_note_number, x.serial_number, x.total_amount,
       (SELECT w.id FROM waybill w
         WHERE w.operator_id = %(operator_id)s::bigint AND w.shipping_note_number = x.shipping_note_number
           AND w.serial_number = x.serial_number AND w.is_sandbox = %(is_sandbox)s::boolean)
FROM jsonb_to_recordset(%(notes)s::jsonb)
     AS x(shipping_note_number varchar, serial_number varchar, total_amount numeric)
"""

# A new fund flow's notes and payments, with its INSERT (``doc`` is the new row; _Doc.with_new).
_FUND_FLOW_NOTES_CTE = """notes AS (
INSERT INTO fund_flow_waybill (fund_flow_id, shipping_note_number, serial_number, total_amount, waybill_id)
SELECT doc.id, x.shipping_note_number, x.serial_number, x.total_amount,
       (SELECT w.id FROM waybill w
         WHERE w.operator_id = %(operator_id)s::bigint AND w.shipping_note_number = x.shipping_note_number
           AND w.serial_number = x.serial_number AND w.is_sandbox = %(is_sandbox)s::boolean)
FROM doc, jsonb_to_recordset(%(notes)s::jsonb)
     AS x(shipping_note_number varchar, serial_number varchar, total_amount numeric))"""
_FUND_FLOW_PAYMENTS_CTE = """payments AS (
INSERT INTO fund_flow_payment (fund_flow_id, seq, payment_means_code, recipient, receipt_account, bank_code,
                               sequence_code, amount, paid_at)
SELECT doc.id, x.seq, x.payment_means_code, x.recipient, x.receipt_account, x.bank_code, x.sequence_code, x.amount,
       x.paid_at
FROM doc, jsonb_to_recordset(%(payments)s::jsonb)
     AS x(seq smallint, payment_means_code varchar, recipient varchar, receipt_account varchar, bank_code varchar,
          sequence_code varchar, amount numeric, paid_at timestamptz))"""

# Fund flows (of this operator, this mode) that arrived before this waybill now find it.
_LINK_EARLIER_FUND_FLOWS = """
UPDATE fund_flow_waybill SET waybill_id = %(waybill_id)s::bigint
WHERE shipping_note_number = %(shipping_note_number)s::varchar AND serial_number = %(serial_number)s::varchar
  AND waybill_id IS NULL
  AND fund_flow_id IN (SELECT id FROM fund_flow
                        WHERE operator_id = %(operator_id)s::bigint AND is_sandbox = %(is_sandbox)s::boolean)
"""

# The same, with a new waybill's INSERT (etl.intake.documents._Doc.with_new: ``doc`` is the new row).
_LINK_EARLIER_FUND_FLOWS_CTE = ("linked AS (" + _LINK_EARLIER_FUND_FLOWS.strip().replace(
    "%(waybill_id)s::bigint", "(SELECT id FROM doc)") + ")")

_HANDLERS = {"vehicle": _vehicle, "driver": _driver, "waybill": _waybill, "fund_flow": _fund_flow}


# --- places ---------------------------------------------------------------------------------------------------


def _division(code: Any) -> str | None:
    if not code:
        return None
    return gazetteer.normalize_code(str(code))


def _division_point(code: str | None) -> tuple[float, float] | None:
    d = gazetteer.get(code) if code else None
    return (d.lon, d.lat) if d else None


def _given_point(lon: Any, lat: Any, system: str) -> tuple[float, float] | None:
    if lon is None or lat is None:
        return None
    x, y = crs.to_wgs84(float(lon), float(lat), system)
    return float(x), float(y)


def _ewkt(xy: tuple[float, float] | None) -> str | None:
    return None if xy is None else f"SRID=4326;POINT({xy[0]:.7f} {xy[1]:.7f})"


def _straight_distance_m(a: str | None, b: str | None) -> float | None:
    pa, pb = _division_point(a), _division_point(b)
    if pa is None or pb is None:
        return None
    return float(haversine_m(pa[0], pa[1], pb[0], pb[1]))


def _goods_weight(item: dict[str, Any]) -> Decimal:
    return sum((Decimal(str(g["goodsItemGrossWeight"])) for g in item.get("goodsInfo") or []), Decimal(0))


