"""Small hand-made provinces for the statistics tests: operators and waybills sent through the intake core."""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid

from sqlalchemy import select, text

from etl.intake import pipeline
from etl.intake.documents import upsert_operator
from etl.schemas import samples
from etl.schemas.checksums import usci_check_char
from store.models import Operator, Trajectory, Verification, Waybill, WaybillVehicle

DOC_NAME = "电子运单上传"
DAY = dt.date(2024, 3, 15)  # the sample waybill's receipt day (Beijing)


def make_operator(session, n: int, division: str = "340104") -> Operator:
    record = dict(samples.operator())
    first17 = f"91340100MA{n:07d}"
    record["unifiedSocialCreditIdentifier"] = first17 + usci_check_char(first17)
    record["name"] = f"测试网络货运{n}号"
    record["countrySubdivisionCode"] = division
    record["userName"] = f"op{n}"
    op = upsert_operator(session, record)
    session.flush()
    return op


def send_waybill(session, operator: Operator, note: str, *, plate: str = "皖A12345", license_: str =
                 "340104199003070013", goods: list[tuple[str, float]] = (("1200", 18000.0),), amount: float = 3500.0,
                 loading: str = "320583", receipt: str = "340104", receipt_at: str = "20240315180000") -> Waybill:
    w = copy.deepcopy(samples.waybill())
    w["shippingNoteNumber"] = note
    w["totalMonetaryAmount"] = f"{amount:.3f}"
    w["goodsReceiptDateTime"] = receipt_at
    w["consignorInfo"]["countrySubdivisionCode"] = loading
    w["consigneeInfo"]["countrySubdivisionCode"] = receipt
    item = w["vehicleInfo"][0]
    item["vehicleNumber"] = plate
    item["driver"][0]["drivingLicense"] = license_
    template = item["goodsInfo"][0]
    item["goodsInfo"] = [{**template, "cargoTypeClassificationCode": code, "goodsItemGrossWeight": f"{kg:.3f}"}
                         for code, kg in goods]
    header = {"messageReferenceNumber": uuid.uuid4().hex, "documentName": DOC_NAME, "documentVersionNumber": "2.0",
              "senderCode": "340000", "enterpriseSenderCode": "t", "messageSendingDateTime": "20240316093000",
              "ipcType": "WLHY_YD1001"}
    res = pipeline.receive(session, operator=operator, header=header, payload=json.dumps(w, ensure_ascii=False))
    assert res.code == 1001, res
    return session.scalars(select(Waybill).where(Waybill.operator_id == operator.id,
                                                 Waybill.shipping_note_number == note)).one()


def verify_with_length(session, waybill: Waybill, length_m: float, verdict: str = "PASS") -> None:
    """A current verification of the waybill's first item with a trajectory of that length (as verification
    stores them)."""
    item = session.scalars(select(WaybillVehicle).where(WaybillVehicle.waybill_id == waybill.id)).first()
    session.execute(text("DELETE FROM trajectory WHERE waybill_vehicle_id = :i"), {"i": item.id})
    session.add(Trajectory(waybill_id=waybill.id, waybill_vehicle_id=item.id, source=2, n_fixes=100,
                           length_m=length_m, coverage=0.95))
    session.flush()
    session.add(Verification(waybill_id=waybill.id, waybill_vehicle_id=item.id, verdict=verdict, rules=[],
                             current=True))
    session.flush()


def dirty(session) -> set[tuple[int, dt.date]]:
    return {(r.operator_id, r.day) for r in session.execute(text("SELECT operator_id, day FROM stat_dirty"))}
