"""Check characters of the USCI (GB 32100-2015) and the citizen ID number (GB 11643-1999)."""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["id_check_char", "id_number_valid", "usci_check_char", "usci_valid"]

# GB 32100-2015 alphabet: digits and upper-case letters without I, O, Z, S, V (31 characters).
_USCI_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCI_VALUE = {c: i for i, c in enumerate(_USCI_ALPHABET)}
_USCI_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, 26, ...
# Position 1 = registration authority (1-9, A-G, Y), 2 = organisation category (digit or letter of the
# authority's sub-table), 3-8 = division code (digits), 9-17 = organisation code, 18 = check character.
_USCI_SHAPE = re.compile(r"^[1-9A-GY][0-9A-HJ-NP-RTUWXY][0-9]{6}[0-9A-HJ-NP-RTUWXY]{10}$")

_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))  # 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, ...
_ID_CHECK = "10X98765432"  # check character for (sum mod 11) = 0..10
_ID_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")


def usci_check_char(first17: str) -> str:
    """Compute the 18th character of a unified social credit identifier (GB 32100-2015).

    C18 = 31 - (Σ Wi·Ci mod 31), with Wi = 3^(i-1) mod 31 and 31 written as 0.

    Parameters
    ----------
    first17 : str
        The first 17 characters, from the GB 32100 alphabet (no I, O, Z, S, V).

    Returns
    -------
    str
        One character of the alphabet.

    Raises
    ------
    ValueError
        If `first17` is not 17 characters of the alphabet.

    Examples
    --------
    >>> usci_check_char("91350100M000100Y4")
    '3'
    """
    if len(first17) != 17 or any(c not in _USCI_VALUE for c in first17):
        raise ValueError(f"first17 must be 17 characters of {_USCI_ALPHABET!r}, got {first17!r}")
    total = sum(_USCI_VALUE[c] * w for c, w in zip(first17, _USCI_WEIGHTS))
    return _USCI_ALPHABET[(31 - total % 31) % 31]


def usci_valid(s: str) -> bool:
    """Tell whether `s` is a well-formed USCI whose check character is right.

    Examples
    --------
    >>> usci_valid("91350100M000100Y43"), usci_valid("91350100M000100Y44"), usci_valid("")
    (True, False, False)
    """
    return isinstance(s, str) and _USCI_SHAPE.match(s) is not None and usci_check_char(s[:17]) == s[17]


def id_check_char(first17: str) -> str:
    """Compute the check character of an 18-digit citizen ID number (GB 11643-1999, ISO 7064 MOD 11-2).

    Parameters
    ----------
    first17 : str
        The first 17 digits.

    Returns
    -------
    str
        ``'0'``-``'9'`` or ``'X'``.

    Raises
    ------
    ValueError
        If `first17` is not 17 digits.

    Examples
    --------
    >>> id_check_char("11010519491231002")
    'X'
    """
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError(f"first17 must be 17 digits, got {first17!r}")
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS))
    return _ID_CHECK[total % 11]


def id_number_valid(s: str) -> bool:
    """Tell whether `s` is a valid 18-character ID number: shape, real birth date and check character.

    A lower-case ``x`` is accepted as the check character: platforms often send it, and it names
    the same number.

    Examples
    --------
    >>> id_number_valid("11010519491231002X"), id_number_valid("11010519491231002x")
    (True, True)
    >>> id_number_valid("110105194912310021"), id_number_valid("110105194902300027")
    (False, False)
    """
    if not isinstance(s, str):
        return False
    s = s.upper()
    if _ID_SHAPE.match(s) is None:
        return False
    try:
        dt.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    return id_check_char(s[:17]) == s[17]
