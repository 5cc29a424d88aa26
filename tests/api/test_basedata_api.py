"""GET /api/v1/vehicles and /drivers over real HTTP: filters, paging, CSV with BOM and masking, history and
reporting platforms, and the role × scope matrix — a platform sees only its own report, never a rival's."""

from __future__ import annotations

import csv
import io
import json
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from etl.intake.pipeline import receive
from etl.schemas import samples
from etl.schemas.checksums import id_check_char
from store.models import AuditLog, Driver, Operator, Vehicle
from tests.api.conftest import login_as
from tests.etl.intake.test_pipeline import DOC_NAMES


def _send(s, op, ipc: str, payload: dict) -> None:
    header = {"messageReferenceNumber": uuid.uuid4().hex, "documentName": DOC_NAMES[ipc],
              "documentVersionNumber": "2.0", "senderCode": "340000", "enterpriseSenderCode": "t",
              "messageSendingDateTime": "20240316093000", "ipcType": ipc}
    res = receive(s, operator=op, header=header, payload=json.dumps(payload))
    assert res.code == 1001, res


def _id_number(seq: int) -> str:
    first17 = f"34010419850101{seq:03d}"
    return first17 + id_check_char(first17)


@pytest.fixture(scope="module")
def base(engine):
    """Platform X (蜀山区 340104) and rival Y (瑶海区 340102) both report vehicle V and driver D, each its own way;
    X corrects V once (version 2); only Y reports the light vehicle W and driver E; X has a waybill with V and D."""
    n = uuid.uuid4().int % 10_000
    tag = uuid.uuid4().hex[:6].upper()
    v_plate, w_plate = f"皖A{n:04d}1", f"皖A{n:04d}2"
    d_id, e_id = _id_number(n % 500), _id_number(500 + n % 500)
    with Session(engine) as s:
        x = Operator(usci=f"91340104{tag}X000", name=f"X{tag}", division_code="340104")
        y = Operator(usci=f"91340102{tag}Y000", name=f"Y{tag}", division_code="340102")
        s.add_all([x, y])
        s.flush()

        def vehicle(plate, **kw):
            return samples.vehicle() | {"vehicleNumber": plate} | kw

        def driver(number, name, phone):
            return samples.driver() | {"drivingLicense": number, "qualificationCertificate": number,
                                       "driverName": name, "telephone": phone}

        _send(s, x, "WLHY_CL1001", vehicle(v_plate, owner="X车主"))
        _send(s, y, "WLHY_CL1001", vehicle(v_plate, owner="Y车主", grossMass="4.00", vehicleType="H31"))
        _send(s, x, "WLHY_CL1001", vehicle(v_plate, owner="X车主", remark="更正"))
        _send(s, y, "WLHY_CL1001", vehicle(w_plate, owner="Y车主", grossMass="4.00", vehicleTonnage="1.50",
                                            vehicleType="H31", vehiclePlateColorCode="1"))
        _send(s, x, "WLHY_JSY1001", driver(d_id, f"李{tag}", "13900000001"))
        _send(s, y, "WLHY_JSY1001", driver(d_id, f"李{tag}", "13900000002"))
        _send(s, y, "WLHY_JSY1001", driver(e_id, f"周{tag}", "13900000003"))
        waybill = samples.waybill()
        waybill["shippingNoteNumber"] = f"WB{tag}"
        waybill["vehicleInfo"][0]["vehicleNumber"] = v_plate
        waybill["vehicleInfo"][0]["driver"] = [{"driverName": f"李{tag}", "drivingLicense": d_id}]
        _send(s, x, "WLHY_YD1001", waybill)
        x_id, y_id = x.id, y.id
        s.commit()
        ids = {
            "V": s.scalar(select(Vehicle.id).where(Vehicle.vehicle_number == v_plate)),
            "W": s.scalar(select(Vehicle.id).where(Vehicle.vehicle_number == w_plate)),
            "D": s.scalar(select(Driver.id).where(Driver.driving_license == d_id)),
            "E": s.scalar(select(Driver.id).where(Driver.driving_license == e_id)),
        }
    return {"x": x_id, "y": y_id, "prefix": f"皖A{n:04d}", "tag": tag, "d_id": d_id, "e_id": e_id,
            "note": f"WB{tag}", **ids}


