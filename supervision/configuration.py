"""The one configuration place: indicator weights, alarm thresholds and rule defaults, versioned in the database.

The defaults live here, in code (:data:`DEFAULTS`, spec/RULES.md §3–4); every accepted change is a new row of
``config_version`` holding the whole configuration as it then stood (migration 0012). :func:`current` is the latest
version, or the defaults as version 0 when nobody changed anything. Only an admin changes it (:func:`update`),
every change is validated, audited and versioned, and whatever the configuration produced (a ranking, an alarm)
cites the version number.

>>> sorted(DEFAULTS["indicator_weights"]) == sorted(INDICATORS)
True
>>> sum(DEFAULTS["indicator_weights"].values())
100
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, NoReturn

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from auth import audit
from auth.scope import Scope
from core.errors import ForbiddenError, InvalidInputError
from store.anomalies import GROUPS
from store.models import ConfigVersion
from trajectories.verify import Thresholds

__all__ = ["DEFAULTS", "INDICATORS", "RULE_THRESHOLD_BOUNDS", "TRAJECTORY_THRESHOLD_BOUNDS", "Configuration",
           "ConfigurationError", "current", "get", "history", "trajectory_thresholds", "trajectory_thresholds_now",
           "update", "validate"]

#: The eight indicators of spec/RULES.md §3, in the spec's order (ids used on the wire and in ``indicator_value``).
INDICATORS = ("upload_timeliness", "intake_quality", "fund_matching", "vehicle_qualification",
              "driver_qualification", "vehicle_in_network", "trajectory_compliance", "uniqueness")

DEFAULTS: dict[str, Any] = {
    # spec/RULES.md §3: weights of the comprehensive score (a weighted mean, so only their ratios matter)
    "indicator_weights": {
        "upload_timeliness": 15, "intake_quality": 10, "fund_matching": 20, "vehicle_qualification": 10,
        "driver_qualification": 10, "vehicle_in_network": 10, "trajectory_compliance": 20, "uniqueness": 5,
    },
    # spec/RULES.md §4: rate of each anomaly group per operator over the rolling window (fractions, not %)
    "alarm_thresholds": {
        group: ({"warning": 0.01, "severe": 0.05} if group == "INTAKE" else {"warning": 0.05, "severe": 0.15})
        for group in GROUPS
    },
    "alarm_window_days": 30,
    "k_anonymity": 5,  # statistics resting on fewer distinct vehicles or operators are suppressed or merged
    "rectification_due_days": 15,
    "appeal_due_days": 30,
    # tonne-km without a verified trajectory: great-circle distance between the divisions × this (marked estimated)
    "detour_factor": 1.3,
    # spec/RULES.md §1: the document rules' thresholds (supervision/rules/waybills.py and duplicates.py read them
    # on every check; each anomaly they write cites the configuration version in its evidence)
    "rule_thresholds": {
        "intake_late_hours": 24,  # INTAKE_LATE: waybill received more than this after goods receipt
        "fund_flow_within_days": 30,  # MATCH_NO_FUND_FLOW: no fund flow this long after receipt
        "amount_share": 0.01,  # MATCH_AMOUNT: payments differ from the amount by more than this share …
        "amount_yuan": 1,  # … and by more than this many yuan
        "duplicate_near_minutes": 10,  # DUPLICATE_WAYBILL: despatch and receipt times within this
    },
    # spec/RULES.md §2: the TRACK_* rules' thresholds, defaults owned by trajectories.verify.Thresholds (the worker
    # and POST /waybills/{id}/verify read them per job)
    "trajectory_thresholds": {k: getattr(Thresholds(), k) for k in (
        "coordinates_radius_m", "time_tolerance_s", "min_coverage", "gap_s", "max_speed_kmh", "length_ratio_min",
        "length_ratio_max", "conflict_distance_m", "conflict_share")},
}

#: ``rule_thresholds``: (smallest, largest) allowed for each (numbers; the day count an integer)
RULE_THRESHOLD_BOUNDS = {"intake_late_hours": (1, 720), "fund_flow_within_days": (1, 366),
                         "amount_share": (0, 0.5), "amount_yuan": (0, 100_000), "duplicate_near_minutes": (0, 1440)}
#: ``trajectory_thresholds``: (smallest, largest) allowed for each
TRAJECTORY_THRESHOLD_BOUNDS = {"coordinates_radius_m": (100, 50_000), "time_tolerance_s": (0, 86_400),
                               "min_coverage": (0, 1), "gap_s": (60, 86_400), "max_speed_kmh": (60, 300),
                               "length_ratio_min": (0.1, 1), "length_ratio_max": (1, 10),
                               "conflict_distance_m": (100, 100_000), "conflict_share": (0, 1)}

# integer settings: (smallest, largest) allowed
_INT_BOUNDS = {"alarm_window_days": (1, 366), "k_anonymity": (2, 1000), "rectification_due_days": (1, 365),
               "appeal_due_days": (1, 365)}
_LOCK_KEY = 0x57_4C_48_59_43_46  # "WLHYCF": serialises version numbering between concurrent admins


class ConfigurationError(InvalidInputError):
    """A configuration change that breaks a rule (422 at the API); ``detail`` lists every problem."""


@dataclass(frozen=True)
class Configuration:
    """One version of the configuration; ``values`` is complete (defaults filled in for keys never changed)."""

    version: int
    values: dict[str, Any]
    created_at: dt.datetime | None
    created_by: str | None
    comment: str | None = None

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def as_wire(self) -> dict[str, Any]:
        """The API's shape (camelCase keys around the snake_case setting names, as spec/API.md spells them)."""
        return {"version": self.version, "values": self.values, "createdAt": self.created_at,
                "createdBy": self.created_by, "comment": self.comment}


