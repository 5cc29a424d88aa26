"""The private PostgreSQL + PostGIS cluster under ``var/`` (init, start, stop, create databases).

PostgreSQL refuses to run as root, so when we are root the server runs as the ``postgres`` system user
(``runuser -u postgres``); we always connect over TCP on 127.0.0.1, so nothing depends on socket paths.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

__all__ = ["Cluster", "ClusterError", "create_migrated_database", "ensure_database", "pg_bindir", "sqlalchemy_url"]

# Tuned for a 2-core, 24 GiB machine doing bulk COPY; durability settings stay on except where `fast=True`
# (throwaway test clusters), where fsync is pointless.
_CONF = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = ''
max_connections = 100
shared_buffers = 1GB
maintenance_work_mem = 512MB
work_mem = 32MB
max_wal_size = 8GB
checkpoint_timeout = 30min
timezone = 'UTC'
log_min_messages = warning
"""
_FAST_CONF = """
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 256MB
"""


class ClusterError(RuntimeError):
    """The cluster could not be initialised, started or reached; the message says what to do."""


def pg_bindir() -> Path:
    """Directory of the newest installed PostgreSQL server binaries (``initdb``, ``pg_ctl``)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise ClusterError("PostgreSQL server binaries not found: run `make demo` (it installs postgresql + postgis)")


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@dataclass
class Cluster:
    """A private cluster in ``data_dir`` listening on 127.0.0.1:``port`` (trust auth, superuser ``postgres``)."""

    data_dir: Path
    port: int
    fast: bool = False

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / (self.data_dir.name + ".log")

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL of a database on this cluster."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def dsn(self, dbname: str = "postgres") -> str:
        """libpq connection string of a database on this cluster."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def is_initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def is_running(self) -> bool:
        try:
            with psycopg.connect(self.dsn(), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def init(self) -> None:
        """Run ``initdb`` once (idempotent) and write our settings."""
        if self.is_initialised():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # The server user must own its directory and be able to write the log beside it.
            shutil.chown(self.data_dir, "postgres", "postgres")
            self.log_file.touch()
            shutil.chown(self.log_file, "postgres", "postgres")
            os.chmod(self.data_dir.parent, 0o755)
        cmd = [str(pg_bindir() / "initdb"), "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
               "-E", "UTF8", "--locale=C.UTF-8"]
        if self.fast:
            cmd.append("--no-sync")
        _run(_as_server_user(cmd), "initdb")
        with open(self.data_dir / "postgresql.conf", "a", encoding="utf-8") as f:
            f.write(_CONF.format(port=self.port))
            if self.fast:
                f.write(_FAST_CONF)

    def start(self, timeout_s: float = 60) -> None:
        """Start the server if it is not running and wait until it accepts connections."""
        self.init()
        if self.is_running():
            return
        _run(_as_server_user([str(pg_bindir() / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                              "-o", f"-p {self.port}", "-w", "-t", str(int(timeout_s)), "start"]), "pg_ctl start",
             log=self.log_file)
        deadline = time.monotonic() + timeout_s
        while not self.is_running():
            if time.monotonic() > deadline:
                raise ClusterError(f"cluster in {self.data_dir} did not accept connections; see {self.log_file}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the server (fast mode) if it runs."""
        if not self.is_initialised() or not (self.data_dir / "postmaster.pid").exists():
            return
        _run(_as_server_user([str(pg_bindir() / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"]),
             "pg_ctl stop")

    def ensure_database(self, dbname: str) -> bool:
        """Create ``dbname`` with PostGIS if missing; returns True when it was created."""
        return ensure_database(self.dsn(), dbname)


def ensure_database(admin_dsn: str, dbname: str) -> bool:
    """Create ``dbname`` (through the admin DSN of any server) with the PostGIS extension if it is missing."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{dbname}"')
    dsn = psycopg.conninfo.make_conninfo(admin_dsn, dbname=dbname)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return not exists


def _run(cmd: list[str], what: str, log: Path | None = None) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = ""
        if log and log.exists():
            tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise ClusterError(f"{what} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}{tail}")


def sqlalchemy_url(dsn: str) -> str:
    """The SQLAlchemy (psycopg 3) URL of a libpq DSN."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    password = f":{info['password']}" if info.get("password") else ""
    return (f"postgresql+psycopg://{info.get('user', 'postgres')}{password}@{info.get('host', '127.0.0.1')}:"
            f"{info.get('port', 5432)}/{info.get('dbname', 'postgres')}")


def create_migrated_database(admin_dsn: str, name: str) -> str:
    """Create database ``name`` with PostGIS (if missing), migrate it to head; return its SQLAlchemy URL."""
    from store.migrate import upgrade

    ensure_database(admin_dsn, name)
    url = sqlalchemy_url(psycopg.conninfo.make_conninfo(admin_dsn, dbname=name))
    upgrade(url)
    return url
