"""Code tables of the exchange spec (plate colour, vehicle type, bank code, ...) from data/codes/*.csv."""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

__all__ = ["CODES_DIR", "TABLES", "is_code", "load_table", "name_of"]

#: Folder holding one ``<table>.csv`` per code table, header ``code,name``, UTF-8.
CODES_DIR = Path(__file__).resolve().parents[1] / "data" / "codes"

#: Names of the shipped code tables (research notes §3; ``vehicle_class`` = driving-licence classes).
TABLES: tuple[str, ...] = (
    "plate_color",
    "transport_type",
    "business_type",
    "cargo_type",
    "payment_means",
    "vehicle_type",
    "energy_type",
    "insurance_company",
    "bank_code",
    "vehicle_class",
)


@lru_cache(maxsize=None)
def load_table(name: str) -> dict[str, str]:
    """Return one code table as ``{code: name}``.

    Parameters
    ----------
    name : str
        One of :data:`TABLES`.

    Returns
    -------
    dict[str, str]
        Code → Chinese name, in file order. Cached: do not mutate it.

    Raises
    ------
    ValueError
        If `name` is not one of :data:`TABLES`.

    Examples
    --------
    >>> load_table("plate_color")["2"]
    '黄色'
    """
    if name not in TABLES:
        raise ValueError(f"unknown code table {name!r}; expected one of {', '.join(TABLES)}")
    with open(CODES_DIR / f"{name}.csv", encoding="utf-8", newline="") as f:
        return {row["code"]: row["name"] for row in csv.DictReader(f)}


def is_code(table: str, value: object) -> bool:
    """Tell whether `value` is a code of `table` (exact, case-sensitive string match).

    Parameters
    ----------
    table : str
        One of :data:`TABLES`.
    value : object
        Candidate code; anything that is not a ``str`` is not a code.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_code("vehicle_type", "Q11"), is_code("vehicle_type", "Q99"), is_code("plate_color", 2)
    (True, False, False)
    """
    return isinstance(value, str) and value in load_table(table)


def name_of(table: str, code: str) -> str | None:
    """Return the Chinese name of `code` in `table`, or ``None`` when it is not a code.

    Examples
    --------
    >>> name_of("insurance_company", "PICC"), name_of("insurance_company", "ZZZZ")
    ('人保', None)
    """
    return load_table(table).get(code)
