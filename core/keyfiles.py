"""Secrets kept in files outside the database (key pairs, the master key): written atomically, mode 0600.

A reader never sees a half-written file: the content goes to a temporary file in the same directory, made 0600
before anything is written to it, flushed to disk, then renamed over the target.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["MODE", "read_bytes", "read_json", "read_or_create", "write_bytes", "write_json"]

#: Owner may read and write, nobody else anything.
MODE = 0o600


def write_bytes(path: Path | str, data: bytes) -> None:
    """Replace `path` with `data` atomically, mode 0600; parent directories are created."""
    path = Path(path)
    tmp = _write_temp(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_bytes(path: Path | str) -> bytes:
    """The content of `path` (``FileNotFoundError`` when missing)."""
    return Path(path).read_bytes()


def write_json(path: Path | str, obj: Any) -> None:
    """Replace `path` with `obj` as UTF-8 JSON, atomically, mode 0600."""
    write_bytes(path, _dump(obj))


def read_json(path: Path | str) -> Any:
    """The JSON value in `path`."""
    return json.loads(read_bytes(path).decode("utf-8"))


def read_or_create(path: Path | str, make: Callable[[], Any]) -> Any:
    """The JSON secret in `path`; when there is none, ``make()``'s value, stored first (mode 0600).

    Creation is exclusive: when two processes race, one file wins and both return its content, so a secret
    made once is the one everybody uses afterwards.
    """
    path = Path(path)
    try:
        return read_json(path)
    except FileNotFoundError:
        pass
    tmp = _write_temp(path, _dump(make()))
    try:
        os.link(tmp, path)  # fails if the target exists, unlike os.replace
    except FileExistsError:
        pass  # another process made it first: use theirs
    finally:
        tmp.unlink(missing_ok=True)
    return read_json(path)


def _write_temp(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), MODE)  # mkstemp makes 0600 already; say so anyway, whatever the platform
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, indent=1).encode("utf-8")
