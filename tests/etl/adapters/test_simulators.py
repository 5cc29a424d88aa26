"""Starting and stopping simulators; settings from the environment."""

from __future__ import annotations

import httpx
import pytest

from core.config import Settings
from etl.adapters import InsuranceClient, NationalPlatformClient, TaxClient, YunzhengClient
from simulation.servers.runner import SimulatorStartError, create_app, serve, serve_all


def test_serve_all_starts_four_seeded_servers_and_stops_them(data_dir, admin):
    handles = serve_all(data_dir, ports={"yunzheng": 0, "national": 0, "tax": 0, "insurance": 0})
    try:
        assert sorted(handles) == ["insurance", "national", "tax", "yunzheng"]
        assert len({h.port for h in handles.values()}) == 4
        for h in handles.values():
            assert admin.get(h.url + "/health").json()["status"] == "ok"
        counts = admin.get(handles["yunzheng"].url + "/admin/records").json()
        assert counts == {"operator_licences": 3, "vehicle_certificates": 2, "driver_certificates": 1}
    finally:
        for h in handles.values():
            h.stop()
    with pytest.raises(httpx.ConnectError):
        admin.get(handles["tax"].url + "/health")


def test_without_data_dir_simulators_start_empty():
    with serve("national", None, port=0) as sim, NationalPlatformClient(sim.url, retries=0) as client:
        assert client.get_in_network("皖A12345", "2") is None


def test_taken_port_and_unknown_kind_are_refused(sims):
    with pytest.raises(SimulatorStartError):
        serve("tax", None, port=sims["tax"].port)
    with pytest.raises(ValueError, match="kind must be one of"):
        create_app("customs")
    with pytest.raises(ValueError, match="unknown kinds"):
        serve_all(None, ports={"customs": 0})
    with pytest.raises(ValueError, match="needs ministry=MinistryAccess"):
        serve_all(None, ports={"ministry": 0})


def test_clients_read_urls_from_environment(monkeypatch):
    monkeypatch.setenv("WLHY_YUNZHENG_URL", "http://10.0.0.5:9001/")
    monkeypatch.setenv("WLHY_ADAPTER_TIMEOUT_S", "1.5")
    settings = Settings()
    with YunzhengClient.from_settings(settings) as c:
        assert c.base_url == "http://10.0.0.5:9001" and c.timeout_s == 1.5
    with (
        NationalPlatformClient.from_settings(settings) as c,
        TaxClient.from_settings(settings) as t,
        InsuranceClient.from_settings(settings) as i,
    ):
        assert (c.base_url, t.base_url, i.base_url) == (
            "http://127.0.0.1:8102",
            "http://127.0.0.1:8103",
            "http://127.0.0.1:8104",
        )
