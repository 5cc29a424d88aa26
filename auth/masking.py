"""Masking of personal data (ID numbers, phone numbers, bank accounts), the one place that does it.

spec/API.md: masked as ``3401********1234`` unless the role may see them (``Scope.personal_data``). The same
functions serve API answers, CSV exports, logs and error messages.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["PersonalKind", "mask", "mask_bank_account", "mask_id_number", "mask_phone", "mask_text"]

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


# In free text (URLs, error messages, log lines): 18-character ID numbers, mainland mobile numbers, 16–19-digit
# bank card numbers, each standing alone (not part of a longer token).
_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_PHONE_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")
_CARD_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])\d{16,19}(?![0-9A-Za-z])")


def mask_text(text: str) -> str:
    """Mask every ID number, mobile number and bank card number found in ``text``.

    >>> mask_text("GET /v1/drivers/340102199001011234?tel=13812345678")
    'GET /v1/drivers/3401**********1234?tel=138****5678'
    """
    text = _ID_IN_TEXT.sub(lambda m: mask_id_number(m.group(0)), text)
    text = _CARD_IN_TEXT.sub(lambda m: mask_bank_account(m.group(0)), text)
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), text)
