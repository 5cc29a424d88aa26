"""``wlhy keys``: the province's SM2 key pairs (generate, rotate, export the public key) and the master key versions
that wrap them (re-wrap, drop old versions). Every change is an audit row naming the local user (``cli:<name>``)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cli.output import fail

app = typer.Typer(help="The province's SM2 key pairs and the master key that wraps them.", no_args_is_help=True)


def _actor() -> str:
    """Who runs the command, for the audit log (the OS account: the CLI has no person login)."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers)
        return "cli"


@app.command("generate")
def keys_generate() -> None:
    """Make the province's first SM2 key pair (refuses when one exists: rotate instead)."""
    from etl.exchange import keys
    from store.db import ensure_database, session_scope

    with session_scope(ensure_database()) as session:
        try:
            key = keys.generate(db_session=session, actor=_actor())
        except keys.ProvinceKeyError as e:
            fail(str(e))
        print(json.dumps({"keyId": key.key_id, "publicKey": key.public_key_hex}))


@app.command("rotate")
def keys_rotate(overlap_days: Annotated[int, typer.Option(help="days the old key still decrypts")] = 30) -> None:
    """Make a new current key (the old one keeps decrypting for OVERLAP_DAYS) and re-wrap every stored secret
    under a new master key version (with WLHY_MASTER_KEY: under its first key; older ones may follow it)."""
    import datetime as dt

    from core import secrets_wrap
    from etl.exchange import keys
    from store.db import ensure_database, session_scope

    with session_scope(ensure_database()) as session:
        key = keys.rotate(db_session=session, overlap=dt.timedelta(days=overlap_days), actor=_actor())
        print(json.dumps({"keyId": key.key_id, "publicKey": key.public_key_hex, "overlapDays": overlap_days,
                          "masterKeyId": secrets_wrap.keyring().current}))


@app.command("rewrap")
def keys_rewrap() -> None:
    """Re-wrap every stored secret under the current master key version (e.g. after WLHY_MASTER_KEY got a new
    first key); prints how many values changed and which versions wrap what now."""
    from etl.exchange import keys
    from store.db import ensure_database, session_scope

    with session_scope(ensure_database()) as session:
        changed = keys.rewrap(db_session=session, actor=_actor())
        print(json.dumps({"rewrapped": changed, "usage": keys.master_key_usage(db_session=session)}))


@app.command("drop-master-versions")
def keys_drop_master_versions() -> None:
    """Remove the old master key versions from the key file, keeping only the current one. Refused (exit 2,
    nothing removed) while any stored secret is still wrapped under an old version: run `wlhy keys rewrap` first."""
    from etl.exchange import keys
    from store.db import ensure_database, session_scope

    refused = None
    with session_scope(ensure_database()) as session:
        try:
            dropped = keys.drop_master_versions(db_session=session, actor=_actor())
        except keys.MasterKeyInUse as e:
            refused = str(e)  # the refusal's audit row is already committed (audit.refused)
    if refused is not None:
        fail(refused)
    print(json.dumps({"dropped": dropped}))


@app.command("export")
def keys_export() -> None:
    """Print the current province public key as hex (04‖X‖Y), made on first use."""
    from etl.exchange import keys
    from store.db import ensure_database, session_scope

    with session_scope(ensure_database()) as session:
        print(keys.ensure_current(db_session=session).public_key_hex)
