"""Registry outages never lose a check and never guess: with the 运政 simulator down (or too slow) the registry
rules are ``pending_check`` — "未核验（登记系统不可用）/ not checked yet (registry unavailable)", listed with the
anomalies — and a retry job is queued with back-off; when the registry is back, the retry decides and the marker
goes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, text

from auth.scope import Scope
from store.jobs import KIND_DOCUMENT_RULES
from store.models import Job
from supervision.anomalies.service import AnomalyFilter, list_anomalies
from supervision.rules.jobs import rules_handlers, run_document_rules
from tests.supervision.rules.conftest import anomalies, licence, report_driver, report_vehicle, send_waybill

REGISTRY = {"QUAL_OPERATOR_PERMIT", "QUAL_VEHICLE_CERT", "QUAL_DRIVER_CERT"}


def _retry_job(session) -> Job:
    session.expire_all()
    return session.scalars(select(Job).where(Job.kind == KIND_DOCUMENT_RULES, Job.key.like("registry-retry:%"),
                                             Job.status == "pending").order_by(Job.id.desc())).first()


def _take(session, job: Job) -> dict:
    """What the worker does before running a job: claim it (``running``), so a retry it queues is a new one."""
    session.execute(text("UPDATE job SET status = 'running' WHERE id = :i"), {"i": job.id})
    return job.payload


def _world(session, operator):
    report_vehicle(session, operator)
    report_driver(session, operator)
    return send_waybill(session, operator)


def test_outage_marks_not_checked_then_the_retry_decides(session, operator, sims, make_registries):
    wid = _world(session, operator)
    sims.fault("yunzheng", "down")
    handler = rules_handlers(make_registries())[KIND_DOCUMENT_RULES]
    out = handler(session, {"waybill_ids": [wid]})
    assert out["pending_check"] == 3
    found = anomalies(session, wid)
    for code in REGISTRY:
        a = found[code]
        assert a.status == "pending_check" and a.evidence["checked"] is False
        assert a.reason_zh.startswith("未核验（登记系统不可用）") and "not checked yet (registry unavailable)" in a.reason_en
    # the national platform answered: that rule is decided (clean), no marker
    assert "VEHICLE_NOT_IN_NETWORK" not in found
    # a regulator sees them in the anomaly list, as not checked yet, not as anomalies
    page = list_anomalies(db_session=session, scope=Scope.system(),
                          filters=AnomalyFilter(document_id=wid, status="pending_check"))
    assert {a.code for a in page.items} == REGISTRY
    job = _retry_job(session)
    assert job.payload["registry_only"] and job.payload["waybill_ids"] == [wid] and job.payload["attempt"] == 1
    assert job.run_after > session.scalar(text("SELECT now()")) + dt.timedelta(seconds=20)

    # a retry while still down: still pending, next retry further away
    handler(session, _take(session, job))
    again = _retry_job(session)
    assert again.payload["attempt"] == 2 and again.run_after > job.run_after
    assert anomalies(session, wid)["QUAL_OPERATOR_PERMIT"].status == "pending_check"

    # back up, and the licence turns out expired: the retry decides both ways
    sims.fault("yunzheng", "ok")
    sims.load("operator_licences", licence(valid_to="20240301"))
    out = handler(session, _take(session, again))
    found = anomalies(session, wid)
    assert found["QUAL_OPERATOR_PERMIT"].status == "open" and found["QUAL_OPERATOR_PERMIT"].evidence["checked"]
    assert "2024-03-15" in found["QUAL_OPERATOR_PERMIT"].reason_zh
    assert "QUAL_VEHICLE_CERT" not in found and "QUAL_DRIVER_CERT" not in found   # the markers are gone
    assert out.get("pending_check", 0) == 0 and _retry_job(session) is None


def test_a_timeout_is_an_outage_too(session, operator, sims, make_registries, registry_sims):
    from etl.adapters.national import NationalPlatformClient
    from etl.adapters.yunzheng import YunzhengClient
    from supervision.rules.registry import Registries

    wid = _world(session, operator)
    sims.http.post(f"{registry_sims['national'].url}/admin/faults", json={"mode": "slow", "delay_s": 2})
    reg = Registries(yunzheng=YunzhengClient(registry_sims["yunzheng"].url, timeout_s=2, retries=0),
                     national=NationalPlatformClient(registry_sims["national"].url, timeout_s=0.3, retries=0),
                     today=dt.date(2024, 3, 20))
    try:
        run_document_rules(session, {"waybill_ids": [wid]}, reg)
    finally:
        reg.close()
    a = anomalies(session, wid)["VEHICLE_NOT_IN_NETWORK"]
    assert a.status == "pending_check" and a.evidence["systems"] == ["national"]
    assert "全国道路货运车辆公共监管与服务平台" in a.reason_zh


def test_a_decided_anomaly_stands_and_a_resolved_one_comes_back_resolved(session, operator, sims, make_registries):
    sims.load("operator_licences", licence(status="revoked"))
    wid = _world(session, operator)
    run_document_rules(session, {"waybill_ids": [wid]}, make_registries())
    assert anomalies(session, wid)["QUAL_OPERATOR_PERMIT"].status == "open"
    sims.fault("yunzheng", "down")
    run_document_rules(session, {"waybill_ids": [wid], "registry_only": True}, make_registries(refresh=True))
    a = anomalies(session, wid)["QUAL_OPERATOR_PERMIT"]
    assert a.status == "open" and "revoked" in a.reason_en        # the last decision holds while it is down

    sims.fault("yunzheng", "ok")
    sims.load("operator_licences", licence())
    run_document_rules(session, {"waybill_ids": [wid], "registry_only": True}, make_registries(refresh=True))
    resolved = anomalies(session, wid)["QUAL_OPERATOR_PERMIT"]
    assert resolved.status == "resolved"
    sims.fault("yunzheng", "down")
    run_document_rules(session, {"waybill_ids": [wid], "registry_only": True}, make_registries(refresh=True))
    assert anomalies(session, wid)["QUAL_OPERATOR_PERMIT"].status == "pending_check"
    sims.fault("yunzheng", "ok")
    run_document_rules(session, {"waybill_ids": [wid], "registry_only": True}, make_registries(refresh=True))
    back = anomalies(session, wid)["QUAL_OPERATOR_PERMIT"]
    assert back.status == "resolved" and back.reason_en == resolved.reason_en and back.resolved_at is not None


def test_a_down_registry_is_asked_once_per_batch_not_once_per_waybill(session, operator, sims, make_registries):
    from supervision.rules.qualifications import check_qualifications

    report_driver(session, operator)
    ids = []
    for k in range(4):
        plate = f"皖A4000{k}"
        report_vehicle(session, operator, vehicleNumber=plate, roadTransportCertificateNumber=f"34010440000{k}")
        ids.append(send_waybill(session, operator, note=f"YD2024031540000{k}", plate=plate))
    sims.fault("yunzheng", "down")
    before = sims.requests("yunzheng")
    out = check_qualifications(session, ids, make_registries())
    assert sims.requests("yunzheng") - before == 1 and out.pending["QUAL_VEHICLE_CERT"] == 4
