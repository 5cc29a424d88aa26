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

from simulation.servers.base import Table, WireDate, WireModel, add_admin_records, new_app, read_jsonl

__all__ = ["KINDS", "create_app"]

KINDS = ("insurance_policies",)


class _Policy(WireModel):
    policyNumber: str
    insuranceCompanyCode: str
    insured: str
    validFrom: WireDate | None = None
    validTo: WireDate | None = None


def create_app(data_dir: Path | None = None) -> FastAPI:
    """Build the insurance simulator, seeded from ``data_dir/registry/insurance_policies.jsonl``."""
    policies = Table(_Policy, key=lambda r: r["policyNumber"])
    if data_dir is not None:
        policies.add(read_jsonl(Path(data_dir) / "registry" / "insurance_policies.jsonl"))

    app = new_app("insurance simulator", "Insurance policies by number (information sharing).")
    app.state.tables = {"insurance_policies": policies}
    add_admin_records(app, app.state.tables)

    @app.get("/insurance/v1/policies/{policyNumber}")
    async def policy(policyNumber: str) -> dict:
        return policies.get_or_raise(policyNumber, "insurance policy")

    return app
