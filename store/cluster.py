"""The private PostgreSQL + PostGIS cluster under ``var/`` (init, start, stop, create databases) and its roles.

PostgreSQL refuses to run as root, so when we are root the server runs as the ``postgres`` system user
(``runuser -u postgres``); we always connect over TCP on 127.0.0.1, so nothing depends on socket paths.

Authentication is scram-sha-256 (no trust): ``initdb`` gets a generated superuser password, which is kept with the
two application roles' passwords in ``credentials.json`` beside the data directory (mode 0600, ``core.keyfiles``).
Roles (:func:`ensure_roles`): ``wlhy_owner`` owns the database and every schema object and is what migrations run
as; ``wlhy_app`` is what the app connects as — DML only, granted by migration 0005.  A cluster made before this
(trust) is converted on its next start.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import psycopg
from psycopg import sql

from core import keyfiles
from store.roles import APP_ROLE, OWNER_ROLE

__all__ = ["APP_ROLE", "OWNER_ROLE", "Cluster", "ClusterError", "create_migrated_database", "ensure_database",
           "ensure_roles", "migration_url", "pg_bindir", "process_role_passwords", "role_dsn", "sqlalchemy_url"]


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
# Group commit: with several intake commits in flight, one WAL flush serves them all (durability unchanged).
commit_delay = 200
commit_siblings = 4
timezone = 'UTC'
log_min_messages = warning
"""
# Logs carry no personal data: no DETAIL ("Failing row contains (…)", "Key (id_number)=(…)"), no statement text;
# the files are readable by the server's user only.
_SAFE_CONF = """
# wlhy: safe logging
password_encryption = 'scram-sha-256'
log_error_verbosity = terse
log_min_error_statement = panic
log_file_mode = 0600
"""
_HBA = """# wlhy: password (scram-sha-256) authentication only, TCP on the loopback; no trust anywhere
local   all   all                 scram-sha-256
host    all   all   127.0.0.1/32  scram-sha-256
"""
_FAST_CONF = """
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 256MB
"""


