"""The generator's output files as the demo reads them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["DOCUMENT_FILES", "read_jsonl"]

# file -> ipcType, in the order a platform reports: parties before the documents naming them.
DOCUMENT_FILES = (
    ("vehicles.jsonl", "WLHY_CL1001"),
    ("drivers.jsonl", "WLHY_JSY1001"),
    ("waybills.jsonl", "WLHY_YD1001"),
    ("fund_flows.jsonl", "WLHY_ZJ1001"),
    ("positions_app.jsonl", "WLHY_WZ1001"),
)


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a .jsonl file, one per non-empty line."""
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)
