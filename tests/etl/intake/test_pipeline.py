"""The intake core on a real PostGIS: archive first, result codes, idempotent upserts, history, positions."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from core.beijing import BEIJING
from etl.intake import pipeline
from etl.intake.documents import upsert_operator
from etl.schemas import samples
from geo import crs
from store.models import (
    Anomaly,
    DocumentVersion,
    ExchangeError,
    FundFlowWaybill,
    Message,
    Outbox,
    Position,
    Vehicle,
    Waybill,
    WaybillVehicle,
)

DOC_NAMES = {
    "WLHY_YD1001": "电子运单上传",
    "WLHY_ZJ1001": "资金流水单上传",
    "WLHY_CL1001": "车辆基本信息上传",
    "WLHY_JSY1001": "驾驶员基本信息上传",
    "WLHY_WZ1001": "位置信息上传",
}


@pytest.fixture
def operator(session):
    op = upsert_operator(session, samples.operator())
    session.flush()
    return op


def send(session, operator, ipc_type, payload, ref=None):
    header = {
        "messageReferenceNumber": ref or uuid.uuid4().hex,
        "documentName": DOC_NAMES[ipc_type],
        "documentVersionNumber": "2.0",
        "senderCode": "340000",
        "enterpriseSenderCode": "wlhy-test",
        "messageSendingDateTime": "20240316093000",
        "ipcType": ipc_type,
    }
    return pipeline.receive(session, operator=operator, header=header, payload=json.dumps(payload))


def count(session, model, *where):
    return session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.mark.parametrize("ipc_type,make", [
    ("WLHY_CL1001", samples.vehicle), ("WLHY_JSY1001", samples.driver), ("WLHY_YD1001", samples.waybill),
    ("WLHY_ZJ1001", samples.fund_flow), ("WLHY_WZ1001", samples.position_batch),
])
def test_each_payload_type_is_accepted_archived_and_queued(session, operator, ipc_type, make):
    res = send(session, operator, ipc_type, make())
    assert res.to_wire() == {"code": 1001, "msg": "成功"}
    msg = session.get(Message, res.message_id)
    assert msg.result_code == 1001 and msg.ipc_type == ipc_type and json.loads(msg.body)
    assert count(session, Outbox, Outbox.message_id == msg.id) == 1


def test_waybill_rows_places_and_goods(session, operator):
    res = send(session, operator, "WLHY_YD1001", samples.waybill())
    wb = session.get(Waybill, res.documents[0].document_id)
    assert (wb.shipping_note_number, wb.serial_number, wb.total_amount) == ("YD20240315000123", "0000",
                                                                            Decimal("3500.000"))
    assert wb.loading_division_code == "320583" and wb.receipt_division_code == "340104"  # 12 digits normalised
    assert wb.despatch_at == dt.datetime(2024, 3, 15, 2, 0, tzinfo=dt.timezone.utc)  # 10:00 Beijing
    assert wb.total_weight_kg == Decimal("18000.000")
    assert 300_000 < wb.straight_distance_m < 500_000  # 昆山 → 合肥
    wv = session.scalars(select(WaybillVehicle).where(WaybillVehicle.waybill_id == wb.id)).one()
    # without extension coordinates the loading point is the division's point
    x, y = session.execute(text("SELECT ST_X(loading_geom), ST_Y(loading_geom) FROM waybill_vehicle WHERE id = :i"),
                           {"i": wv.id}).one()
    assert 120.5 < x < 121.5 and 31.0 < y < 31.8 and not wv.places_from_coordinates


def test_replayed_reference_number_answers_3001_and_processes_nothing(session, operator):
    ref = uuid.uuid4().hex
    first = send(session, operator, "WLHY_YD1001", samples.waybill(), ref=ref)
    again = send(session, operator, "WLHY_YD1001", samples.waybill(), ref=ref)
    assert first.code == 1001 and again.code == 3001
    assert count(session, DocumentVersion, DocumentVersion.kind == "waybill") == 1
    assert count(session, Outbox) == 1
    replay = session.get(Message, again.message_id)
    assert replay.duplicate_of == first.message_id and replay.result_code == 3001  # archived too


def test_same_document_under_new_reference_changes_nothing(session, operator):
    a = send(session, operator, "WLHY_YD1001", samples.waybill())
    b = send(session, operator, "WLHY_YD1001", samples.waybill())
    assert a.code == b.code == 1001
    assert b.documents[0].status == "unchanged" and b.documents[0].version == 1
    assert count(session, Waybill) == 1 and count(session, DocumentVersion) == 1 and count(session, Outbox) == 1


def test_correction_replaces_current_version_and_keeps_history(session, operator):
    send(session, operator, "WLHY_YD1001", samples.waybill())
    corrected = samples.waybill()
    corrected["totalMonetaryAmount"] = "3650.000"
    res = send(session, operator, "WLHY_YD1001", corrected)
    assert res.documents[0].status == "updated" and res.documents[0].version == 2
    wb = session.scalars(select(Waybill)).one()
    assert wb.total_amount == Decimal("3650.000") and wb.version == 2
    versions = session.scalars(select(DocumentVersion).order_by(DocumentVersion.version)).all()
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].superseded_at is not None and versions[1].superseded_at is None
    assert versions[0].payload["totalMonetaryAmount"] == "3500.000"
    assert count(session, WaybillVehicle) == 1  # children replaced, not duplicated
    assert count(session, Outbox) == 2  # the correction is forwarded too


def test_invalid_payload_answers_3005_with_field_errors_archived(session, operator):
    bad = samples.waybill()
    bad["vehicleInfo"][0]["driver"][0]["drivingLicense"] = "34010419900307001"  # 17 characters
    res = send(session, operator, "WLHY_YD1001", bad)
    wire = res.to_wire()
    assert wire["code"] == 3005
    assert any(e["field"] == "vehicleInfo[0].driver[0].drivingLicense" for e in wire["errors"])
    assert count(session, Waybill) == 0 and count(session, Outbox) == 0
    msg = session.get(Message, res.message_id)
    assert msg.result_code == 3005 and msg.body  # kept for the operator to inspect
    assert count(session, ExchangeError, ExchangeError.message_id == msg.id) == len(wire["errors"])
    assert count(session, Anomaly, Anomaly.code == "INTAKE_REJECTED") == 1


@pytest.mark.parametrize("header_change,payload,code", [
    ({"ipcType": "WLHY_XX1001"}, None, 3002),
    ({"documentName": "资金流水单上传"}, None, 3002),  # does not match WLHY_YD1001
    ({"messageReferenceNumber": ""}, None, 3004),
    ({}, "{not json", 3008),
    ({}, "[1, 2]", 3008),
])
def test_envelope_level_errors(session, operator, header_change, payload, code):
    header = {"messageReferenceNumber": uuid.uuid4().hex, "documentName": "电子运单上传", "ipcType": "WLHY_YD1001",
              "enterpriseSenderCode": "wlhy-test"} | header_change
    res = pipeline.receive(session, operator=operator, header=header,
                           payload=payload if payload is not None else json.dumps(samples.waybill()))
    assert res.code == code
    assert session.get(Message, res.message_id).result_code == code


def test_processing_failure_is_9001_with_archive_kept_and_nothing_half_written(session, operator, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pipeline, "upsert_document", boom)
    res = send(session, operator, "WLHY_YD1001", samples.waybill())
    assert res.code == 9001
    assert session.get(Message, res.message_id).result_code == 9001
    assert count(session, Waybill) == 0 and count(session, Outbox) == 0


def test_a_failure_after_the_document_is_written_leaves_none_of_it(session, operator, monkeypatch):
    """The document's statements go straight to psycopg: they must still run inside the processing's savepoint."""
    real = pipeline.insert_row

    def outbox_fails(session_, table, values, *a, **k):
        if table.name == "outbox":
            raise RuntimeError("disk full")
        return real(session_, table, values, *a, **k)

    monkeypatch.setattr(pipeline, "insert_row", outbox_fails)
    res = send(session, operator, "WLHY_YD1001", samples.waybill())
    assert res.code == 9001
    assert session.get(Message, res.message_id, populate_existing=True).result_code == 9001
    assert count(session, Waybill) == 0 and count(session, WaybillVehicle) == 0
    assert count(session, DocumentVersion) == 0 and count(session, Outbox) == 0


def test_positions_converted_to_wgs84_h3_indexed_and_idempotent(session, operator):
    batch = samples.position_batch()
    batch["coordinateSystem"] = "GCJ02"
    res = send(session, operator, "WLHY_WZ1001", batch)
    n = len(batch["locations"])
    assert res.code == 1001 and res.positions_inserted == n
    rows = session.execute(text(
        "SELECT ST_X(geom), ST_Y(geom), h3, t FROM position ORDER BY t")).all()
    lon0, lat0 = batch["locations"][0]["longitude"], batch["locations"][0]["latitude"]
    wx, wy = crs.gcj02_to_wgs84(lon0, lat0)
    assert abs(rows[0][0] - float(wx)) < 1e-7 and abs(rows[0][1] - float(wy)) < 1e-7
    assert abs(rows[0][0] - lon0) > 1e-4  # the GCJ offset was removed, not ignored
    assert all(r[2] != 0 for r in rows)
    # the wire time is Beijing time
    wire_t = dt.datetime.strptime(batch["locations"][0]["dateTime"], "%Y%m%d%H%M%S")
    assert rows[0][3] == wire_t.replace(tzinfo=BEIJING)
    again = send(session, operator, "WLHY_WZ1001", batch)  # same fixes, new reference number
    assert again.code == 1001 and again.positions_inserted == 0
    assert count(session, Position) == n


def test_fund_flow_before_its_waybill_is_linked_when_the_waybill_arrives(session, operator):
    send(session, operator, "WLHY_ZJ1001", samples.fund_flow())
    assert session.scalars(select(FundFlowWaybill)).one().waybill_id is None
    res = send(session, operator, "WLHY_YD1001", samples.waybill())
    assert session.scalars(select(FundFlowWaybill)).one().waybill_id == res.documents[0].document_id


def test_checksum_failure_is_accepted_with_a_qualification_anomaly(session, operator):
    v = samples.driver()
    v["drivingLicense"] = v["drivingLicense"][:-1] + ("1" if v["drivingLicense"][-1] != "1" else "2")
    res = send(session, operator, "WLHY_JSY1001", v)
    assert res.code == 1001
    anomaly = session.scalars(select(Anomaly).where(Anomaly.code == "QUAL_ID_CHECKSUM")).one()
    assert anomaly.document_kind == "driver" and "drivingLicense" in anomaly.reason_en


def test_vehicle_upsert_is_one_row_per_plate(session, operator):
    send(session, operator, "WLHY_CL1001", samples.vehicle())
    v2 = samples.vehicle()
    v2["grossMass"] = "32.00"
    send(session, operator, "WLHY_CL1001", v2)
    rows = session.scalars(select(Vehicle)).all()
    assert len(rows) == 1 and rows[0].gross_mass_t == Decimal("32.00") and rows[0].version == 2


def test_a_reference_that_failed_on_our_side_can_be_retried(session, operator, monkeypatch):
    """9001 means nothing was processed: the platform's retry under the same reference is processed, not 3001."""
    ref = uuid.uuid4().hex
    real = pipeline.upsert_document

    def boom(*a, **k):
        raise RuntimeError("database restarting")

    monkeypatch.setattr(pipeline, "upsert_document", boom)
    assert send(session, operator, "WLHY_YD1001", samples.waybill(), ref=ref).code == 9001
    monkeypatch.setattr(pipeline, "upsert_document", real)
    assert send(session, operator, "WLHY_YD1001", samples.waybill(), ref=ref).code == 1001
    assert send(session, operator, "WLHY_YD1001", samples.waybill(), ref=ref).code == 3001
    assert count(session, Waybill) == 1