class ClusterError(RuntimeError):
    """The cluster could not be initialised, started or reached; the message says what to do."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for throwaway clusters and servers)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def throwaway_server(prefix: str = "wlhy-pg-") -> Iterator[str]:
    """Superuser DSN of a PostGIS server for tests and benches: ``WLHY_TEST_ADMIN_DSN`` when set, else a fast
    (fsync off) cluster in a temporary directory, stopped and removed on exit."""
    if os.environ.get("WLHY_TEST_ADMIN_DSN"):
        yield os.environ["WLHY_TEST_ADMIN_DSN"]
        return
    root = Path(tempfile.mkdtemp(prefix=prefix))
    cluster = Cluster(data_dir=root / "data", port=free_port(), fast=True)
    cluster.start()
    try:
        yield cluster.dsn()
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


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


def _new_passwords() -> dict[str, str]:
    return {"postgres": secrets.token_urlsafe(24), OWNER_ROLE: secrets.token_urlsafe(24),
            APP_ROLE: secrets.token_urlsafe(24)}


@dataclass
class Cluster:
    """A private cluster in ``data_dir`` listening on 127.0.0.1:``port`` (scram-sha-256, passwords in a 0600 file)."""

    data_dir: Path
    port: int
    fast: bool = False

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / (self.data_dir.name + ".log")

    @property
    def credentials_file(self) -> Path:
        """The roles' generated passwords (superuser, owner, app), mode 0600, beside the data directory."""
        return self.data_dir.parent / "credentials.json"

    def passwords(self) -> dict[str, str]:
        """Role name → password, generated on first use."""
        return keyfiles.read_or_create(self.credentials_file, _new_passwords)

    def url(self, dbname: str = "postgres", role: str = "postgres") -> str:
        """SQLAlchemy URL of a database on this cluster as ``role`` (superuser by default)."""
        return sqlalchemy_url(self.dsn(dbname, role))

    def dsn(self, dbname: str = "postgres", role: str = "postgres") -> str:
        """libpq connection string of a database on this cluster as ``role`` (superuser by default)."""
        return psycopg.conninfo.make_conninfo(host="127.0.0.1", port=str(self.port), user=role, dbname=dbname,
                                              password=self.passwords()[role])

    def is_initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def is_running(self) -> bool:
        try:
            with psycopg.connect(self.dsn(), connect_timeout=2):
                return True
        except psycopg.OperationalError as e:
            if "password authentication failed" in str(e):
                raise ClusterError(f"the cluster in {self.data_dir} refuses the superuser password kept in "
                                   f"{self.credentials_file}") from e
            return False

    def _prepare_dirs(self) -> None:
        """Directories 0700 (as root: the parent 0711, so the server user reaches its data), log file 0600."""
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        parent = self.data_dir.parent
        if os.geteuid() == 0:
            shutil.chown(self.data_dir, "postgres", "postgres")
            os.chmod(parent, 0o711)  # traversable, not listable; what is in it is 0600
            grand = parent.parent
            if (grand.stat().st_mode & 0o011) != 0o011:
                os.chmod(grand, grand.stat().st_mode | 0o011)
        else:
            os.chmod(parent, 0o700)
        if not self.log_file.exists():
            os.close(os.open(self.log_file, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(self.log_file, 0o600)
        if os.geteuid() == 0:
            shutil.chown(self.log_file, "postgres", "postgres")

    def init(self) -> None:
        """Run ``initdb`` once (idempotent) with a generated superuser password and write our settings."""
        if self.is_initialised():
            return
        self._prepare_dirs()
        password = self.passwords()["postgres"]
        # initdb reads the password from a file the server user can read: a temporary one (0600), removed at once.
        fd, pwfile = tempfile.mkstemp(prefix=".pw.", dir=self.data_dir.parent)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(password + "\n")
            if os.geteuid() == 0:
                shutil.chown(pwfile, "postgres", "postgres")
            cmd = [str(pg_bindir() / "initdb"), "-D", str(self.data_dir), "-U", "postgres", "--auth=scram-sha-256",
                   f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8"]
            if self.fast:
                cmd.append("--no-sync")
            _run(_as_server_user(cmd), "initdb")
        finally:
            Path(pwfile).unlink(missing_ok=True)
        (self.data_dir / "pg_hba.conf").write_text(_HBA, encoding="utf-8")
        with open(self.data_dir / "postgresql.conf", "a", encoding="utf-8") as f:
            f.write(_CONF.format(port=self.port))
            f.write(_SAFE_CONF)
            if self.fast:
                f.write(_FAST_CONF)

    def start(self, timeout_s: float = 60) -> None:
        """Start the server if it is not running and wait until it accepts connections.

        A cluster initialised before passwords (trust in ``pg_hba.conf``) is converted: safe log settings added,
        the superuser's password set (from the credentials file, made now), ``pg_hba.conf`` replaced by ours.
        """
        self.init()
        self._prepare_dirs()
        conf = self.data_dir / "postgresql.conf"
        if "log_error_verbosity = terse" not in conf.read_text(encoding="utf-8"):
            with open(conf, "a", encoding="utf-8") as f:
                f.write(_SAFE_CONF)
        if not self.is_running():
            _run(_as_server_user([str(pg_bindir() / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                                  "-o", f"-p {self.port}", "-w", "-t", str(int(timeout_s)), "start"]),
                 "pg_ctl start", log=self.log_file)
        deadline = time.monotonic() + timeout_s
        while not self.is_running():
            if time.monotonic() > deadline:
                raise ClusterError(f"cluster in {self.data_dir} did not accept connections; see {self.log_file}")
            time.sleep(0.2)
        hba = self.data_dir / "pg_hba.conf"
        if "trust" in _hba_methods(hba):
            with psycopg.connect(self.dsn(), autocommit=True) as conn:  # trusted still: the password is ignored
                conn.execute(sql.SQL("ALTER ROLE postgres PASSWORD {}").format(
                    sql.Literal(self.passwords()["postgres"])))
                hba.write_text(_HBA, encoding="utf-8")
                conn.execute("SELECT pg_reload_conf()")

    def stop(self) -> None:
        """Stop the server (fast mode) if it runs."""
        if not self.is_initialised() or not (self.data_dir / "postmaster.pid").exists():
            return
        _run(_as_server_user([str(pg_bindir() / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"]),
             "pg_ctl stop")

    def ensure_database(self, dbname: str) -> bool:
        """Create ``dbname`` (owned by the owner role) with PostGIS, and the roles, if missing; True when created."""
        ensure_roles(self.dsn(), self.passwords())
        return ensure_database(self.dsn(), dbname)


def _hba_methods(hba: Path) -> set[str]:
    methods = set()
    for line in hba.read_text(encoding="utf-8").splitlines():
        parts = line.split("#", 1)[0].split()
        if parts:
            methods.add(parts[-1] if parts[0] == "local" or len(parts) < 5 else parts[4])
    return methods


def ensure_roles(admin_dsn: str, passwords: Mapping[str, str]) -> None:
    """Create the owner and app LOGIN roles (neither superuser) if missing and set their passwords.

    The app role gets no privilege here: migration 0005 grants what it needs on the objects the owner makes.
    """
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        for role in (OWNER_ROLE, APP_ROLE):
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                                 "NOBYPASSRLS PASSWORD {}").format(sql.Identifier(role),
                                                                   sql.Literal(passwords[role])))


def ensure_database(admin_dsn: str, dbname: str, owner: str | None = OWNER_ROLE) -> bool:
    """Create ``dbname`` (through the admin DSN of any server) with the PostGIS extension if it is missing.

    With ``owner`` (a role that exists): the database, its ``public`` schema and every object of ours already in
    it (a database made before roles existed) belong to ``owner``, and nobody else may create objects in
    ``public``.  Extensions (PostGIS, pgcrypto) are made here, by the superuser.
    """
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        if owner:
            conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(dbname),
                                                                         sql.Identifier(owner)))
    dsn = psycopg.conninfo.make_conninfo(admin_dsn, dbname=dbname)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
        if owner:
            _hand_over(conn, owner)
    return not exists


def _hand_over(conn: psycopg.Connection, owner: str) -> None:
    """Make ``owner`` the owner of schema ``public`` and of every table, sequence, view and function of ours in it."""
    o = sql.Identifier(owner)
    conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(o))
    conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    rows = conn.execute("""
        SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
          AND pg_get_userbyid(c.relowner) <> %s
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                          AND d.deptype = 'e')
          AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype IN ('a', 'i')))""", (owner,)).fetchall()
    kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE",
             "f": "FOREIGN TABLE"}
    for name, kind in rows:
        conn.execute(sql.SQL("ALTER {} {} OWNER TO {}").format(sql.SQL(kinds[kind]), sql.Identifier(name), o))
    funcs = conn.execute("""
        SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.proname LIKE 'wlhy\\_%%' AND pg_get_userbyid(p.proowner) <> %s
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                          AND d.deptype = 'e')""", (owner,)).fetchall()
    for (sig,) in funcs:
        conn.execute(sql.SQL("ALTER FUNCTION {} OWNER TO {}").format(sql.SQL(sig), o))


def _run(cmd: list[str], what: str, log: Path | None = None) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = ""
        if log and log.exists():
            tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise ClusterError(f"{what} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}{tail}")


def sqlalchemy_url(dsn: str) -> str:
    """The SQLAlchemy (psycopg 3) URL of a libpq DSN."""
    from sqlalchemy.engine import URL

    info = psycopg.conninfo.conninfo_to_dict(dsn)
    return URL.create("postgresql+psycopg", username=info.get("user", "postgres"), password=info.get("password"),
                      host=info.get("host", "127.0.0.1"), port=int(info.get("port", 5432)),
                      database=info.get("dbname", "postgres")).render_as_string(hide_password=False)


def role_dsn(admin_dsn: str, dbname: str, role: str, password: str) -> str:
    """libpq DSN of ``dbname`` on the admin DSN's server, as ``role``."""
    return psycopg.conninfo.make_conninfo(admin_dsn, dbname=dbname, user=role, password=password)


@cache
def process_role_passwords(admin_dsn: str) -> dict[str, str]:
    """Role passwords for a server known only by its admin DSN (tests): made once per process, set on the roles."""
    return _new_passwords()


_MIGRATION_URLS: dict[str, str] = {}


def migration_url(app_url: str) -> str:
    """The owner role's URL of the database whose app URL :func:`create_migrated_database` returned."""
    return _MIGRATION_URLS[app_url]


def create_migrated_database(admin_dsn: str, name: str, passwords: Mapping[str, str] | None = None) -> str:
    """Create database ``name`` with PostGIS and the roles (if missing), migrate it to head as the owner role;
    return the **app role's** SQLAlchemy URL (:func:`migration_url` gives the owner's)."""
    from store.migrate import upgrade

    passwords = passwords or process_role_passwords(admin_dsn)
    ensure_roles(admin_dsn, passwords)
    ensure_database(admin_dsn, name)
    owner = sqlalchemy_url(role_dsn(admin_dsn, name, OWNER_ROLE, passwords[OWNER_ROLE]))
    app = sqlalchemy_url(role_dsn(admin_dsn, name, APP_ROLE, passwords[APP_ROLE]))
    upgrade(owner, app_role=APP_ROLE)
    _MIGRATION_URLS[app] = owner
    return app
