"""Clients facing a simulator that is down, failing or slow: retries, a specific error, recovery."""

from __future__ import annotations

import socket
import time

import pytest

from etl.adapters import (
    AdapterRequestError,
    AdapterTimeoutError,
    AdapterUnavailableError,
    InsuranceClient,
    YunzhengClient,
)

PERMIT = "340104000001"


@pytest.fixture
def fault(admin):
    """``fault(sim, mode=..., ...)`` switches a simulator's fault mode."""

    def _set(sim, **body) -> None:
        admin.post(sim.url + "/admin/faults", json=body).raise_for_status()

    return _set


@pytest.fixture
def requests_seen(admin):
    """``requests_seen(sim)``: business requests the simulator has received so far."""
    return lambda sim: admin.get(sim.url + "/health").json()["requests"]


def test_down_raises_unavailable_after_all_retries(sims, fault, requests_seen):
    sim = sims["yunzheng"]
    fault(sim, mode="down")
    before = requests_seen(sim)
    with YunzhengClient(sim.url, timeout_s=2.0, retries=2, backoff_s=0.01) as client:
        with pytest.raises(AdapterUnavailableError) as info:
            client.get_operator_licence(PERMIT)
    assert info.value.status == 503 and not isinstance(info.value, AdapterTimeoutError)
    assert requests_seen(sim) - before == 3  # first try + 2 retries

    fault(sim, mode="ok")
    with YunzhengClient(sim.url, timeout_s=2.0, retries=0) as client:
        assert client.get_operator_licence(PERMIT).number == PERMIT


def test_error_mode_answers_the_chosen_5xx(sims, fault):
    sim = sims["insurance"]
    fault(sim, mode="error", status=502)
    with InsuranceClient(sim.url, timeout_s=2.0, retries=1, backoff_s=0.01) as client:
        with pytest.raises(AdapterUnavailableError) as info:
            client.get_policy("PICC2023340100123")
    assert info.value.status == 502 and info.value.system == "insurance"


def test_slow_beyond_timeout_raises_timeout_then_recovers(sims, fault):
    sim = sims["yunzheng"]
    fault(sim, mode="slow", delay_s=1.0)
    with YunzhengClient(sim.url, timeout_s=0.2, retries=1, backoff_s=0.01) as client:
        t = time.monotonic()
        with pytest.raises(AdapterTimeoutError):
            client.get_operator_licence(PERMIT)
        assert time.monotonic() - t < 1.0  # gave up on its own timeout, did not wait for the answer
        fault(sim, mode="ok")
        assert client.get_operator_licence(PERMIT).number == PERMIT


def test_slow_within_timeout_still_answers(sims, fault):
    sim = sims["yunzheng"]
    fault(sim, mode="slow", delay_s=0.1)
    with YunzhengClient(sim.url, timeout_s=2.0, retries=0) as client:
        assert client.get_operator_licence(PERMIT).number == PERMIT


def test_nothing_listening_is_unavailable_not_timeout():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with YunzhengClient(f"http://127.0.0.1:{port}", timeout_s=1.0, retries=1, backoff_s=0.01) as client:
        with pytest.raises(AdapterUnavailableError) as info:
            client.get_operator_licence(PERMIT)
    assert not isinstance(info.value, AdapterTimeoutError) and info.value.status is None


def test_wrong_base_url_is_an_error_not_a_missing_record(sims):
    # The insurance simulator has no /yunzheng/ routes: its 404 lacks the NOT_FOUND code.
    with YunzhengClient(sims["insurance"].url, timeout_s=2.0, retries=0) as client:
        with pytest.raises(AdapterRequestError) as info:
            client.get_operator_licence(PERMIT)
    assert info.value.status == 404
