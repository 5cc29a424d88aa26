"""Client of the provincial road-transport registry (运政): licences, vehicle and driver certificates.

Paths are documented in ``simulation.servers.yunzheng``. Every lookup returns a record or ``None`` when the
registry has no such document; an unreachable registry raises ``AdapterUnavailableError``.
"""

from __future__ import annotations

from etl.adapters._http import BaseClient, path
from etl.adapters.records import DriverCertificate, OperatorLicence, VehicleCertificate

__all__ = ["YunzhengClient"]

_PREFIX = ("yunzheng", "v1")


class YunzhengClient(BaseClient):
    """Look up licences and certificates in the 运政 registry (see ``BaseClient`` for the call policy)."""

    system = "yunzheng"

    def get_operator_licence(self, permit_number: str) -> OperatorLicence | None:
        """The road-transport operating licence (经营许可证) with this permitNumber, or ``None``."""
        return self._get_record(OperatorLicence.from_wire, path(*_PREFIX, "operator-licences", permit_number))

    def get_operator_licence_by_usci(self, usci: str) -> OperatorLicence | None:
        """The operator's current licence (latest validTo) by unified social credit code, or ``None``."""
        return self._get_record(
            OperatorLicence.from_wire,
            path(*_PREFIX, "operator-licences"),
            {"unifiedSocialCreditIdentifier": usci},
        )

    def get_vehicle_certificate(self, certificate_number: str) -> VehicleCertificate | None:
        """The vehicle road-transport certificate (道路运输证) with this number, or ``None``."""
        return self._get_record(
            VehicleCertificate.from_wire, path(*_PREFIX, "vehicle-certificates", certificate_number)
        )

    def get_vehicle_certificate_by_plate(
        self, vehicle_number: str, plate_color: str
    ) -> VehicleCertificate | None:
        """The vehicle's current certificate (latest validTo) by plate number and colour code, or ``None``."""
        return self._get_record(
            VehicleCertificate.from_wire,
            path(*_PREFIX, "vehicle-certificates"),
            {"vehicleNumber": vehicle_number, "plateColor": str(plate_color)},
        )

    def get_driver_certificate(self, certificate_number: str) -> DriverCertificate | None:
        """The driver qualification certificate (从业资格证) with this number, or ``None``."""
        return self._get_record(
            DriverCertificate.from_wire, path(*_PREFIX, "driver-certificates", certificate_number)
        )

    def get_driver_certificate_by_id(self, id_number: str) -> DriverCertificate | None:
        """The driver's current certificate (latest validTo) by ID / driving-licence number, or ``None``."""
        return self._get_record(
            DriverCertificate.from_wire, path(*_PREFIX, "driver-certificates"), {"drivingLicense": id_number}
        )
