"""Fixtures of the registry-rule tests: the 运政 and national-platform simulators over real HTTP (uvicorn on free
ports, empty tables filled per test through /admin/records), and helpers sending documents through intake."""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid

import httpx
import pytest
from sqlalchemy import select

from etl.adapters.national import NationalPlatformClient
from etl.adapters.yunzheng import YunzhengClient
from etl.intake import pipeline
from etl.schemas import samples
from simulation.servers.runner import serve
from store.models import Anomaly, Waybill
from supervision.rules.registry import Registries
from tests.etl.intake.test_pipeline import DOC_NAMES

TODAY = dt.date(2024, 3, 20)
PERMIT = samples.operator()["permitNumber"]
USCI = samples.operator()["unifiedSocialCreditIdentifier"]
PLATE, CERT = "皖A12345", "340104123456"
DRIVER_ID = samples.driver()["drivingLicense"]


def licence(valid_to="20301231", status="valid", permit=PERMIT):
    return {"permitNumber": permit, "unifiedSocialCreditIdentifier": USCI, "name": "安徽某某网络货运有限公司",
            "validFrom": "20200101", "validTo": valid_to, "status": status}


def vehicle_cert(number=CERT, plate=PLATE, valid_to="20280101", status="valid"):
    return {"roadTransportCertificateNumber": number, "vehicleNumber": plate, "vehiclePlateColorCode": "2",
            "validFrom": "20220101", "validTo": valid_to, "status": status}


def driver_cert(number=DRIVER_ID, valid_to="20300101", status="valid"):
    return {"qualificationCertificate": number, "drivingLicense": DRIVER_ID, "driverName": "张三",
            "validFrom": "20180101", "validTo": valid_to, "status": status}


def in_network(plate=PLATE, yes=True, since="20230101"):
    return {"vehicleNumber": plate, "vehiclePlateColorCode": "2", "inNetwork": yes, "since": since if yes else None}


@pytest.fixture(scope="package")
def registry_sims():
    """The 运政 and national-platform simulators, empty, on free ports."""
    handles = {kind: serve(kind, None, port=0) for kind in ("yunzheng", "national")}
    yield handles
    for h in handles.values():
        h.stop()


class Sims:
    """Load records into, and switch faults on, the simulators."""

    def __init__(self, handles, http: httpx.Client):
        self.handles, self.http = handles, http

    def load(self, kind: str, *records: dict) -> None:
        system = "national" if kind == "in_network" else "yunzheng"
        self.http.post(f"{self.handles[system].url}/admin/records/{kind}", json=list(records)).raise_for_status()

    def fault(self, system: str, mode: str) -> None:
        self.http.post(f"{self.handles[system].url}/admin/faults", json={"mode": mode}).raise_for_status()

    def requests(self, system: str) -> int:
        return self.http.get(f"{self.handles[system].url}/health").json()["requests"]

    def clean_world(self) -> None:
        """The sample operator, vehicle and driver all valid in the registries."""
        self.load("operator_licences", licence())
        self.load("vehicle_certificates", vehicle_cert())
        self.load("driver_certificates", driver_cert())
        self.load("in_network", in_network())


@pytest.fixture
def sims(registry_sims):
    with httpx.Client(timeout=5.0) as http:
        s = Sims(registry_sims, http)
        s.fault("yunzheng", "ok")
        s.fault("national", "ok")
        s.clean_world()
        yield s
        s.fault("yunzheng", "ok")
        s.fault("national", "ok")


@pytest.fixture
def make_registries(registry_sims):
    """Registries on the simulators (no client retries: an outage shows at once), caching under TODAY."""
    made = []

    def make(**kw) -> Registries:
        kw.setdefault("today", TODAY)
        r = Registries(yunzheng=YunzhengClient(registry_sims["yunzheng"].url, timeout_s=2, retries=0),
                       national=NationalPlatformClient(registry_sims["national"].url, timeout_s=2, retries=0), **kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def send(session, operator, ipc, payload):
    header = {"messageReferenceNumber": uuid.uuid4().hex, "documentName": DOC_NAMES[ipc],
              "documentVersionNumber": "2.0", "senderCode": "340000", "enterpriseSenderCode": "t",
              "messageSendingDateTime": "20240316093000", "ipcType": ipc}
    res = pipeline.receive(session, operator=operator, header=header, payload=json.dumps(payload))
    assert res.code == 1001, res
    return res


def report_vehicle(session, operator, **changes):
    v = copy.deepcopy(samples.vehicle())
    v.update(changes)
    send(session, operator, "WLHY_CL1001", v)


def report_driver(session, operator, **changes):
    d = copy.deepcopy(samples.driver())
    d.update(changes)
    send(session, operator, "WLHY_JSY1001", d)


def send_waybill(session, operator, note="YD20240315000123", plate=PLATE, driver=DRIVER_ID, **changes) -> int:
    w = copy.deepcopy(samples.waybill())
    w["shippingNoteNumber"] = note
    w["vehicleInfo"][0]["vehicleNumber"] = plate
    w["vehicleInfo"][0]["driver"][0]["drivingLicense"] = driver
    w.update(changes)
    send(session, operator, "WLHY_YD1001", w)
    return session.scalar(select(Waybill.id).where(Waybill.operator_id == operator.id,
                                                   Waybill.shipping_note_number == note))


def anomalies(session, wid) -> dict[str, Anomaly]:
    """The waybill's anomalies by code (any status)."""
    session.expire_all()
    return {a.code: a for a in session.scalars(select(Anomaly).where(Anomaly.document_key == f"waybill:{wid}"))}


def open_codes(session, wid) -> set[str]:
    return {c for c, a in anomalies(session, wid).items() if a.status == "open"}
