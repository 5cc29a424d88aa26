"""Scope: what each role sees, and masking of personal data (pure: no database)."""

from __future__ import annotations

import pytest

from auth.masking import mask, mask_bank_account, mask_id_number, mask_phone
from auth.scope import Scope, ScopeError
from store.models import AppUser


def _user(role, division_code=None, operator_id=None):
    return AppUser(id=7, username=f"u-{role}", role=role, division_code=division_code, operator_id=operator_id)


@pytest.mark.parametrize(("role", "code", "prefix"), [
    ("province", "340000", "34"), ("city", "340100", "3401"), ("county", "340104", "340104")])
def test_regulators_see_their_division_and_below(role, code, prefix):
    scope = Scope.of(_user(role, code))
    assert scope.division_prefix == prefix
    assert scope.allows(1, "340104")                     # 蜀山区 is in 合肥市 is in 安徽省
    assert not scope.allows(2, "110101")                 # 北京东城区 is in none of them
    assert scope.allows(3, "340102") == (role != "county")


def test_an_operator_sees_only_its_own_platform():
    scope = Scope.of(_user("operator", operator_id=5))
    assert scope.allows(5, "110101") and not scope.allows(6, "340104")
    assert scope.personal_data
    with pytest.raises(ScopeError):
        scope.require_statistics()


def test_operator_user_without_platform_and_regulator_without_division_see_nothing():
    assert not Scope.of(_user("operator")).allows(1, "340104")
    lost = Scope.of(_user("county", "34"))   # malformed: too short for a county
    assert not lost.allows(1, "340104") and not lost.allows(None, None)


def test_analyst_reads_aggregates_only_and_personal_data_never():
    scope = Scope.of(_user("analyst"))
    assert scope.sees_all and scope.aggregates_only and not scope.personal_data
    scope.require_statistics()
    with pytest.raises(ScopeError):
        scope.require_documents()


def test_unattributed_rows_are_visible_to_province_level_only():
    assert Scope.of(_user("province", "340000")).allows(None, None)
    assert not Scope.of(_user("city", "340100")).allows(None, None)
    assert Scope.of(_user("admin")).allows(None, None)


def test_personal_data_in_clear_only_for_admin_province_and_the_reporting_operator():
    clear = {r: Scope.of(_user(r, "340104", 1)).personal_data for r in ("admin", "province", "city", "county",
                                                                         "analyst", "operator")}
    assert clear == {"admin": True, "province": True, "city": False, "county": False, "analyst": False,
                     "operator": True}


def test_masks_keep_only_the_ends():
    assert mask_id_number("340102199001011234") == "3401**********1234"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_bank_account("6222021234567890123") == "6222***********0123"
    assert mask_id_number("1234567") == "*******"          # too short to show both ends
    assert mask_id_number(None) is None
    assert mask("13812345678", "phone", clear=True) == "13812345678"
    assert mask("13812345678", "phone") == "138****5678"
