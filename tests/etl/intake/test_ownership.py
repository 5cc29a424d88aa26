"""Ownership (DESIGN.md): a platform never changes, hides or outvotes another platform's data; sandbox stays apart.

Everything goes through the intake core (``etl.intake.pipeline.receive``) on a real PostGIS, as platform messages
would: the owner and a rival platform report the same vehicle, driver, waybill numbers and fix times.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy import func, select, text

from etl.intake import pipeline
from etl.intake.documents import upsert_operator
from etl.schemas import samples
from store.models import (
    DocumentVersion,
    Driver,
    DriverReport,
    FundFlow,
    FundFlowWaybill,
    Outbox,
    Position,
    Vehicle,
    VehicleReport,
    Waybill,
    WaybillVehicle,
)
from store.positions import NATIONAL_PLATFORM, SOURCE_APP, SOURCE_BEIDOU, load_positions
from tests.etl.intake.test_pipeline import DOC_NAMES

RIVAL_USCI = "91340100MA2RIVAL0X"
SANDBOX_USCI = "91340100MA2SANDBX0"


@pytest.fixture
def owner(session):
    return upsert_operator(session, samples.operator())


@pytest.fixture
def rival(session):
    return upsert_operator(session, samples.operator() | {"unifiedSocialCreditIdentifier": RIVAL_USCI,
                                                          "name": "另一家网络货运公司", "userName": "wlhy-rival"})


@pytest.fixture
def sandbox(session):
    """A platform in joint testing (its account is a sandbox account)."""
    return upsert_operator(session, samples.operator() | {"unifiedSocialCreditIdentifier": SANDBOX_USCI,
                                                          "name": "联调中的平台", "userName": "wlhy-sandbox"},
                           is_sandbox=True)


def send(session, operator, ipc_type, payload, *, is_sandbox=False):
    header = {"messageReferenceNumber": uuid.uuid4().hex, "documentName": DOC_NAMES[ipc_type],
              "documentVersionNumber": "2.0", "senderCode": "340000", "enterpriseSenderCode": operator.usci,
              "messageSendingDateTime": "20240316093000", "ipcType": ipc_type}
    res = pipeline.receive(session, operator=operator, header=header, payload=json.dumps(payload),
                           is_sandbox=is_sandbox)
    assert res.code == 1001, res.to_wire()
    return res


def count(session, model, *where):
    return session.scalar(select(func.count()).select_from(model).where(*where))


def report_of(session, model, operator, *, is_sandbox=False):
    return session.scalars(select(model).where(model.operator_id == operator.id,
                                               model.is_sandbox == is_sandbox)).one()


# --- vehicles and drivers: one row, one report per platform ------------------------------------------------


def test_a_rival_cannot_overwrite_a_vehicle(session, owner, rival):
    send(session, owner, "WLHY_CL1001", samples.vehicle())
    forged = samples.vehicle() | {"grossMass": "8.00", "owner": "冒名车主", "vin": "LFORGED0000000001"}
    res = send(session, rival, "WLHY_CL1001", forged)
    assert res.documents[0].status == "created" and res.documents[0].version == 1  # its own report, not version 2

    vehicle = session.scalars(select(Vehicle)).one()  # still one vehicle (一数一源)
    assert vehicle.operator_id == owner.id and vehicle.version == 1
    assert vehicle.gross_mass_t == Decimal(samples.vehicle()["grossMass"]) and vehicle.owner != "冒名车主"
    mine, theirs = report_of(session, VehicleReport, owner), report_of(session, VehicleReport, rival)
    assert mine.version == 1 and mine.gross_mass_t == vehicle.gross_mass_t and mine.vehicle_id == vehicle.id
    assert theirs.id == res.documents[0].document_id and theirs.vehicle_id == vehicle.id
    assert (theirs.gross_mass_t, theirs.owner, theirs.version) == (Decimal("8.00"), "冒名车主", 1)
    # each platform's history is its own
    history = session.execute(select(DocumentVersion.document_id, DocumentVersion.operator_id, DocumentVersion.version)
                              .where(DocumentVersion.kind == "vehicle").order_by(DocumentVersion.id)).all()
    assert history == [(mine.id, owner.id, 1), (theirs.id, rival.id, 1)]
    assert count(session, DocumentVersion, DocumentVersion.superseded_at.is_not(None)) == 0

    # the rival correcting its report still changes nothing of the owner's …
    send(session, rival, "WLHY_CL1001", forged | {"grossMass": "9.00"})
    session.refresh(vehicle)
    assert vehicle.version == 1 and vehicle.gross_mass_t == mine.gross_mass_t
    assert report_of(session, VehicleReport, rival).version == 2
    # … while the owner's correction is what the vehicle shows
    send(session, owner, "WLHY_CL1001", samples.vehicle() | {"grossMass": "32.00"})
    session.refresh(vehicle)
    assert (vehicle.operator_id, vehicle.version, vehicle.gross_mass_t) == (owner.id, 2, Decimal("32.00"))
    assert report_of(session, VehicleReport, rival).gross_mass_t == Decimal("9.00")


def test_a_rival_cannot_overwrite_a_driver(session, owner, rival):
    send(session, owner, "WLHY_JSY1001", samples.driver())
    forged = samples.driver() | {"driverName": "李四", "telephone": "13900000000"}
    send(session, rival, "WLHY_JSY1001", forged)
    send(session, rival, "WLHY_JSY1001", forged | {"telephone": "13900000001"})

    driver = session.scalars(select(Driver)).one()
    assert (driver.operator_id, driver.version, driver.name) == (owner.id, 1, samples.driver()["driverName"])
    mine, theirs = report_of(session, DriverReport, owner), report_of(session, DriverReport, rival)
    assert mine.version == 1 and mine.name == driver.name and mine.driver_id == theirs.driver_id == driver.id
    assert (theirs.name, theirs.telephone, theirs.version) == ("李四", "13900000001", 2)


def test_each_platforms_report_is_forwarded_as_its_own_document(session, owner, rival):
    """The outbox names the platform's report; its version is in the history under that id."""
    a = send(session, owner, "WLHY_CL1001", samples.vehicle())
    b = send(session, rival, "WLHY_CL1001", samples.vehicle() | {"grossMass": "8.00"})
    rows = session.scalars(select(Outbox).where(Outbox.document_kind == "vehicle").order_by(Outbox.id)).all()
    assert [(r.document_id, r.document_version) for r in rows] == [(a.documents[0].document_id, 1),
                                                                    (b.documents[0].document_id, 1)]
    for r in rows:
        v = session.scalars(select(DocumentVersion).where(DocumentVersion.kind == "vehicle",
                                                          DocumentVersion.document_id == r.document_id,
                                                          DocumentVersion.version == r.document_version)).one()
        assert v.payload["vehicleNumber"] == samples.vehicle()["vehicleNumber"]


