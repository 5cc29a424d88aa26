"""GB 32100-2015 (USCI) and GB 11643-1999 (ID number) check characters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etl.schemas.checksums import id_check_char, id_number_valid, usci_check_char, usci_valid


def test_id_check_char_worked_by_hand():
    # 1 1 0 1 0 5 1 9 4 9 1 2 3 1 0 0 2 × weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2
    # = 7+9+0+5+0+20+2+9+24+27+7+18+30+5+0+0+4 = 167; 167 mod 11 = 2 → "10X98765432"[2] = X
    assert id_check_char("11010519491231002") == "X"


def test_id_check_char_second_hand_example():
    # 3 4 0 1 0 4 1 9 9 0 0 3 0 7 0 0 1 × weights: 21+36+0+5+0+16+2+9+54+0+0+27+0+35+0+0+2 = 207
    # 207 mod 11 = 9 → "10X98765432"[9] = 3
    assert id_check_char("34010419900307001") == "3"


def test_usci_check_char_worked_by_hand():
    # values 9 1 3 5 0 1 0 0 M=21 0 0 0 1 0 0 Y=30 4, weights 3^i mod 31 =
    # 1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28
    # sum = 9+3+27+135+0+26+0+0+420+0+0+0+8+0+0+900+112 = 1640; 1640 mod 31 = 28; 31-28 = 3
    assert usci_check_char("91350100M000100Y4") == "3"


@pytest.mark.parametrize(
    "value", ["11010519491231002X", "11010519491231002x", "340104199003070013", "320583198511151230"]
)
def test_valid_id_numbers(value):
    assert id_number_valid(value)


@pytest.mark.parametrize(
    "value",
    [
        "110105194912310021",  # wrong check character
        "11010519491231002",  # 17 characters
        "11010519491231002XX",
        "11010519490230002X",  # 30 February; check character recomputed below would not help
        "11010519491331002X",  # month 13
        "1101051949123100AX",  # letter among the digits
        "",
    ],
)
def test_invalid_id_numbers(value):
    assert not id_number_valid(value)


def test_id_with_impossible_date_but_right_check_char_is_invalid():
    first17 = "11010519490230002"
    assert not id_number_valid(first17 + id_check_char(first17))


@pytest.mark.parametrize("value", ["91350100M000100Y43", "91340104MA2N0AB1X1", "91320583MA1MXYW7QA"])
def test_valid_uscis(value):
    assert usci_valid(value)


@pytest.mark.parametrize(
    "value",
    [
        "91350100M000100Y44",  # wrong check character
        "91350100M000100Y4",  # 17 characters
        "91350100M000100I43",  # I is not in the alphabet
        "91350100m000100Y43",  # lower case
        "9135010AM000100Y43",  # letter in the division code
        "",
    ],
)
def test_invalid_uscis(value):
    assert not usci_valid(value)


@pytest.mark.parametrize("bad", ["1234567890123456", "1234567890123456X", "12345678901234567 "])
def test_id_check_char_refuses_non_digits(bad):
    with pytest.raises(ValueError, match="17 digits"):
        id_check_char(bad)


def test_usci_check_char_refuses_characters_outside_the_alphabet():
    with pytest.raises(ValueError, match="17 characters"):
        usci_check_char("91350100M000100O4")


@given(
    st.from_regex(r"\A[1-9][0-9]{5}(19[5-9][0-9]|200[0-9])(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])[0-9]{3}\Z")
)
def test_id_check_char_makes_a_valid_number_and_any_other_char_breaks_it(first17):
    right = id_check_char(first17)
    assert id_number_valid(first17 + right)
    assert not any(id_number_valid(first17 + c) for c in "0123456789X" if c != right)


@given(st.from_regex(r"\A[1-9A-GY][1-9][0-9]{6}[0-9A-HJ-NP-RTUWXY]{9}\Z"))
def test_usci_check_char_makes_a_valid_code_and_any_other_char_breaks_it(first17):
    right = usci_check_char(first17)
    assert usci_valid(first17 + right)
    assert not any(usci_valid(first17 + c) for c in "0123456789ABCDEFGHJKLMNPQRTUWXY" if c != right)
