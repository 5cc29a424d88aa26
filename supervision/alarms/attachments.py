"""Attachments of rectifications and appeals: checked by content, limited in size and number, stored durably.

A file's type is what its first bytes say (PDF, PNG, JPEG, ZIP/OFD), never its name or the client's content type:
a renamed executable is refused. Files are content-addressed by their SM3 digest under ``var/attachments``
(``<2 hex>/<digest>``, mode 0600), written to a temporary file, fsynced and renamed, then the directory fsynced,
so a crash leaves either the whole file or none. The same bytes uploaded twice are stored once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import keyfiles
from core.config import get_settings
from core.errors import InvalidInputError, NotFoundError
from etl.exchange.sm3 import sm3_digest

__all__ = ["KINDS", "Upload", "attachment_dir", "detect", "load", "store_all", "validate"]

#: content kinds accepted: (name, media type, magic prefix); OFD (GB/T 33190) is a ZIP container, told apart by
#: its OFD.xml entry, which sits in the first local header.
KINDS: tuple[tuple[str, str, bytes], ...] = (
    ("pdf", "application/pdf", b"%PDF-"),
    ("png", "image/png", b"\x89PNG\r\n\x1a\n"),
    ("jpeg", "image/jpeg", b"\xff\xd8\xff"),
    ("zip", "application/zip", b"PK\x03\x04"),
)
MEDIA_TYPES = {k: m for k, m, _ in KINDS} | {"ofd": "application/ofd"}


@dataclass(frozen=True)
class Upload:
    """One file as received: the name the client gave (kept for display only) and its bytes."""

    filename: str
    data: bytes


def attachment_dir() -> Path:
    """Where attachments live (``WLHY_ATTACHMENTS_DIR``, default ``var/attachments``)."""
    s = get_settings()
    return Path(s.attachments_dir) if s.attachments_dir else s.var_dir / "attachments"


def detect(data: bytes) -> str | None:
    """The content kind of ``data`` by its magic bytes, or None.

    >>> detect(b"%PDF-1.7 ..."), detect(b"\\x89PNG\\r\\n\\x1a\\n..."), detect(b"MZ\\x90\\x00")
    ('pdf', 'png', None)
    """
    for name, _media, magic in KINDS:
        if data.startswith(magic):
            if name == "zip" and b"OFD.xml" in data[30:30 + 64]:
                return "ofd"
            return name
    return None


def validate(uploads: list[Upload]) -> list[dict[str, Any]]:
    """Check count, size and content of ``uploads``; the metadata to store (nothing written yet).

    Raises
    ------
    InvalidInputError
        Too many files, an empty or too large one, or one whose content is not PDF, PNG, JPEG, ZIP or OFD.
    """
    s = get_settings()
    if len(uploads) > s.attachment_max_files:
        raise InvalidInputError(f"at most {s.attachment_max_files} attachments per submission, got {len(uploads)} "
                                f"(每次最多 {s.attachment_max_files} 个附件)")
    out = []
    for u in uploads:
        name = os.path.basename(u.filename or "attachment")[:200]
        if not u.data:
            raise InvalidInputError(f"attachment {name!r} is empty (附件为空)")
        if len(u.data) > s.attachment_max_bytes:
            raise InvalidInputError(f"attachment {name!r} is {len(u.data)} bytes, larger than the limit of "
                                    f"{s.attachment_max_bytes} (附件超过大小限制)")
        kind = detect(u.data)
        if kind is None:
            raise InvalidInputError(f"attachment {name!r} is not a PDF, PNG, JPEG, ZIP or OFD file by its content "
                                    f"(附件类型不允许，按文件内容判断)")
        out.append({"digest": sm3_digest(u.data).hex(), "algorithm": "SM3", "filename": name, "kind": kind,
                    "mediaType": MEDIA_TYPES[kind], "size": len(u.data)})
    return out


def _path(digest: str) -> Path:
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise NotFoundError("no such attachment")
    return attachment_dir() / digest[:2] / digest


def store_all(uploads: list[Upload], meta: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Validate and store ``uploads`` durably; their metadata (digest, name, kind, media type, size).

    ``meta`` is :func:`validate`'s answer when the caller validated already (inside its refusal handling), so the
    files are not digested twice. Called before the database transaction commits: a file without a row is
    harmless (content-addressed, the next upload of the same bytes reuses it), a row without its file would not be.
    """
    meta = validate(uploads) if meta is None else meta
    for m, u in zip(meta, uploads, strict=True):
        path = _path(m["digest"])
        if path.exists() and path.stat().st_size == m["size"]:
            continue
        keyfiles.write_bytes(path, u.data)  # temp file, fsync, rename, 0600
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)  # the rename itself survives a crash
        finally:
            os.close(fd)
    return meta


def load(digest: str) -> bytes:
    """The stored bytes of ``digest``, checked against it.

    Raises
    ------
    NotFoundError
        Unknown digest, or a file whose content no longer matches it.
    """
    path = _path(digest)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError("no such attachment") from None
    if sm3_digest(data).hex() != digest:
        raise NotFoundError("attachment damaged on disk (digest mismatch)")
    return data
