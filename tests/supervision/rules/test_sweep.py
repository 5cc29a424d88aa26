"""The daily sweep over a date range on a committed database: the same anomalies inline and on Dask, one task per
day; and a registry outage during the sweep ends decided by the worker's retry through the real job queue."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from etl.intake.documents import upsert_operator
from etl.schemas import samples
from store.jobs import Worker
from store.models import Anomaly
from supervision.rules.jobs import rules_handlers
from supervision.rules.registry import Registries
from supervision.rules.sweep import PENDING_KEY, sweep_range
from tests.conftest import make_database
from tests.supervision.rules.conftest import (
    TODAY,
    in_network,
    report_driver,
    report_vehicle,
    send_waybill,
    vehicle_cert,
)

NOW = dt.datetime(2024, 3, 25, tzinfo=dt.UTC)
DAYS = (dt.date(2024, 3, 15), dt.date(2024, 3, 17))


def _times(day: int) -> dict[str, str]:
    d = f"202403{15 + day:02d}"
    return {"consignmentDateTime": f"{d}080000", "despatchActualDateTime": f"{d}100000",
            "goodsReceiptDateTime": f"{d}180000", "sendToProDateTime": f"202403{16 + day:02d}093000"}


@pytest.fixture
def province(pg_admin_dsn, sims):
    """A committed database with three days of waybills: clean ones, a placeholder certificate, a tractor with a B2
    driver, an unreported driver, a heavy truck off the national platform."""
    url = make_database(pg_admin_dsn)
    engine = create_engine(url)
    sims.load("vehicle_certificates", vehicle_cert(number="340104300001", plate="皖A30001"),
              vehicle_cert(number="340104300002", plate="皖A30002"))
    sims.load("in_network", in_network("皖A30001"), in_network("皖A30002", yes=False))
    with Session(engine) as s:
        op = upsert_operator(s, samples.operator())
        s.commit()
        report_vehicle(s, op)
        report_vehicle(s, op, vehicleNumber="皖A30001", roadTransportCertificateNumber="340104000000")
        report_vehicle(s, op, vehicleNumber="皖A30002", roadTransportCertificateNumber="340104300002",
                       vehicleType="Q11")
        report_driver(s, op, vehicleClass="B2")  # enough for the H12, not for the tractor
        for day in range(3):
            send_waybill(s, op, note=f"YD202403{15 + day}00001", **_times(day))
            send_waybill(s, op, note=f"YD202403{15 + day}00002", plate="皖A30001", **_times(day))
            send_waybill(s, op, note=f"YD202403{15 + day}00003", plate="皖A30002", **_times(day))
        send_waybill(s, op, note="YD2024031600004", driver="340104198001010016", **_times(1))
        s.execute(text("UPDATE waybill SET received_at = send_to_pro_at + interval '10 minutes'"))
        s.commit()
    yield url, engine
    engine.dispose()


def _snapshot(engine) -> list[tuple]:
    with Session(engine) as s:
        return sorted(
            (a.code, a.document_key, a.status, a.reason_en) for a in s.scalars(select(Anomaly))
            if a.code not in ("INTAKE_REJECTED",))


def _forget(engine) -> None:
    with engine.begin() as c:
        c.execute(text("DELETE FROM anomaly WHERE code NOT IN ('INTAKE_REJECTED', 'QUAL_ID_CHECKSUM')"))
        c.execute(text("DELETE FROM registry_answer"))
        c.execute(text("DELETE FROM job"))


def test_inline_and_dask_sweeps_record_the_same_anomalies(province, registry_sims):
    url, engine = province
    kw = {"yunzheng_url": registry_sims["yunzheng"].url, "national_url": registry_sims["national"].url, "now": NOW,
              "today": TODAY}
    _forget(engine)
    days = []
    inline = sweep_range(url, *DAYS, scheduler="inline", on_day=lambda d, c: days.append(d), **kw)
    first = _snapshot(engine)
    codes = {c for c, *_ in first}
    assert {"QUAL_VEHICLE_CERT", "QUAL_DRIVER_LICENSE", "VEHICLE_NOT_IN_NETWORK", "INTAKE_UNKNOWN_PARTY"} <= codes
    assert inline["QUAL_VEHICLE_CERT"] == 3 and inline["QUAL_DRIVER_LICENSE"] == 3 and inline["VEHICLE_NOT_IN_NETWORK"] == 3
    assert inline["INTAKE_UNKNOWN_PARTY"] == 1 and PENDING_KEY not in inline and len(days) == 3
    assert not any(k.endswith("00001") for c, k, *_ in first if c.startswith("QUAL"))  # the clean ones
    _forget(engine)
    on_dask = sweep_range(url, *DAYS, scheduler="dask", n_workers=2, processes=False, **kw)
    assert on_dask == inline and _snapshot(engine) == first


def test_an_outage_during_the_sweep_is_decided_by_the_workers_retry(province, registry_sims, sims):
    url, engine = province
    _forget(engine)
    urls = {"yunzheng_url": registry_sims["yunzheng"].url, "national_url": registry_sims["national"].url}
    sims.fault("yunzheng", "down")
    counts = sweep_range(url, *DAYS, scheduler="inline", now=NOW, today=TODAY, **urls)
    assert counts[PENDING_KEY] > 0 and "QUAL_VEHICLE_CERT" in counts  # the placeholder needs no registry
    with Session(engine) as s:
        pending = s.scalar(text("SELECT count(*) FROM anomaly WHERE status = 'pending_check'"))
        assert pending == counts[PENDING_KEY]
        retries = s.scalar(text("SELECT count(*) FROM job WHERE key LIKE 'registry-retry:%' AND status = 'pending' "
                                "AND run_after > now()"))
        assert retries == 3                      # one per day's batch, due after the back-off
    sims.fault("yunzheng", "ok")
    with engine.begin() as c:                    # let the back-off pass
        c.execute(text("UPDATE job SET run_after = now() WHERE key LIKE 'registry-retry:%'"))
    reg = Registries.from_urls(urls["yunzheng_url"], urls["national_url"], today=TODAY)
    try:
        ran = Worker(sessionmaker(engine, expire_on_commit=False), handlers=rules_handlers(reg)).run(
            stop_when_idle=True)
    finally:
        reg.close()
    assert ran >= 3                              # (other layers' jobs may run too; ours are all done)
    with Session(engine) as s:
        assert s.scalar(text("SELECT count(*) FROM anomaly WHERE status = 'pending_check'")) == 0
        left = s.execute(text("SELECT key, status, last_error FROM job WHERE kind = 'document_rules' "
                              "AND status <> 'done'")).all()
        assert left == []
    decided = sweep_range(url, *DAYS, scheduler="inline", now=NOW, today=TODAY, **urls)
    assert PENDING_KEY not in decided