def _filled(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` over the defaults: a key added in code later appears with its default in older versions."""
    out = copy.deepcopy(DEFAULTS)
    for key, value in (values or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key].update(copy.deepcopy(value))
        else:
            out[key] = copy.deepcopy(value)
    return out


def _of(row: ConfigVersion | None) -> Configuration:
    if row is None:
        return Configuration(version=0, values=copy.deepcopy(DEFAULTS), created_at=None, created_by=None,
                             comment="defaults (spec/RULES.md)")
    return Configuration(version=row.version, values=_filled(row.values), created_at=row.created_at,
                         created_by=row.created_by, comment=row.comment)


def current(db_session: Session) -> Configuration:
    """The configuration in force: the latest stored version, or the defaults as version 0."""
    row = db_session.execute(select(ConfigVersion).order_by(ConfigVersion.version.desc()).limit(1)).scalar()
    return _of(row)


def version(db_session: Session, number: int) -> Configuration:
    """One version by number (0 = the defaults); :class:`core.errors.NotFoundError` when there is none."""
    from core.errors import NotFoundError

    if number == 0:
        return _of(None)
    row = db_session.get(ConfigVersion, number)
    if row is None:
        raise NotFoundError(f"no configuration version {number}")
    return _of(row)


def get(db_session: Session, key: str) -> Any:
    """One setting of the configuration in force, e.g. ``get(s, "alarm_thresholds")["INTAKE"]["warning"]``.

    Raises
    ------
    KeyError
        For a key that is not a setting.
    """
    if key not in DEFAULTS:
        raise KeyError(f"unknown configuration key {key!r}; known: {sorted(DEFAULTS)}")
    return current(db_session).values[key]


def history(db_session: Session) -> list[Configuration]:
    """Every version, newest first, ending with the defaults (version 0)."""
    rows = db_session.execute(select(ConfigVersion).order_by(ConfigVersion.version.desc())).scalars().all()
    return [_of(r) for r in rows] + [_of(None)]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def validate(values: dict[str, Any]) -> list[str]:
    """Every problem of a complete configuration (empty when it is acceptable).

    >>> validate(DEFAULTS)
    []
    >>> validate({**DEFAULTS, "k_anonymity": 1})
    ['k_anonymity must be an integer from 2 to 1000 (got 1)']
    """
    problems: list[str] = []
    unknown = sorted(set(values) - set(DEFAULTS))
    if unknown:
        problems.append(f"unknown settings {unknown}; known: {sorted(DEFAULTS)}")
    weights = values.get("indicator_weights")
    if not isinstance(weights, dict):
        problems.append("indicator_weights must be an object {indicator: weight}")
    else:
        extra = sorted(set(weights) - set(INDICATORS))
        if extra:
            problems.append(f"indicator_weights: unknown indicators {extra}; known: {list(INDICATORS)}")
        missing = [i for i in INDICATORS if i not in weights]
        if missing:
            problems.append(f"indicator_weights: missing {missing}")
        bad = [f"{k}={v!r}" for k, v in weights.items() if not _number(v) or v < 0]
        if bad:
            problems.append(f"indicator_weights must be non-negative numbers: {', '.join(bad)}")
        elif not extra and sum(weights.values()) <= 0:
            problems.append("indicator_weights must sum to more than 0")
    thresholds = values.get("alarm_thresholds")
    if not isinstance(thresholds, dict):
        problems.append("alarm_thresholds must be an object {group: {warning, severe}}")
    else:
        extra = sorted(set(thresholds) - set(GROUPS))
        if extra:
            problems.append(f"alarm_thresholds: unknown anomaly groups {extra}; known: {sorted(GROUPS)}")
        for group, t in thresholds.items():
            if not isinstance(t, dict) or set(t) != {"warning", "severe"}:
                problems.append(f"alarm_thresholds.{group} must be {{\"warning\": w, \"severe\": s}}")
                continue
            w, s = t["warning"], t["severe"]
            if not (_number(w) and _number(s) and 0 < w < s <= 1):
                problems.append(f"alarm_thresholds.{group}: need 0 < warning < severe ≤ 1 (rates as fractions), "
                                f"got warning={w!r}, severe={s!r}")
    problems += _rule_threshold_problems(values.get("rule_thresholds"))
    track = values.get("trajectory_thresholds")
    track_problems = _threshold_problems("trajectory_thresholds", track, TRAJECTORY_THRESHOLD_BOUNDS)
    if not track_problems and track["length_ratio_min"] >= track["length_ratio_max"]:
        track_problems.append("trajectory_thresholds: length_ratio_min must be below length_ratio_max")
    problems += track_problems
    detour = values.get("detour_factor")
    if not (_number(detour) and 1 <= detour <= 3):
        problems.append(f"detour_factor must be a number from 1 to 3 (got {detour!r})")
    for key, (lo, hi) in _INT_BOUNDS.items():
        v = values.get(key)
        if not (isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi):
            problems.append(f"{key} must be an integer from {lo} to {hi} (got {v!r})")
    return problems


def _rule_threshold_problems(rules: Any) -> list[str]:
    """What is wrong with a ``rule_thresholds`` object (every key known and present, each within its bounds)."""
    return _threshold_problems("rule_thresholds", rules, RULE_THRESHOLD_BOUNDS)


def _threshold_problems(name: str, rules: Any, bounds: dict[str, tuple[float, float]]) -> list[str]:
    """What is wrong with a thresholds object ``name`` (every key known and present, each within ``bounds``)."""
    if not isinstance(rules, dict):
        return [f"{name} must be an object {{threshold: value}}"]
    problems = []
    extra = sorted(set(rules) - set(bounds))
    if extra:
        problems.append(f"{name}: unknown thresholds {extra}; known: {sorted(bounds)}")
    for key, (lo, hi) in bounds.items():
        v = rules.get(key)
        whole = key.endswith("_days")
        if not (_number(v) and (not whole or isinstance(v, int)) and lo <= v <= hi):
            kind = "an integer" if whole else "a number"
            problems.append(f"{name}.{key} must be {kind} from {lo} to {hi} (got {v!r})")
    return problems


def trajectory_thresholds(config: Configuration) -> Thresholds:
    """The TRACK_* rules' thresholds of ``config`` (spec/RULES.md §2 defaults for what it does not set)."""
    return dataclasses.replace(Thresholds(), **config["trajectory_thresholds"])


def trajectory_thresholds_now(db_session: Session) -> Thresholds:
    """The TRACK_* rules' thresholds in force (what the worker and the verify route hand to trajectories/)."""
    return trajectory_thresholds(current(db_session))


def update(db_session: Session, changes: dict[str, Any], *, scope: Scope, ip: str | None = None,
           comment: str | None = None) -> Configuration:
    """Apply ``changes`` over the configuration in force and store the result as a new version (admin only).

    Object settings merge one level deep: ``{"indicator_weights": {"uniqueness": 0}}`` changes one weight,
    ``{"alarm_thresholds": {"TRACK": {"warning": 0.1, "severe": 0.2}}}`` one group. Audited (``config_update``,
    target ``config:<version>``, the changes and the previous version in the detail; a refusal too, its row
    committed before the error is raised).

    Raises
    ------
    ForbiddenError
        The scope is not an admin's.
    ConfigurationError
        Nothing to change, or the result breaks a rule (``detail`` lists every problem).
    """
    if scope.role != "admin":
        _refuse(db_session, ForbiddenError(f"role {scope.role!r} may not change the configuration; admin only"),
                scope=scope, ip=ip, changes=changes)
    if not isinstance(changes, dict) or not changes:
        _refuse(db_session, ConfigurationError("no changes given", detail={"problems": ["no changes given"]}),
                scope=scope, ip=ip, changes=changes)
    db_session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    before = current(db_session)
    merged = copy.deepcopy(before.values)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **copy.deepcopy(value)}
        else:
            merged[key] = copy.deepcopy(value)
    problems = validate(merged)
    if problems:
        _refuse(db_session, ConfigurationError("configuration refused: " + "; ".join(problems),
                                               detail={"problems": problems}), scope=scope, ip=ip, changes=changes)
    if merged == before.values:
        _refuse(db_session, ConfigurationError("the changes leave the configuration as it is",
                                               detail={"problems": ["nothing would change"]}),
                scope=scope, ip=ip, changes=changes)
    number = (db_session.execute(select(func.max(ConfigVersion.version))).scalar() or 0) + 1
    row = ConfigVersion(version=number, values=merged, created_by=scope.username, comment=comment)
    db_session.add(row)
    db_session.flush()
    audit.record(db_session, "config_update", scope=scope, ip=ip, target=f"config:{number}",
                 detail={"previous": before.version, "changes": changes, "comment": comment})
    db_session.refresh(row)
    return _of(row)


def _refuse(db_session: Session, error: Exception, *, scope: Scope, ip: str | None, changes: Any) -> NoReturn:
    """Audit a refused change (its row committed on its own, auth.audit.refused) and raise ``error``."""
    audit.refused(db_session, "config_update", error, scope=scope, ip=ip, target="config",
                  detail={"settings": sorted(map(str, changes))[:50] if isinstance(changes, dict) else None})
    raise error
