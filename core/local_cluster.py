"""The Dask ``LocalCluster`` the back-fills run on (``wlhy verify``, ``wlhy rules sweep``): one owner of its settings.

Workers are single-threaded processes (the work is CPU-bound Python). Dask's diagnostics are turned down for them:
its statistical profiler samples every worker's stack every 10 ms, its event-loop tick runs every 20 ms and its
system monitor every 0.5 s, which cost an idle 2-worker cluster ~0.13 core-seconds per second (~0.03 without) on
this 2-core machine — CPU taken from the tasks on a machine this small. Nobody watches a dashboard here.
"""

from __future__ import annotations

from typing import Any

__all__ = ["QUIET_DIAGNOSTICS", "local_cluster"]

#: dask.config settings for a cluster nobody profiles (the nannies hand them to the worker processes).
QUIET_DIAGNOSTICS: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.system-monitor.gil.enabled": False,
}


def local_cluster(n_workers: int | None = None, *, processes: bool = True):
    """A ``LocalCluster`` of ``n_workers`` (default: one per core) single-threaded workers, no dashboard, quiet
    diagnostics (:data:`QUIET_DIAGNOSTICS`). Close it when done (``cluster.close()`` or ``with``)."""
    import dask
    from dask.distributed import LocalCluster

    with dask.config.set(QUIET_DIAGNOSTICS):
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=processes, dashboard_address=None)
