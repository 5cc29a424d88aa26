"""How far back the demo's app accepts fixes (``WLHY_POSITION_MAX_AGE_DAYS`` of its uvicorn child)."""

from __future__ import annotations

import datetime as dt
import json

from simulation.demo.up import position_max_age_days


def test_demo_app_accepts_fixes_back_to_the_data_sets_first_day_not_ten_years(tmp_path):
    """Each accepted day gets a `position` partition made ahead: the window is the data set's, not 3,650 days."""
    (tmp_path / "manifest.json").write_text(json.dumps({"config": {"start": "2026-10-27", "days": 30}}))
    assert position_max_age_days(tmp_path, today=dt.date(2026, 12, 2)) == 36 + 2
    assert position_max_age_days(tmp_path, today=dt.date(2026, 11, 1)) == 30  # never below production's window
