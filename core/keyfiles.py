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

__all__ = ["DIR_MODE", "MODE", "PRIVATE_UMASK", "read_bytes", "read_json", "read_or_create", "restrict_tree",
           "write_bytes", "write_json"]

#: Owner may read and write, nobody else anything.
MODE = 0o600
#: Directories: the owner only.
DIR_MODE = 0o700
#: The umask of every ``wlhy`` command: what it creates (var/, demo files, logs) is 0600 / 0700.
PRIVATE_UMASK = 0o077


def restrict_tree(root: Path | str, *, skip: tuple[str, ...] = ()) -> int:
    """Make what is under ``root`` that we own private: files 0600 (executables 0700), directories 0700.

    ``root`` itself is left as it is (the caller decides: the local cluster's server user must traverse ``var/``
    when we are root); entries named in ``skip`` directly under ``root`` are not entered (``pg``: the server's own
    data directory has modes PostgreSQL checks).  Symbolic links are not followed.  Returns how many modes changed.
    """
    root = Path(root)
    if not root.is_dir():
        return 0
    uid = os.geteuid()
    changed = 0
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root:
            dirnames[:] = [d for d in dirnames if d not in skip]
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            try:
                st = p.lstat()
            except FileNotFoundError:
                continue
            if st.st_uid != uid or not (p.is_dir() or p.is_file()) or p.is_symlink():
                continue
            mode = st.st_mode & 0o777
            want = DIR_MODE if p.is_dir() else (0o700 if mode & 0o100 else MODE)
            if mode != want:
                os.chmod(p, want)
                changed += 1
    return changed


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
