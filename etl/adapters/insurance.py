"""Client of the insurers' information-sharing interface: policy lookup by policy number.

Paths are documented in ``simulation.servers.insurance``.
"""

from __future__ import annotations

from etl.adapters._http import BaseClient, path
from etl.adapters.records import InsurancePolicy

__all__ = ["InsuranceClient"]


class InsuranceClient(BaseClient):
    """Look up cargo/liability insurance policies (see ``BaseClient`` for the call policy)."""

    system = "insurance"

    def get_policy(self, policy_number: str) -> InsurancePolicy | None:
        """The policy with this number, or ``None`` when no insurer knows it."""
        return self._get_record(InsurancePolicy.from_wire, path("insurance", "v1", "policies", policy_number))