def _h(http, make_user, role, **kw):
    return login_as(http, make_user, role, **kw)[1]


def _vehicles(http, headers, base, **params):
    r = http.get("/api/v1/vehicles", params={"vehicle_number": base["prefix"], **params}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def _drivers(http, headers, base, **params):
    r = http.get("/api/v1/drivers", params={"name": base["tag"], **params}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


# --- the scope matrix --------------------------------------------------------------------------------------------

# who → (user fields, visible vehicles and drivers, whose report of V / D is shown: the owner's X when visible)
MATRIX = {
    "admin": (lambda b: {}, {"V", "W", "D", "E"}, "x"),
    "province": (lambda b: {"division_code": "340000"}, {"V", "W", "D", "E"}, "x"),
    "city": (lambda b: {"division_code": "340100"}, {"V", "W", "D", "E"}, "x"),
    "county A": (lambda b: {"division_code": "340104"}, {"V", "D"}, "x"),
    "county B": (lambda b: {"division_code": "340102"}, {"V", "W", "D", "E"}, "y"),
    "city elsewhere": (lambda b: {"division_code": "340200"}, set(), None),
    "operator X": (lambda b: {"operator_id": b["x"]}, {"V", "D"}, "x"),
    "operator Y": (lambda b: {"operator_id": b["y"]}, {"V", "W", "D", "E"}, "y"),
}


@pytest.mark.parametrize("who", list(MATRIX))
def test_vehicles_and_drivers_in_scope_only(http, make_user, base, who):
    extra, visible, shown = MATRIX[who]
    headers = _h(http, make_user, who.split()[0], **extra(base))
    listed = {x["id"] for x in _vehicles(http, headers, base)["items"]} | \
        {x["id"] for x in _drivers(http, headers, base)["items"]}
    assert listed == {base[k] for k in visible}, who
    for key, url in (("V", "vehicles"), ("W", "vehicles"), ("D", "drivers"), ("E", "drivers")):
        r = http.get(f"/api/v1/{url}/{base[key]}", headers=headers)
        assert r.status_code == (200 if key in visible else 404), (who, key, r.status_code)
        if r.status_code == 200 and key in ("V", "D"):
            body = r.json()
            assert body["operatorId"] == base[shown], (who, key)  # the record is a visible report's
            reporters = {rep["operatorId"] for rep in body["reports"]}
            assert {h["operatorId"] for h in body["history"]} <= reporters
            if who.startswith(("operator", "county")):
                assert reporters == {base[shown]}, (who, key)  # never the rival's report


def test_an_operator_sees_its_own_report_never_the_rivals(http, make_user, base):
    x = _h(http, make_user, "operator", operator_id=base["x"])
    y = _h(http, make_user, "operator", operator_id=base["y"])
    vx = http.get(f"/api/v1/vehicles/{base['V']}", headers=x).json()
    vy = http.get(f"/api/v1/vehicles/{base['V']}", headers=y).json()
    assert (vx["owner"], vx["grossMass"], vx["heavy"], vx["version"]) == ("X车主", "31.00", True, 2)
    assert (vy["owner"], vy["grossMass"], vy["heavy"], vy["version"]) == ("Y车主", "4.00", False, 1)
    assert [h["version"] for h in vx["history"]] == [2, 1] and [h["current"] for h in vx["history"]] == [True, False]
    assert all(h["payload"]["owner"] == "X车主" for h in vx["history"])
    assert [h["payload"]["owner"] for h in vy["history"]] == ["Y车主"]
    # X's waybill is X's: the rival does not even learn the vehicle ran one
    assert [w["shippingNoteNumber"] for w in vx["recentWaybills"]] == [base["note"]] and vx["waybillCount"] == 1
    assert vy["recentWaybills"] == [] and vy["waybillCount"] == 0
    # the list shows the same own fields, and asking for the rival's reports by filter shows nothing
    [row] = _vehicles(http, y, base, heavy="false", plate_color="2")["items"]
    assert row["owner"] == "Y车主"
    assert _vehicles(http, x, base, operator_id=base["y"])["items"] == []
    dx = http.get(f"/api/v1/drivers/{base['D']}", headers=x).json()
    dy = http.get(f"/api/v1/drivers/{base['D']}", headers=y).json()
    assert (dx["telephone"], dy["telephone"]) == ("13900000001", "13900000002")  # each its own, in clear


def test_admin_sees_both_reports_with_first_and_last_reported(http, make_user, base):
    admin = _h(http, make_user, "admin")
    v = http.get(f"/api/v1/vehicles/{base['V']}", headers=admin).json()
    reports = {r["operatorId"]: r for r in v["reports"]}
    assert set(reports) == {base["x"], base["y"]} and reports[base["x"]]["version"] == 2
    assert reports[base["x"]]["firstReportedAt"] <= reports[base["x"]]["lastReportedAt"]
    assert reports[base["x"]]["operatorName"] == f"X{base['tag']}"
    assert len(v["history"]) == 3 and v["owner"] == "X车主"  # the owner's (first platform's) report is the record
    assert http.get("/api/v1/vehicles/999999999", headers=admin).status_code == 404


def test_analyst_is_refused(http, make_user, base):
    analyst = _h(http, make_user, "analyst")
    for url in ("/api/v1/vehicles", "/api/v1/drivers", f"/api/v1/vehicles/{base['V']}",
                f"/api/v1/drivers/{base['D']}"):
        assert http.get(url, headers=analyst).status_code == 403, url


# --- filters, sorting, paging --------------------------------------------------------------------------------------

def _ids(body) -> list[int]:
    return [x["id"] for x in body["items"]]


def test_vehicle_filters_sort_and_paging(http, make_user, base):
    admin = _h(http, make_user, "admin")
    ids = _ids
    assert ids(_vehicles(http, admin, base)) == [base["V"], base["W"]]            # by plate
    assert ids(_vehicles(http, admin, base, sort="-vehicleNumber")) == [base["W"], base["V"]]
    assert ids(_vehicles(http, admin, base, heavy="true")) == [base["V"]]
    assert ids(_vehicles(http, admin, base, heavy="false")) == [base["W"]]
    assert ids(_vehicles(http, admin, base, plate_color="1")) == [base["W"]]
    assert ids(_vehicles(http, admin, base, vehicle_type="H3")) == [base["W"]]
    assert ids(_vehicles(http, admin, base, vehicle_type="H1")) == [base["V"]]
    # narrowed to Y's reports, V shows as Y reported it
    by_y = _vehicles(http, admin, base, operator_id=base["y"])["items"]
    assert [(x["id"], x["owner"]) for x in by_y] == [(base["V"], "Y车主"), (base["W"], "Y车主")]
    assert ids(_vehicles(http, admin, base, division="340104")) == [base["V"]]
    page2 = _vehicles(http, admin, base, limit=1, offset=1)
    assert (page2["total"], page2["limit"], page2["offset"], ids(page2)) == (2, 1, 1, [base["W"]])
    assert http.get("/api/v1/vehicles", params={"sort": "owner"}, headers=admin).status_code == 422
    assert http.get("/api/v1/vehicles", params={"limit": 0}, headers=admin).status_code == 422


def test_driver_filters_and_search_by_full_id_number(http, make_user, base):
    county = _h(http, make_user, "county", division_code="340102")
    found = http.get("/api/v1/drivers", params={"id_number": base["d_id"]}, headers=county).json()
    assert [x["id"] for x in found["items"]] == [base["D"]]
    assert found["items"][0]["drivingLicense"] == base["d_id"][:4] + "*" * 10 + base["d_id"][-4:]
    other = base["d_id"][:-1] + ("1" if base["d_id"][-1] == "0" else "0")
    assert http.get("/api/v1/drivers", params={"id_number": other}, headers=county).json()["total"] == 0
    assert http.get("/api/v1/drivers", params={"id_number": base["d_id"][:10]}, headers=county).json()["total"] == 0  # no partial match
    admin = _h(http, make_user, "admin")
    assert [x["id"] for x in _drivers(http, admin, base, name=f"周{base['tag']}")["items"]] == [base["E"]]
    assert [x["name"] for x in _drivers(http, admin, base, sort="-name")["items"]] == \
        sorted([f"李{base['tag']}", f"周{base['tag']}"], reverse=True)
    assert [x["id"] for x in _drivers(http, admin, base, operator_id=base["x"])["items"]] == [base["D"]]


# --- masking, CSV, audit ------------------------------------------------------------------------------------------

def test_driver_masking_in_json_history_and_csv(http, make_user, base):
    county = _h(http, make_user, "county", division_code="340104")
    d = http.get(f"/api/v1/drivers/{base['D']}", headers=county).json()
    assert d["drivingLicense"].count("*") == 10 and d["telephone"] == "139****0001"
    assert d["qualificationCertificate"].count("*") == 10
    assert all(base["d_id"] not in json.dumps(h, ensure_ascii=False) for h in d["history"])
    assert d["history"][0]["payload"]["telephone"] == "139****0001"
    r = http.get("/api/v1/drivers", params={"name": base["tag"], "format": "csv"}, headers=county)
    assert r.content.startswith("\ufeff".encode()) and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [x["name"] for x in rows] == [f"李{base['tag']}"]
    assert rows[0]["drivingLicense"].count("*") == 10 and rows[0]["telephone"] == "139****0001"
    assert base["d_id"] not in r.content.decode("utf-8-sig")


def test_clear_reads_are_audited_masked_ones_not(http, make_user, base, engine):
    name, province = login_as(http, make_user, "province", division_code="340000")
    d = http.get(f"/api/v1/drivers/{base['D']}", headers=province).json()
    assert d["drivingLicense"] == base["d_id"]
    r = http.get("/api/v1/drivers", params={"name": base["tag"], "format": "csv"}, headers=province)
    assert base["d_id"] in r.content.decode("utf-8-sig")
    county_name, county = login_as(http, make_user, "county", division_code="340104")
    http.get(f"/api/v1/drivers/{base['D']}", headers=county)
    _drivers(http, county, base)
    with Session(engine) as s:
        targets = s.scalars(select(AuditLog.target).where(AuditLog.username == name,
                                                          AuditLog.action == "read_personal_data")).all()
        assert sorted(targets) == sorted([f"driver:{base['D']}", "drivers"])
        assert s.scalars(select(AuditLog).where(AuditLog.username == county_name,
                                                AuditLog.action == "read_personal_data")).all() == []


def test_vehicles_csv_has_bom_and_chinese(http, make_user, base):
    admin = _h(http, make_user, "admin")
    r = http.get("/api/v1/vehicles", params={"vehicle_number": base["prefix"], "format": "csv"}, headers=admin)
    assert r.content.startswith("\ufeff".encode())
    assert 'filename="vehicles.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [(x["vehicleNumber"], x["owner"], x["heavy"]) for x in rows] == \
        [(base["prefix"] + "1", "X车主", "True"), (base["prefix"] + "2", "Y车主", "False")]


def test_totals_count_each_vehicle_and_driver_once(http, make_user, base):
    """A city sees both platforms' reports of V and D: each is listed, and counted in ``total``, once; a filter on
    the report shown (V is shown as its owner X reported it, an H1 truck) counts what it leaves."""
    city = _h(http, make_user, "city", division_code="340100")
    vehicles = _vehicles(http, city, base)
    assert (vehicles["total"], _ids(vehicles)) == (2, [base["V"], base["W"]])
    drivers = _drivers(http, city, base)
    assert drivers["total"] == 2 and sorted(_ids(drivers)) == sorted([base["D"], base["E"]])
    light = _vehicles(http, city, base, vehicle_type="H3")
    assert (light["total"], _ids(light)) == (1, [base["W"]])
    page2 = _vehicles(http, city, base, limit=1, offset=1)
    assert (page2["total"], _ids(page2)) == (2, [base["W"]])
