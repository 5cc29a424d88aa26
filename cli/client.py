"""``wlhy client``: the reference platform client (seal and send payloads as a platform would)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.output import fail

app = typer.Typer(help="The reference platform client.", no_args_is_help=True)


@app.command("send")
def client_send(
    file: Annotated[Path, typer.Argument(help="a JSON payload, or a .jsonl file of payloads (or generator records)")],
    ipc: Annotated[str, typer.Option("--ipc", help="WLHY_YD1001 | WLHY_ZJ1001 | WLHY_CL1001 | WLHY_JSY1001 | WLHY_WZ1001")],
    url: Annotated[str, typer.Option(help="the exchange's base URL")] = "http://127.0.0.1:8000",
    user: Annotated[str, typer.Option(envvar="WLHY_CLIENT_USER", help="access account")] = "",
    password: Annotated[str, typer.Option(envvar="WLHY_CLIENT_PASSWORD", help="its password")] = "",
    public_key: Annotated[str, typer.Option(envvar="WLHY_CLIENT_PUBLIC_KEY", help="province public key hex")] = "",
) -> None:
    """Seal and send payloads as a platform would; prints one JSON answer per payload."""
    from etl.exchange.client import ExchangeClient, ExchangeClientError

    if not (user and password and public_key):
        fail("--user, --password and --public-key (or WLHY_CLIENT_*) are required")
    text = file.read_text(encoding="utf-8")
    docs = [json.loads(line) for line in text.splitlines() if line.strip()] if file.suffix == ".jsonl" else [json.loads(text)]
    worst = 0
    with ExchangeClient(url, user, password, public_key) as client:
        for doc in docs:
            # A generator record wraps the payload with its operator; a bare payload is sent as it is.
            payload = doc["payload"] if isinstance(doc, dict) and "payload" in doc and "operator" in doc else doc
            try:
                reply = client.send(ipc, payload)
            except ExchangeClientError as e:
                fail(str(e), 3)
            print(json.dumps(reply, ensure_ascii=False))
            worst = max(worst, 0 if reply.get("code") == 1001 else 1)
    raise typer.Exit(worst)
