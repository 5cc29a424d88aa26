"""``wlhy keys``: the province's SM2 key pairs (generate, rotate, export the public key)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cli.output import fail

app = typer.Typer(help="The province's SM2 key pairs.", no_args_is_help=True)


@app.command("generate")
def keys_generate() -> None:
    """Make the province's first SM2 key pair (refuses when one exists: rotate instead)."""
    from etl.exchange import keys
    from store.db import ensure_database, session_scope

    with session_scope(ensure_database()) as session:
        try:
            key = keys.generate(db_session=session)
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
        key = keys.rotate(db_session=session, overlap=dt.timedelta(days=overlap_days))
        print(json.dumps({"keyId": key.key_id, "publicKey": key.public_key_hex, "overlapDays": overlap_days,
                          "masterKeyId": secrets_wrap.keyring().current}))


@app.command("export")
def keys_export() -> None:
    """Print the current province public key as hex (04‖X‖Y), made on first use."""
    from etl.exchange import keys
    from store.db import ensure_database, session_scope

    with session_scope(ensure_database()) as session:
        print(keys.ensure_current(db_session=session).public_key_hex)
