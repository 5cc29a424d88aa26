"""Secret files: mode 0600, atomic replacement, created once."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from core import keyfiles


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_bytes_creates_parents_with_mode_0600(tmp_path):
    path = tmp_path / "a" / "b" / "master.key"
    keyfiles.write_bytes(path, b"\x00\x01secret")
    assert keyfiles.read_bytes(path) == b"\x00\x01secret"
    assert _mode(path) == 0o600


def test_mode_is_0600_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        keyfiles.write_json(tmp_path / "k.json", {"k": 1})
    finally:
        os.umask(old)
    assert _mode(tmp_path / "k.json") == 0o600


def test_replacing_a_wider_file_makes_it_0600(tmp_path):
    path = tmp_path / "k.json"
    path.write_text("{}")
    path.chmod(0o644)
    keyfiles.write_json(path, {"private": "ab"})
    assert keyfiles.read_json(path) == {"private": "ab"} and _mode(path) == 0o600


def test_replace_is_atomic_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    path = tmp_path / "k.bin"
    keyfiles.write_bytes(path, b"old")
    inode = path.stat().st_ino
    keyfiles.write_bytes(path, b"new")
    assert keyfiles.read_bytes(path) == b"new"
    assert path.stat().st_ino != inode  # a new file renamed over the old one, not rewritten in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.bin"]

    # A write that fails before the rename leaves the old content whole, and no temporary file behind.
    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(keyfiles.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        keyfiles.write_bytes(path, b"half")
    assert keyfiles.read_bytes(path) == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.bin"]


def test_read_or_create_creates_once_then_returns_the_same(tmp_path):
    path = tmp_path / "var" / "ministry-sim.json"
    calls = []

    def make():
        calls.append(1)
        return {"private": f"key-{len(calls)}"}

    first = keyfiles.read_or_create(path, make)
    assert first == {"private": "key-1"} and _mode(path) == 0o600
    assert keyfiles.read_or_create(path, make) == first
    assert len(calls) == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["ministry-sim.json"]


def test_read_or_create_racing_creators_agree_on_one_secret(tmp_path):
    path = tmp_path / "master.json"
    results, start = [], threading.Barrier(8)

    def worker(i: int) -> None:
        start.wait()
        results.append(keyfiles.read_or_create(path, lambda: {"key": i}))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and all(r == results[0] for r in results)
    assert keyfiles.read_json(path) == results[0]