def test_the_vehicle_belongs_to_whoever_reported_it_first_for_good(session, owner, rival):
    """The rival reporting first makes the row the rival's; the later owner keeps its own report (never lost)."""
    send(session, rival, "WLHY_CL1001", samples.vehicle() | {"grossMass": "8.00"})
    send(session, owner, "WLHY_CL1001", samples.vehicle())
    vehicle = session.scalars(select(Vehicle)).one()
    assert vehicle.operator_id == rival.id and vehicle.gross_mass_t == Decimal("8.00")
    assert report_of(session, VehicleReport, owner).gross_mass_t == Decimal(samples.vehicle()["grossMass"])


# --- positions: keyed per reporting operator ------------------------------------------------------------------


def test_a_rival_cannot_suppress_or_overwrite_the_owners_fixes(session, owner, rival):
    batch = samples.position_batch(5)
    planted = json.loads(json.dumps(batch))
    for loc in planted["locations"]:
        loc["longitude"], loc["latitude"] = 117.2272, 31.8206  # somewhere else entirely (合肥)
    assert send(session, rival, "WLHY_WZ1001", planted).positions_inserted == 5  # the same times, first

    res = send(session, owner, "WLHY_WZ1001", batch)
    assert res.positions_inserted == 5  # nothing suppressed
    assert count(session, Position, Position.operator_id == owner.id) == 5
    assert count(session, Position, Position.operator_id == rival.id) == 5
    lon = session.scalars(text("SELECT DISTINCT round(ST_X(geom)::numeric, 1) FROM position WHERE operator_id = :o"),
                          {"o": owner.id}).all()
    assert lon == [Decimal("121.0")]  # the owner's own coordinates (昆山), not the planted ones
    # re-sends stay idempotent per platform, and a rival's re-send changes nothing of the owner's
    assert send(session, owner, "WLHY_WZ1001", batch).positions_inserted == 0
    assert send(session, rival, "WLHY_WZ1001", planted).positions_inserted == 0
    assert count(session, Position) == 10


