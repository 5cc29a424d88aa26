"""One runner for every fake outside system: all five up on free ports, the Ministry with its access."""

from __future__ import annotations

import httpx
import pytest

from etl.exchange import crypto
from simulation.servers.ministry import MinistryState
from simulation.servers.runner import KINDS, MinistryAccess, SimulatorStartError, serve, serve_all, start


def test_serve_all_starts_the_five_and_stops_them():
    private, _ = crypto.generate_keypair()
    handles = serve_all(None, ports=dict.fromkeys(KINDS, 0), ministry=MinistryAccess(private, {"p": "pw"}))
    try:
        assert sorted(handles) == sorted(["ministry", "yunzheng", "national", "tax", "insurance"])
        assert len({h.port for h in handles.values()}) == 5
        ministry = handles["ministry"]
        assert isinstance(ministry.state, MinistryState) and ministry.state.accounts == {"p": "pw"}
        with httpx.Client(timeout=5) as http:
            assert http.post(ministry.url + "/auth", json={"userName": "p", "passWord": "pw"}).json()["code"] == 1001
            for kind in ("yunzheng", "national", "tax", "insurance"):
                assert http.get(handles[kind].url + "/health").json()["status"] == "ok"
                assert handles[kind].state.fault.mode == "ok"
    finally:
        for h in handles.values():
            h.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(handles["ministry"].url + "/admin/received", timeout=2)


def test_a_taken_port_is_reported_for_any_app():
    with serve("tax", None, port=0) as tax, pytest.raises(SimulatorStartError, match="port in use"):
        start(tax.app, kind="again", port=tax.port)
