"""QUAL_* against the 运政 simulator and VEHICLE_NOT_IN_NETWORK against the national-platform simulator, over real
HTTP: each rule fires on its crafted case and not on its clean twin, on the waybill's despatch day (2024-03-15),
with the values compared and the documents concerned, and resolves when a correction removes the cause."""

from __future__ import annotations

from store.jobs import KIND_DOCUMENT_RULES
from supervision.rules.jobs import run_document_rules
from supervision.rules.qualifications import check_qualifications
from tests.supervision.rules.conftest import (
    CERT,
    DRIVER_ID,
    anomalies,
    driver_cert,
    in_network,
    licence,
    open_codes,
    report_driver,
    report_vehicle,
    send_waybill,
    vehicle_cert,
)

QUAL = {"QUAL_OPERATOR_PERMIT", "QUAL_VEHICLE_CERT", "QUAL_DRIVER_CERT", "QUAL_DRIVER_LICENSE",
        "VEHICLE_NOT_IN_NETWORK"}


def _world(session, operator, *, vehicle=None, driver=None, **waybill):
    report_vehicle(session, operator, **(vehicle or {}))
    report_driver(session, operator, **(driver or {}))
    return send_waybill(session, operator, **waybill)


def _check(session, wid, registries):
    return check_qualifications(session, [wid], registries)


def test_a_clean_waybill_fires_no_registry_rule(session, operator, sims, make_registries):
    wid = _world(session, operator)
    out = _check(session, wid, make_registries())
    assert out.fired == {} and out.pending == {} and not (open_codes(session, wid) & QUAL)


def test_operator_licence_expired_before_the_despatch_day(session, operator, sims, make_registries):
    sims.load("operator_licences", licence(valid_to="20240301"))
    wid = _world(session, operator)
    _check(session, wid, make_registries())
    a = anomalies(session, wid)["QUAL_OPERATOR_PERMIT"]
    assert a.status == "open" and "2024-03-15" in a.reason_zh and "not valid on the despatch day" in a.reason_en
    [numbers] = a.evidence["numbers"]
    assert numbers["validTo"] == "2024-03-01" and numbers["despatchDay"] == "2024-03-15"
    assert a.evidence["documents"] == [{"kind": "operator", "id": operator.id, "key": f"operator:{operator.id}"}]


def test_operator_licence_unknown_to_the_registry(session, operator, sims, make_registries):
    wid = _world(session, operator, permitNumber="皖交运管许可合字349999999999号")
    _check(session, wid, make_registries())
    a = anomalies(session, wid)["QUAL_OPERATOR_PERMIT"]
    assert a.evidence["numbers"][0]["found"] is False and "不存在" in a.reason_zh


def test_vehicle_over_4_5_t_with_the_placeholder_certificate(session, operator, sims, make_registries):
    wid = _world(session, operator, vehicle={"roadTransportCertificateNumber": "340104000000"})
    _check(session, wid, make_registries())
    a = anomalies(session, wid)["QUAL_VEHICLE_CERT"]
    assert a.status == "open" and a.evidence["numbers"][0]["placeholder"] is True
    assert a.evidence["numbers"][0]["grossMassT"] == "31.00" and "4.5" in a.reason_zh
    assert a.evidence["documents"][0]["kind"] == "vehicle"


def test_a_4_5_t_vehicle_needs_no_certificate(session, operator, sims, make_registries):
    # the clean twin: same placeholder, gross mass exactly 4.5 t ("> 4.5 t" needs one); a light truck type
    wid = _world(session, operator, vehicle={"roadTransportCertificateNumber": "340104000000", "grossMass": "4.50",
                                             "vehicleType": "H31"},
                 driver={"qualificationCertificate": "340104000000000000"})
    _check(session, wid, make_registries())
    assert not (open_codes(session, wid) & {"QUAL_VEHICLE_CERT", "QUAL_DRIVER_CERT"})


def test_vehicle_certificate_revoked_in_the_registry_then_reinstated(session, operator, sims, make_registries):
    sims.load("vehicle_certificates", vehicle_cert(status="revoked"))
    wid = _world(session, operator)
    _check(session, wid, make_registries())
    a = anomalies(session, wid)["QUAL_VEHICLE_CERT"]
    assert a.status == "open" and a.evidence["numbers"][0]["registryStatus"] == "revoked"
    sims.load("vehicle_certificates", vehicle_cert())            # the registry corrected
    _check(session, wid, make_registries(refresh=True))
    assert anomalies(session, wid)["QUAL_VEHICLE_CERT"].status == "resolved"


def test_driver_of_a_heavy_vehicle_without_qualification(session, operator, sims, make_registries):
    wid = _world(session, operator, driver={"qualificationCertificate": "340104000000000000"})
    _check(session, wid, make_registries())
    a = anomalies(session, wid)["QUAL_DRIVER_CERT"]
    assert a.status == "open" and a.evidence["numbers"][0]["placeholder"] is True
    assert DRIVER_ID not in a.reason_zh and "3401**********0013" in a.reason_zh  # masked, never in clear


def test_driver_qualification_expired_in_the_registry(session, operator, sims, make_registries):
    sims.load("driver_certificates", driver_cert(valid_to="20240101"))
    wid = _world(session, operator)
    _check(session, wid, make_registries())
    assert anomalies(session, wid)["QUAL_DRIVER_CERT"].evidence["numbers"][0]["validTo"] == "2024-01-01"


