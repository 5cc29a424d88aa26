"""The document rules' thresholds (spec/RULES.md §1) live in the one configuration place: an admin changes the
INTAKE_LATE threshold through ``PUT /api/v1/config``, the next check flags other waybills, and each anomaly's
evidence cites the configuration version that decided it."""

from __future__ import annotations

import uuid

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from etl.intake.documents import upsert_operator
from etl.schemas import samples
from store.models import Anomaly
from supervision.rules.waybills import check_waybills
from tests.api.conftest import login_as
from tests.supervision.test_waybill_rules import NOW, _waybill


def _late_waybills(engine, hours: list[int]) -> list[int]:
    """Committed waybills uploaded ``hours`` after their goods receipt."""
    ids = []
    with Session(engine) as s:
        op = upsert_operator(s, samples.operator())
        for h in hours:
            wid = _waybill(s, op, note="YD" + uuid.uuid4().hex[:14])
            s.execute(text("UPDATE waybill SET received_at = receipt_at + make_interval(hours => :h) WHERE id = :i"),
                      {"h": h, "i": wid})
            ids.append(wid)
        s.commit()
    return ids


def _check(engine, ids: list[int]) -> dict[int, dict | None]:
    """Run the rules as the worker's next check does; the open INTAKE_LATE's evidence per waybill."""
    with Session(engine) as s:
        check_waybills(s, ids, now=NOW)
        s.commit()
        late = {a.document_id: a.evidence for a in s.scalars(select(Anomaly).where(
            Anomaly.document_id.in_(ids), Anomaly.code == "INTAKE_LATE", Anomaly.status == "open"))}
    return {i: late.get(i) for i in ids}


def test_changing_the_late_threshold_changes_which_waybill_is_late(http, make_user, engine):
    _, admin = login_as(http, make_user, "admin")
    cfg = http.get("/api/v1/config", headers=admin).json()
    assert cfg["values"]["rule_thresholds"]["intake_late_hours"] == 24
    thirty, fifty = _late_waybills(engine, [30, 50])
    before = _check(engine, [thirty, fifty])
    assert before[thirty]["configVersion"] == before[fifty]["configVersion"] == cfg["version"]
    r = http.put("/api/v1/config", headers=admin, json={"changes": {"rule_thresholds": {"intake_late_hours": 48}},
                                                        "comment": "48 h grace"})
    assert r.status_code == 200, r.text
    v = r.json()["version"]
    try:
        assert r.json()["values"]["rule_thresholds"] == {**cfg["values"]["rule_thresholds"], "intake_late_hours": 48}
        after = _check(engine, [thirty, fifty])
        assert after[thirty] is None  # 30 h is within the new 48 h: resolved
        assert after[fifty]["configVersion"] == v and after[fifty]["numbers"]["dueWithinHours"] == 48
        with Session(engine) as s:
            reason = s.scalar(select(Anomaly.reason_en).where(Anomaly.document_id == fifty,
                                                              Anomaly.code == "INTAKE_LATE"))
        assert "within 48 h" in reason
    finally:  # the API tests share one database: back to the defaults' threshold
        back = http.put("/api/v1/config", headers=admin,
                        json={"changes": {"rule_thresholds": {"intake_late_hours": 24}}})
        assert back.status_code == 200, back.text


def test_rule_thresholds_are_validated(http, make_user):
    _, admin = login_as(http, make_user, "admin")
    for changes, words in [({"intake_late_hours": 0}, "intake_late_hours must be a number from 1 to 720"),
                           ({"fund_flow_within_days": 2.5}, "fund_flow_within_days must be an integer"),
                           ({"amount_share": "1%"}, "amount_share must be a number"),
                           ({"amount_yuan": -1}, "amount_yuan must be a number from 0"),
                           ({"duplicate_near_minutes": 2000}, "duplicate_near_minutes"),
                           ({"speed": 3}, "unknown thresholds")]:
        r = http.put("/api/v1/config", headers=admin, json={"changes": {"rule_thresholds": changes}})
        assert r.status_code == 422 and words in str(r.json()["detail"]), (changes, r.text)
