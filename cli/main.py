"""``wlhy``: the one command line of the system; each command group lives in its own module."""

from __future__ import annotations

import typer

from cli import (
    accounts,
    alarms,
    audit,
    client,
    db,
    demo,
    forward,
    keys,
    rules,
    serve,
    simulators,
    stats,
    users,
    verify,
    worker,
)

app = typer.Typer(help="省级网络货运信息监测系统 · provincial network-freight monitoring system", no_args_is_help=True)


@app.callback()
def _private_files() -> None:
    """Everything a command creates is private (0600 files, 0700 directories): var/, demo files, logs, keys."""
    import os

    from core import keyfiles
    from core.config import get_settings

    os.umask(keyfiles.PRIVATE_UMASK)
    var = get_settings().var_dir
    keyfiles.restrict_tree(var, skip=("pg",))  # files left readable by earlier runs
    if var.is_dir() and var.stat().st_uid == os.geteuid():
        os.chmod(var, 0o711 if os.geteuid() == 0 else 0o700)  # as root the cluster's server user passes through


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
app.add_typer(rules.app, name="rules")
app.add_typer(stats.app, name="stats")
app.add_typer(alarms.app, name="alarms")

if __name__ == "__main__":
    app()
