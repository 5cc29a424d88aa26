"""``wlhy``: the one command line of the system; each command group lives in its own module."""

from __future__ import annotations

import typer

from cli import accounts, audit, client, db, demo, forward, keys, serve, simulators, users, verify, worker

app = typer.Typer(help="省级网络货运信息监测系统 · provincial network-freight monitoring system", no_args_is_help=True)
app.add_typer(db.app, name="db")
app.add_typer(demo.app, name="demo")
app.command("serve")(serve.serve)
app.command("worker")(worker.worker)
app.command("forward")(forward.forward)
app.command("verify")(verify.verify)
app.command("simulators")(simulators.simulators)
app.add_typer(keys.app, name="keys")
app.add_typer(accounts.app, name="accounts")
app.add_typer(users.app, name="users")
app.add_typer(client.app, name="client")
app.add_typer(audit.app, name="audit")

if __name__ == "__main__":
    app()
