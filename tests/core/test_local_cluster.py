"""The back-fills' LocalCluster: worker processes that do not profile themselves (CPU taken from the tasks)."""

from __future__ import annotations

import dask
from dask.distributed import Client

from core.local_cluster import QUIET_DIAGNOSTICS, local_cluster


def _settings() -> dict:
    return {k: dask.config.get(k) for k in QUIET_DIAGNOSTICS}


def test_worker_processes_run_with_the_quiet_diagnostics_and_this_process_keeps_its_own():
    before = _settings()
    with local_cluster(1) as cluster, Client(cluster) as client:
        (seen,) = client.run(_settings).values()
        assert seen == QUIET_DIAGNOSTICS
        assert len(cluster.workers) == 1 and cluster.processes
    assert _settings() == before
    assert before["distributed.worker.profile.enabled"] is True  # the default the workers would otherwise get