def test_beidou_fixes_are_stored_once_and_suppress_no_app_fix(session, owner):
    res = send(session, owner, "WLHY_WZ1001", samples.position_batch(3))
    assert res.positions_inserted == 3
    t = session.scalars(select(Position.t).order_by(Position.t)).all()
    beidou = {"t": np.array([x.replace(tzinfo=None) for x in t], dtype="datetime64[us]"),
              "vehicle_number": "皖A12345", "plate_color": "2", "source": SOURCE_BEIDOU,
              "lon": np.full(3, 120.98), "lat": np.full(3, 31.39)}
    conn = session.connection().connection.driver_connection
    assert load_positions(conn, beidou) == 3
    assert load_positions(conn, beidou) == 0  # fetched again: stored once
    owners = dict(session.execute(select(Position.source, func.array_agg(func.distinct(Position.operator_id)))
                                  .group_by(Position.source)).all())
    assert owners == {SOURCE_APP: [owner.id], SOURCE_BEIDOU: [NATIONAL_PLATFORM]}


def test_the_loader_refuses_fixes_without_their_owner(session):
    conn = session.connection().connection.driver_connection
    fix = {"t": np.array(["2024-03-15T02:00:00"], dtype="datetime64[us]"), "vehicle_number": "皖A12345",
           "plate_color": "2", "lon": np.array([121.0]), "lat": np.array([31.4])}
    with pytest.raises(ValueError, match="reporting operator"):
        load_positions(conn, fix | {"source": SOURCE_APP})
    with pytest.raises(ValueError, match="no operator"):
        load_positions(conn, fix | {"source": SOURCE_BEIDOU, "operator_id": 5})


# --- waybills and fund flows: keyed per operator ----------------------------------------------------------------


def test_a_rival_resending_the_same_waybill_numbers_cannot_touch_the_owners_waybill(session, owner, rival):
    mine = send(session, owner, "WLHY_YD1001", samples.waybill()).documents[0]
    send(session, owner, "WLHY_ZJ1001", samples.fund_flow())
    theirs = send(session, rival, "WLHY_YD1001", samples.waybill() | {"totalMonetaryAmount": "1.000"}).documents[0]
    send(session, rival, "WLHY_ZJ1001", samples.fund_flow())
    assert theirs.status == "created" and theirs.document_id != mine.document_id and theirs.version == 1
    wb = session.get(Waybill, mine.document_id)
    assert (wb.operator_id, wb.version, wb.total_amount) == (owner.id, 1, Decimal("3500.000"))
    # each fund flow pays its own platform's waybill
    links = dict(session.execute(select(FundFlow.operator_id, FundFlowWaybill.waybill_id)
                                 .join(FundFlow, FundFlow.id == FundFlowWaybill.fund_flow_id)).all())
    assert links == {owner.id: mine.document_id, rival.id: theirs.document_id}


# --- sandbox (joint testing) never mixes with production ----------------------------------------------------


