"""Simulator of the insurers' information-sharing interface: policy lookup by policy number.

Endpoints (JSON, camelCase wire keys; dates ``YYYYMMDD``)::

    GET  /insurance/v1/policies/{policyNumber}
         -> {"policyNumber", "insuranceCompanyCode", "insured", "validFrom", "validTo"}
         404 {"code": "NOT_FOUND"} when no insurer knows the number
    POST /admin/records[/insurance_policies]   body: JSON list (upsert by policyNumber)
    POST /admin/faults, GET /health

Seed file: ``registry/insurance_policies.jsonl`` under `data_dir`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from etl.adapters.records import InsurancePolicyWire
from simulation.servers.base import Table, registry_app

__all__ = ["KINDS", "create_app"]

KINDS = ("insurance_policies",)


def create_app(data_dir: Path | None = None) -> FastAPI:
    """Build the insurance simulator, seeded from ``data_dir/registry/insurance_policies.jsonl``."""
    policies = Table(InsurancePolicyWire, key=lambda r: r["policyNumber"])
    app = registry_app(
        "insurance simulator",
        "Insurance policies by number (information sharing).",
        {"insurance_policies": policies},
        data_dir,
    )

    @app.get("/insurance/v1/policies/{policyNumber}")
    async def policy(policyNumber: str) -> dict:
        return policies.get_or_raise(policyNumber, "insurance policy")

    return app
