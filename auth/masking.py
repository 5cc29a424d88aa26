"""Masking of personal data (ID numbers, phone numbers, bank accounts), the one place that does it.

spec/API.md: masked as ``3401********1234`` unless the role may see them (``Scope.personal_data``). The same
functions serve API answers, CSV exports, logs and error messages.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["PersonalKind", "mask", "mask_bank_account", "mask_id_number", "mask_phone"]

PersonalKind = Literal["id_number", "phone", "bank_account"]


def _keep(value: str, head: int, tail: int) -> str:
    if len(value) <= head + tail:
        return "*" * len(value)  # too short to show any part without showing most of it
    return value[:head] + "*" * (len(value) - head - tail) + value[len(value) - tail:]


def mask_id_number(value: str | None) -> str | None:
    """Keep the first 4 (province + city) and the last 4 characters.

    >>> mask_id_number("340102199001011234")
    '3401**********1234'
    """
    return None if value is None else _keep(str(value), 4, 4)


def mask_phone(value: str | None) -> str | None:
    """Keep the first 3 and the last 4 digits.

    >>> mask_phone("13812345678")
    '138****5678'
    """
    return None if value is None else _keep(str(value), 3, 4)


def mask_bank_account(value: str | None) -> str | None:
    """Keep the first 4 and the last 4 digits.

    >>> mask_bank_account("6222021234567890123")
    '6222***********0123'
    """
    return None if value is None else _keep(str(value), 4, 4)


_BY_KIND = {"id_number": mask_id_number, "phone": mask_phone, "bank_account": mask_bank_account}


def mask(value: str | None, kind: PersonalKind, *, clear: bool = False) -> str | None:
    """``value`` masked as ``kind``, or unchanged when ``clear`` (the caller's scope may see it)."""
    return value if clear else _BY_KIND[kind](value)