def test_sandbox_reports_leave_production_rows_unchanged(session, owner):
    """The same platform's joint-test account re-sending everything with other content changes no production row."""
    send(session, owner, "WLHY_CL1001", samples.vehicle())
    send(session, owner, "WLHY_JSY1001", samples.driver())
    wb_id = send(session, owner, "WLHY_YD1001", samples.waybill()).documents[0].document_id
    send(session, owner, "WLHY_ZJ1001", samples.fund_flow())
    assert send(session, owner, "WLHY_WZ1001", samples.position_batch(4)).positions_inserted == 4
    outbox = count(session, Outbox)

    send(session, owner, "WLHY_CL1001", samples.vehicle() | {"grossMass": "1.00"}, is_sandbox=True)
    send(session, owner, "WLHY_JSY1001", samples.driver() | {"driverName": "测试"}, is_sandbox=True)
    sb = send(session, owner, "WLHY_YD1001", samples.waybill() | {"totalMonetaryAmount": "1.000"}, is_sandbox=True)
    send(session, owner, "WLHY_ZJ1001", samples.fund_flow(), is_sandbox=True)
    moved = json.loads(json.dumps(samples.position_batch(4)))
    for loc in moved["locations"]:
        loc["longitude"] = 117.0
    assert send(session, owner, "WLHY_WZ1001", moved, is_sandbox=True).positions_inserted == 0  # not stored

    vehicle, driver = session.scalars(select(Vehicle)).one(), session.scalars(select(Driver)).one()
    assert vehicle.version == 1 and vehicle.gross_mass_t == Decimal(samples.vehicle()["grossMass"])
    assert driver.version == 1 and driver.name == samples.driver()["driverName"]
    assert report_of(session, VehicleReport, owner).version == 1
    sandbox_vehicle = report_of(session, VehicleReport, owner, is_sandbox=True)
    assert sandbox_vehicle.gross_mass_t == Decimal("1.00") and sandbox_vehicle.vehicle_id is None
    assert report_of(session, DriverReport, owner, is_sandbox=True).driver_id is None
    wb = session.get(Waybill, wb_id)
    assert (wb.version, wb.total_amount, wb.is_sandbox) == (1, Decimal("3500.000"), False)
    sandbox_wb = session.get(Waybill, sb.documents[0].document_id)
    assert sandbox_wb.id != wb.id and sandbox_wb.is_sandbox and sandbox_wb.total_amount == Decimal("1.000")
    assert session.scalars(select(WaybillVehicle.vehicle_id).where(WaybillVehicle.waybill_id == sandbox_wb.id)).one() \
        is None  # a sandbox waybill links no production vehicle
    links = dict(session.execute(select(FundFlow.is_sandbox, FundFlowWaybill.waybill_id)
                                 .join(FundFlow, FundFlow.id == FundFlowWaybill.fund_flow_id)).all())
    assert links == {False: wb.id, True: sandbox_wb.id}
    assert count(session, Position) == 4
    assert session.scalar(text("SELECT min(ST_X(geom)) FROM position")) > 120.9
    assert count(session, Outbox) == outbox  # nothing of the sandbox is forwarded


def test_a_sandbox_platform_creates_no_production_vehicle_or_driver(session, sandbox):
    send(session, sandbox, "WLHY_CL1001", samples.vehicle(), is_sandbox=True)
    send(session, sandbox, "WLHY_JSY1001", samples.driver(), is_sandbox=True)
    send(session, sandbox, "WLHY_WZ1001", samples.position_batch(3), is_sandbox=True)
    assert count(session, Vehicle) == 0 and count(session, Driver) == 0 and count(session, Position) == 0
    assert report_of(session, VehicleReport, sandbox, is_sandbox=True).version == 1
    assert report_of(session, DriverReport, sandbox, is_sandbox=True).version == 1


def test_a_platform_after_joint_testing_owns_the_vehicle_its_production_account_reports(session, sandbox, rival):
    """Sandbox first, then production: the sandbox report made no row, so production's first report owns it."""
    send(session, sandbox, "WLHY_CL1001", samples.vehicle() | {"grossMass": "1.00"}, is_sandbox=True)
    send(session, sandbox, "WLHY_CL1001", samples.vehicle())  # promoted: production now
    send(session, rival, "WLHY_CL1001", samples.vehicle() | {"grossMass": "8.00"})
    vehicle = session.scalars(select(Vehicle)).one()
    assert vehicle.operator_id == sandbox.id and vehicle.gross_mass_t == Decimal(samples.vehicle()["grossMass"])
    assert count(session, VehicleReport) == 3


def test_a_rivals_light_report_cannot_spare_a_heavy_vehicle_its_beidou_track(session, owner, rival):
    """Verification fetches BeiDou for heavy vehicles: any production report saying heavy counts."""
    from etl.beidou import is_heavy

    send(session, rival, "WLHY_CL1001", samples.vehicle() | {"grossMass": "3.00"})
    send(session, owner, "WLHY_CL1001", samples.vehicle())  # 31 t: the real one
    plate = {"vehicle_number": samples.vehicle()["vehicleNumber"], "plate_color": "2"}
    assert session.scalars(select(Vehicle.operator_id)).one() == rival.id  # the rival got there first …
    assert is_heavy(session, **plate)  # … and still cannot spare it the national platform's track
