"""The map of a waybill shows its own platform's app fixes and the national BeiDou track, never a rival's fixes;
a platform sees BeiDou only inside its waybill's transport period (the margins may hold other platforms' trips)."""

from __future__ import annotations

import datetime as dt

import numpy as np
from sqlalchemy import select

from auth.scope import Scope
from store.models import AppUser, Operator, Waybill, WaybillVehicle
from store.positions import NATIONAL_PLATFORM, SOURCE_APP, SOURCE_BEIDOU, load_positions
from tests.supervision.test_waybill_rules import _waybill
from trajectories.maps import trajectory_geojson


def _fixes(session, *, operator_id, source, start, minutes):
    t = np.array([np.datetime64(start.replace(tzinfo=None) + dt.timedelta(minutes=m), "us") for m in minutes])
    n = len(t)
    conn = session.connection().connection.driver_connection
    load_positions(conn, {"t": t, "vehicle_number": "皖A12345", "plate_color": "2", "source": source,
                          "operator_id": operator_id, "lon": np.linspace(117.0, 117.2, n),
                          "lat": np.linspace(31.8, 31.9, n)})


def _counts(fc) -> dict[str, int]:
    return {f["properties"]["source"]: f["properties"]["n"] for f in fc["features"]
            if f["properties"]["kind"] == "fixes"}


def test_rival_fixes_never_shown_and_beidou_margins_only_to_regulators(session, operator):
    wid = _waybill(session, operator)
    item = session.scalars(select(WaybillVehicle).where(WaybillVehicle.waybill_id == wid)).one()
    start = item.despatch_at.astimezone(dt.timezone.utc)
    rival = Operator(usci="91340100MA2RIVAL1X", name="对手平台", division_code="340104")
    session.add(rival)
    session.flush()
    _fixes(session, operator_id=operator.id, source=SOURCE_APP, start=start, minutes=[10, 20, 30])
    _fixes(session, operator_id=rival.id, source=SOURCE_APP, start=start, minutes=[11, 21, 31, 41])
    _fixes(session, operator_id=NATIONAL_PLATFORM, source=SOURCE_BEIDOU, start=start, minutes=[-60, -30, 5, 15])
    assert session.scalar(select(Waybill.operator_id).where(Waybill.id == wid)) == operator.id

    regulator = _counts(trajectory_geojson(session, wid))
    assert regulator == {"app": 3, "beidou": 4}              # the rival's 4 app fixes are not this waybill's
    platform = Scope.of(AppUser(id=1, username="op", role="operator", operator_id=operator.id))
    assert _counts(trajectory_geojson(session, wid, scope=platform)) == {"app": 3, "beidou": 2}
