"""Errors and logs of the adapters never carry an ID number in clear (spec: personal data never logged)."""

from __future__ import annotations

import logging

import httpx
import pytest

from etl.adapters import YunzhengClient
from etl.adapters.errors import AdapterUnavailableError
from simulation.servers.runner import serve

ID_NUMBER = "34010419900307001X"


def test_unavailable_registry_error_masks_the_id_number(caplog):
    with serve("yunzheng", None, port=0) as sim:
        httpx.post(f"{sim.url}/admin/faults", json={"mode": "down"})
        client = YunzhengClient(sim.url, timeout_s=2, retries=1, backoff_s=0.01)
        with caplog.at_level(logging.WARNING), pytest.raises(AdapterUnavailableError) as err:
            # qualification certificates are often the holder's ID number, and this one goes in the URL path
            client.get_driver_certificate(ID_NUMBER)
    assert ID_NUMBER not in str(err.value) and "3401**********001X" in str(err.value)
    assert ID_NUMBER not in caplog.text and caplog.text  # the retry was logged, masked


def test_malformed_answer_error_names_the_field_not_the_values():
    from etl.adapters import DriverCertificate
    from etl.adapters.errors import AdapterResponseError

    client = YunzhengClient("http://127.0.0.1:9")
    body = {"qualificationCertificate": ID_NUMBER, "drivingLicense": ID_NUMBER, "driverName": "张三",
            "validFrom": "20200101", "validTo": None, "status": "expired"}
    with pytest.raises(AdapterResponseError) as err:
        client._parse(DriverCertificate.from_wire, body)
    client.close()
    assert "status" in str(err.value)
    assert ID_NUMBER not in str(err.value) and "张三" not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__  # nor in a chained traceback