def test_driving_licence_expired_on_the_despatch_day(session, operator, sims, make_registries):
    wid = _world(session, operator, driver={"validPeriodTo": "20240314"})
    _check(session, wid, make_registries())
    a = anomalies(session, wid)["QUAL_DRIVER_LICENSE"]
    assert a.evidence["numbers"][0]["validTo"] == "2024-03-14" and "2024-03-15" in a.reason_en


def test_tractor_needs_an_a2_licence(session, operator, sims, make_registries):
    wid = _world(session, operator, vehicle={"vehicleType": "Q11"}, driver={"vehicleClass": "B2"})
    _check(session, wid, make_registries())
    a = anomalies(session, wid)["QUAL_DRIVER_LICENSE"]
    assert a.evidence["numbers"][0]["needed"] == "A2" and a.evidence["numbers"][0]["vehicleClass"] == "B2"


def test_tractor_with_an_a2_licence_is_clean(session, operator, sims, make_registries):
    wid = _world(session, operator, vehicle={"vehicleType": "Q11"}, driver={"vehicleClass": "A2"})
    _check(session, wid, make_registries())
    assert "QUAL_DRIVER_LICENSE" not in open_codes(session, wid)


def test_heavy_truck_not_on_the_national_platform(session, operator, sims, make_registries):
    plate = "皖A20001"
    sims.load("vehicle_certificates", vehicle_cert(number="340104200001", plate=plate))
    sims.load("in_network", in_network(plate, yes=False))
    wid = _world(session, operator, vehicle={"vehicleNumber": plate, "roadTransportCertificateNumber": "340104200001"},
                 plate=plate)
    _check(session, wid, make_registries())
    a = anomalies(session, wid)["VEHICLE_NOT_IN_NETWORK"]
    assert a.status == "open" and a.evidence["numbers"][0]["inNetwork"] is False and plate in a.reason_zh


def test_a_truck_under_12_t_need_not_be_on_the_national_platform(session, operator, sims, make_registries):
    plate = "皖A20002"                                   # never heard of by the national platform
    sims.load("vehicle_certificates", vehicle_cert(number="340104200002", plate=plate))
    wid = _world(session, operator, vehicle={"vehicleNumber": plate, "roadTransportCertificateNumber": "340104200002",
                                             "grossMass": "11.90", "vehicleType": "H21"}, plate=plate)
    _check(session, wid, make_registries())
    assert not (open_codes(session, wid) & QUAL)


def test_a_light_tractor_must_be_on_the_national_platform_too(session, operator, sims, make_registries):
    plate = "皖A20003"
    sims.load("vehicle_certificates", vehicle_cert(number="340104200003", plate=plate))
    wid = _world(session, operator, vehicle={"vehicleNumber": plate, "roadTransportCertificateNumber": "340104200003",
                                             "grossMass": "8.00", "vehicleType": "Q21"}, plate=plate)
    _check(session, wid, make_registries())
    a = anomalies(session, wid)["VEHICLE_NOT_IN_NETWORK"]
    assert a.evidence["numbers"][0]["tractor"] is True and a.evidence["numbers"][0]["found"] is False


def test_joined_the_platform_after_the_despatch_day(session, operator, sims, make_registries):
    sims.load("in_network", in_network(since="20240316"))
    wid = _world(session, operator)
    _check(session, wid, make_registries())
    assert anomalies(session, wid)["VEHICLE_NOT_IN_NETWORK"].evidence["numbers"][0]["since"] == "2024-03-16"


def test_a_corrected_vehicle_report_resolves_through_the_queued_job(session, operator, sims, make_registries):
    from sqlalchemy import select

    from store.models import Job

    wid = _world(session, operator, vehicle={"roadTransportCertificateNumber": "340104000000"})
    reg = make_registries()
    run_document_rules(session, {"waybill_ids": [wid]}, reg)
    assert "QUAL_VEHICLE_CERT" in open_codes(session, wid)
    report_vehicle(session, operator, roadTransportCertificateNumber=CERT)   # version 2, the real number
    [job] = session.scalars(select(Job).where(Job.kind == KIND_DOCUMENT_RULES, Job.key.like("vehicle:%"),
                                              Job.status == "pending")).all()
    run_document_rules(session, job.payload, reg)
    assert anomalies(session, wid)["QUAL_VEHICLE_CERT"].status == "resolved"


def test_answers_are_cached_per_key_and_day(session, operator, sims, make_registries):
    report_vehicle(session, operator)
    report_driver(session, operator)
    ids = [send_waybill(session, operator, note=f"YD2024031500{k:04d}") for k in range(5)]
    before = sims.requests("yunzheng") + sims.requests("national")
    reg = make_registries()
    out = check_qualifications(session, ids, reg)
    # one licence, one vehicle certificate, one driver certificate, one 入网 record for five waybills
    assert out.calls == 4 and sims.requests("yunzheng") + sims.requests("national") - before == 4
    again = check_qualifications(session, ids, make_registries())  # another worker, the same day: the table answers
    assert again.calls == 0
    assert check_qualifications(session, ids, make_registries(refresh=True)).calls == 4
    assert not again.fired and not again.pending
