"""Beijing-time wire formats (``YYYYMMDDhhmmss``, ``YYYYMMDD``) from epoch seconds, vectorised."""

from __future__ import annotations

import numpy as np

from core.beijing import OFFSET_S as BEIJING_OFFSET_S

__all__ = ["BEIJING_OFFSET_S", "wire_date", "wire_datetime", "wire_datetimes"]



def wire_datetimes(t_s) -> np.ndarray:
    """Format epoch seconds (UTC) as Beijing ``YYYYMMDDhhmmss`` strings, one per input.

    Examples
    --------
    >>> wire_datetimes([0, 1790000000]).tolist()
    ['19700101080000', '20260921221320']
    """
    local = np.asarray(t_s, dtype=np.int64) + BEIJING_OFFSET_S
    sec = local.astype("datetime64[s]")
    day = sec.astype("datetime64[D]")
    month = sec.astype("datetime64[M]")
    year = sec.astype("datetime64[Y]").astype(np.int64) + 1970
    mon = month.astype(np.int64) % 12 + 1
    dom = (day - month.astype("datetime64[D]")).astype(np.int64) + 1
    sod = local - day.astype("datetime64[s]").astype(np.int64)
    stamp = (
        ((year * 100 + mon) * 100 + dom) * 1_000_000
        + (sod // 3600) * 10_000
        + (sod // 60 % 60) * 100
        + sod % 60
    )
    return stamp.astype(str)


def wire_datetime(t_s: int) -> str:
    """Format one epoch second as Beijing ``YYYYMMDDhhmmss``."""
    return str(wire_datetimes([int(t_s)])[0])


def wire_date(t_s: int) -> str:
    """Format one epoch second as the Beijing date ``YYYYMMDD``."""
    return wire_datetime(t_s)[:8]
