"""Fixtures: the four simulators on free ports (real uvicorn, 127.0.0.1), seeded from hand-written files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from simulation.servers.runner import REGISTRY_KINDS, serve

#: 2024-03-01 00:00:00 UTC (08:00 Beijing), the first fix of the seeded track.
T0 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
PLATE = "皖A12345"
TRAILER = "皖A·6789挂"

OPERATOR_LICENCES = [
    {
        "permitNumber": "340104000001",
        "unifiedSocialCreditIdentifier": "91340100MA2N000011",
        "name": "合肥顺达物流有限公司",
        "validFrom": "20200101",
        "validTo": "20251231",
        "status": "valid",
    },
    {
        "permitNumber": "340104000002",
        "unifiedSocialCreditIdentifier": "91340100MA2N000022",
        "name": "芜湖远航运输有限公司",
        "validFrom": "20190301",
        "validTo": "20250228",
        "status": "revoked",
    },
    # The same operator as the first, an older licence already replaced: lookups by USCI return the newer one.
    {
        "permitNumber": "340104000000",
        "unifiedSocialCreditIdentifier": "91340100MA2N000011",
        "name": "合肥顺达物流有限公司",
        "validFrom": "20140101",
        "validTo": "20191231",
        "status": "valid",
    },
]
VEHICLE_CERTIFICATES = [
    {
        "roadTransportCertificateNumber": "340104123456",
        "vehicleNumber": PLATE,
        "vehiclePlateColorCode": "2",
        "validFrom": "20220615",
        "validTo": "20280614",
        "status": "valid",
    },
    {
        "roadTransportCertificateNumber": "340104654321",
        "vehicleNumber": TRAILER,
        "vehiclePlateColorCode": "2",
        "validFrom": "20210101",
        "validTo": "20270101",
        "status": "suspended",
    },
]
DRIVER_CERTIFICATES = [
    {
        "qualificationCertificate": "340104199001011234",
        "drivingLicense": "340104199001011234",
        "driverName": "张三",
        "validFrom": "20180510",
        "validTo": "20240509",
        "status": "valid",
    },
]
IN_NETWORK = [
    {"vehicleNumber": PLATE, "vehiclePlateColorCode": "2", "inNetwork": True, "since": "20230115"},
    {"vehicleNumber": "皖B67890", "vehiclePlateColorCode": "2", "inNetwork": False, "since": None},
]
TAX_INVOICES = [
    {
        "unifiedSocialCreditIdentifier": "91340100MA2N000011",
        "month": "202402",
        "invoiceCount": 12,
        "amount": "35200.500",
    },
    {
        "unifiedSocialCreditIdentifier": "91340100MA2N000011",
        "month": "202403",
        "invoiceCount": 3,
        "amount": "9000.000",
    },
    {
        "unifiedSocialCreditIdentifier": "91340100MA2N000011",
        "month": "202405",
        "invoiceCount": 1,
        "amount": "100.010",
    },
]
INSURANCE_POLICIES = [
    {
        "policyNumber": "PICC2023340100123",
        "insuranceCompanyCode": "PICC",
        "insured": "合肥顺达物流有限公司",
        "validFrom": "20230601",
        "validTo": "20240531",
    },
]


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _beidou_table() -> pa.Table:
    """Ten fixes of PLATE one minute apart from T0, plus two of 皖B67890 (rows deliberately not sorted)."""
    n = 10
    t_us = [int((T0 + dt.timedelta(minutes=i)).timestamp()) * 1_000_000 for i in range(n)]
    other = [int((T0 + dt.timedelta(minutes=m)).timestamp()) * 1_000_000 for m in (5, 1)]
    return pa.table(
        {
            "vehicle_number": pa.array(["皖B67890"] * 2 + [PLATE] * n, type=pa.string()),
            "plate_color": pa.array(["2"] * (n + 2), type=pa.string()),
            "t": pa.array(other + t_us, type=pa.timestamp("us", tz="UTC")),
            "lon": pa.array([118.0, 118.1] + [117.2 + 0.01 * i for i in range(n)], type=pa.float64()),
            "lat": pa.array([31.0, 31.1] + [31.8 + 0.001 * i for i in range(n)], type=pa.float64()),
            "speed_kmh": pa.array([0.0, 10.0] + [60.0 + i for i in range(n)], type=pa.float32()),
            "direction": pa.array([0.0, 90.0] + [45.0] * n, type=pa.float32()),
            "altitude": pa.array([20.0, None] + [30.0] * n, type=pa.float32()),
        }
    )


@pytest.fixture(scope="package")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generator-shaped output directory with the records above."""
    root = tmp_path_factory.mktemp("generated")
    (root / "registry").mkdir()
    for name, rows in [
        ("operator_licences", OPERATOR_LICENCES),
        ("vehicle_certificates", VEHICLE_CERTIFICATES),
        ("driver_certificates", DRIVER_CERTIFICATES),
        ("in_network", IN_NETWORK),
        ("tax_invoices", TAX_INVOICES),
        ("insurance_policies", INSURANCE_POLICIES),
    ]:
        _write_jsonl(root / "registry" / f"{name}.jsonl", rows)
    pq.write_table(_beidou_table(), root / "beidou.parquet")
    return root


@pytest.fixture(scope="package")
def sims(data_dir: Path):
    """All four simulators, each on its own free port; yields kind -> SimulatorHandle."""
    handles = {kind: serve(kind, data_dir, port=0) for kind in REGISTRY_KINDS}
    yield handles
    for h in handles.values():
        h.stop()


@pytest.fixture(scope="package")
def admin():
    """One plain HTTP client for admin calls (a fresh httpx client per call costs ~0.1 s of TLS setup)."""
    with httpx.Client(timeout=5.0) as c:
        yield c


@pytest.fixture(autouse=True)
def _reset_faults(request: pytest.FixtureRequest):
    """Switch every simulator back to "ok" after each test that used them."""
    if "sims" not in request.fixturenames:
        yield
        return
    sims, admin = request.getfixturevalue("sims"), request.getfixturevalue("admin")
    yield
    for h in sims.values():
        admin.post(h.url + "/admin/faults", json={"mode": "ok"}).raise_for_status()
