"""/openapi.json documents one error shape (ErrorBody, ``{"detail": …}``) on every /api/v1 route, and the B1–B3
and audit routes carry Chinese + English descriptions and a 200 example."""

from __future__ import annotations

import re

import pytest

DOCUMENTED = [("/api/v1/operators", "get"), ("/api/v1/operators/{operator_id}", "get"),
              ("/api/v1/vehicles", "get"), ("/api/v1/vehicles/{vehicle_id}", "get"),
              ("/api/v1/drivers", "get"), ("/api/v1/drivers/{driver_id}", "get"),
              ("/api/v1/waybills", "get"), ("/api/v1/waybills/{waybill_id}", "get"),
              ("/api/v1/fund-flows", "get"), ("/api/v1/fund-flows/{fund_flow_id}", "get"),
              ("/api/v1/anomalies", "get"), ("/api/v1/anomalies/summary", "get"),
              ("/api/v1/anomalies/{anomaly_id}", "get"), ("/api/v1/audit", "get"), ("/api/v1/audit/verify", "get")]
ERRORS = ("403", "404", "409", "422", "429", "503")
_HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def spec(live_url):
    import httpx

    r = httpx.get(f"{live_url}/openapi.json", timeout=30)
    assert r.status_code == 200
    return r.json()


def test_one_error_shape_everywhere(spec):
    body = spec["components"]["schemas"]["ErrorBody"]
    assert body["required"] == ["detail"] and "detail" in body["properties"]
    for path, ops in spec["paths"].items():
        if not path.startswith("/api/v1"):
            continue
        for method, op in ops.items():
            for code in ERRORS:
                resp = op["responses"].get(code)
                assert resp is not None, (path, method, code)
                media = resp["content"]["application/json"]
                assert media["schema"]["$ref"].endswith("/ErrorBody"), (path, code)
                assert "detail" in media["example"], (path, code)


@pytest.mark.parametrize(("path", "method"), DOCUMENTED)
def test_routes_have_bilingual_descriptions_and_examples(spec, path, method):
    op = spec["paths"][path][method]
    text = op.get("description", "")
    assert _HAN.search(text) and re.search(r"[A-Za-z]{4,} [a-z]+ [a-z]+", text), (path, text[:80])
    ok = op["responses"]["200"]["content"]["application/json"]
    assert ok.get("example"), path


def test_list_examples_show_the_page_shape_and_the_downloads(spec):
    for path in ("/api/v1/vehicles", "/api/v1/drivers", "/api/v1/waybills", "/api/v1/anomalies", "/api/v1/audit"):
        content = spec["paths"][path]["get"]["responses"]["200"]["content"]
        assert set(content["application/json"]["example"]) == {"total", "limit", "offset", "items"}, path
        assert content["text/csv"]["example"].startswith("\ufeff"), path
    for path in ("/api/v1/waybills", "/api/v1/anomalies"):
        content = spec["paths"][path]["get"]["responses"]["200"]["content"]
        assert "application/geo+json" in content and "application/vnd.apache.parquet" in content
        fmt = next(p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == "format")
        assert {"geojson", "geoparquet"} <= set(fmt["schema"]["enum"])
    masked = spec["paths"]["/api/v1/drivers"]["get"]["responses"]["200"]["content"]["application/json"]["example"]
    assert "*" in masked["items"][0]["drivingLicense"]  # the example itself shows masking
