"""List answers as files: CSV that Excel opens with Chinese intact (UTF-8 with BOM), the same columns as the JSON."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi.responses import Response

__all__ = ["csv_response"]


def _cell(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, ensure_ascii=False, default=str)
    return "" if value is None else value


def csv_response(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], filename: str) -> Response:
    """A ``text/csv`` download of ``rows`` (one column per key in ``columns``)."""
    buf = io.StringIO()
    buf.write("\ufeff")  # BOM: without it Excel reads UTF-8 as the local ANSI code page and garbles Chinese
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return Response(buf.getvalue().encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
