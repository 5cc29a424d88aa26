"""The Dask back-fill gives the same verdicts as the in-process run on a small generated province."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import create_engine, delete, func, select
from sqlalchemy.orm import Session

from simulation.demo.load import load
from store.models import Anomaly, DensityDaily, Verification
from supervision.statistics.density import rollup_density
from tests.conftest import make_database
from tests.trajectories.db.conftest import PROVINCE
from trajectories.backfill import verify_day, verify_range
from trajectories.verify import Thresholds


def _current(eng) -> dict[int, tuple[str, list[str]]]:
    with Session(eng) as s:
        rows = s.execute(select(Verification.waybill_vehicle_id, Verification.verdict, Verification.rules)
                         .where(Verification.current)).all()
    return {r[0]: (r[1], sorted(x["code"] for x in r[2] if x["fired"])) for r in rows}


_CROSS = ("TRACK_DUPLICATED", "TRACK_VEHICLE_OVERLAP")


def _cross_anomalies(eng) -> list[tuple]:
    with Session(eng) as s:
        return s.execute(select(Anomaly.code, Anomaly.document_key, Anomaly.reason_en, Anomaly.evidence)
                         .where(Anomaly.code.in_(_CROSS)).order_by(Anomaly.code, Anomaly.document_key)).all()


def test_dask_backfill_equals_in_process(pg_admin_dsn, province_dir):
    url = make_database(pg_admin_dsn)
    eng = create_engine(url)
    with Session(eng) as s:
        load(s, province_dir, progress=False)
    days = (PROVINCE.start - dt.timedelta(days=1), PROVINCE.start + dt.timedelta(days=PROVINCE.days))

    inline = verify_range(url, *days, scheduler="inline", progress=False, after_day=rollup_density)
    first = _current(eng)
    with Session(eng) as s:
        anomalies = s.scalar(select(func.count()).select_from(Anomaly).where(Anomaly.code.like("TRACK_%")))
        density = s.scalar(select(func.count()).select_from(DensityDaily))

    dask = verify_range(url, *days, n_workers=2, processes=False, progress=False, after_day=rollup_density)
    assert dask == inline
    assert _current(eng) == first and len(first) >= 28
    assert sum(inline[v] for v in ("PASS", "SUSPECT", "FAIL", "NO_DATA")) == len(first)
    assert inline["TRACK_DUPLICATED"] == inline["TRACK_VEHICLE_OVERLAP"] == 1
    with Session(eng) as s:
        # re-running changed nothing but the history of verifications
        assert s.scalar(select(func.count()).select_from(Anomaly).where(Anomaly.code.like("TRACK_%"))) == anomalies
        assert s.scalar(select(func.count()).select_from(DensityDaily)) == density > 0
        assert s.scalar(select(func.count()).select_from(Verification)) == 2 * len(first)
    # the thresholds given (wlhy verify passes the configuration's) reach every day task, inline and on Dask
    strict = Thresholds(min_coverage=0.999)
    for kw in ({"scheduler": "inline"}, {"n_workers": 2, "processes": False}):
        verify_range(url, *days, progress=False, thresholds=strict, **kw)
        with Session(eng) as s:
            rules = s.scalars(select(Verification.rules).where(Verification.current)).all()
        coverage = [x for r in rules for x in r if x["code"] == "TRACK_LOW_COVERAGE"]  # not on NO_DATA items
        assert len(coverage) >= 20 and {c["numbers"]["min_coverage"] for c in coverage} == {0.999}
        assert all(c["fired"] == (c["numbers"]["coverage"] < 0.999) for c in coverage)

    # The cross-waybill rules run once for the range: the same copies and overlaps, same reasons and evidence, as
    # running them for each day (what a back-fill did before), without reading every day's fixes again per day.
    once = _cross_anomalies(eng)
    assert {a.code for a in once} == set(_CROSS)
    with Session(eng) as s:
        s.execute(delete(Anomaly).where(Anomaly.code.in_(_CROSS)))
        s.commit()
    day = days[0]
    while day <= days[1]:
        verify_day(url, day, crosscheck=True)
        day += dt.timedelta(days=1)
    assert _cross_anomalies(eng) == once
    eng.dispose()
