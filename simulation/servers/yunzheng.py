"""Simulator of the provincial road-transport registry (运政), seeded from the generator's ``registry/``.

Endpoints (JSON; records as ``etl.adapters.records`` shapes them: camelCase wire keys, dates ``YYYYMMDD``,
status ``valid|revoked|suspended``)::

    GET  /yunzheng/v1/operator-licences/{permitNumber}
    GET  /yunzheng/v1/operator-licences?unifiedSocialCreditIdentifier=
         -> {"permitNumber", "unifiedSocialCreditIdentifier", "name", "validFrom", "validTo", "status"}
    GET  /yunzheng/v1/vehicle-certificates/{roadTransportCertificateNumber}
    GET  /yunzheng/v1/vehicle-certificates?vehicleNumber=&plateColor=
         -> {"roadTransportCertificateNumber", "vehicleNumber", "vehiclePlateColorCode",
             "validFrom", "validTo", "status"}
    GET  /yunzheng/v1/driver-certificates/{qualificationCertificate}
    GET  /yunzheng/v1/driver-certificates?drivingLicense=
         -> {"qualificationCertificate", "drivingLicense", "driverName", "validFrom", "validTo", "status"}
    POST /admin/records/{kind}     body: JSON list; kind: operator_licences | vehicle_certificates |
                                   driver_certificates
    POST /admin/faults             {"mode": "ok"|"down"|"slow"|"error", "delay_s": 0, "status": null}
    GET  /health

Unknown records answer 404 ``{"code": "NOT_FOUND", "message": ...}``. The query forms answer the holder's
current document: the one with the latest validTo (open-ended counts as latest) when there are several.
Seed files: ``registry/operator_licences.jsonl``, ``registry/vehicle_certificates.jsonl``,
``registry/driver_certificates.jsonl`` under `data_dir` (missing files mean empty tables).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from etl.adapters.records import DriverCertificateWire, OperatorLicenceWire, VehicleCertificateWire
from simulation.servers.base import Table, not_found, registry_app

__all__ = ["KINDS", "create_app"]

#: Record kinds this simulator holds (= seed file stems under ``registry/``).
KINDS = ("operator_licences", "vehicle_certificates", "driver_certificates")


def create_app(data_dir: Path | None = None) -> FastAPI:
    """Build the 运政 simulator, seeded from ``data_dir/registry/*.jsonl`` (empty when `data_dir` is None)."""
    tables = {
        "operator_licences": Table(
            OperatorLicenceWire,
            key=lambda r: r["permitNumber"],
            indexes={"usci": lambda r: r["unifiedSocialCreditIdentifier"]},
        ),
        "vehicle_certificates": Table(
            VehicleCertificateWire,
            key=lambda r: r["roadTransportCertificateNumber"],
            indexes={"plate": lambda r: (r["vehicleNumber"], r["vehiclePlateColorCode"])},
        ),
        "driver_certificates": Table(
            DriverCertificateWire,
            key=lambda r: r["qualificationCertificate"],
            indexes={"id": lambda r: r["drivingLicense"]},
        ),
    }
    app = registry_app(
        "运政 registry simulator",
        "Provincial road-transport registry: licences and certificates.",
        tables,
        data_dir,
    )
    ops, vehs, drvs = (
        tables["operator_licences"],
        tables["vehicle_certificates"],
        tables["driver_certificates"],
    )

    @app.get("/yunzheng/v1/operator-licences/{permitNumber}")
    async def operator_licence(permitNumber: str) -> dict:
        return ops.get_or_raise(permitNumber, "operator licence")

    @app.get("/yunzheng/v1/operator-licences")
    async def operator_licence_by_usci(unifiedSocialCreditIdentifier: str) -> dict:
        return _current(
            ops.find("usci", unifiedSocialCreditIdentifier),
            "operator licence for USCI",
            unifiedSocialCreditIdentifier,
        )

    @app.get("/yunzheng/v1/vehicle-certificates/{number}")
    async def vehicle_certificate(number: str) -> dict:
        return vehs.get_or_raise(number, "vehicle road-transport certificate")

    @app.get("/yunzheng/v1/vehicle-certificates")
    async def vehicle_certificate_by_plate(vehicleNumber: str, plateColor: str) -> dict:
        return _current(
            vehs.find("plate", (vehicleNumber, plateColor)),
            "vehicle road-transport certificate for",
            f"{vehicleNumber}/{plateColor}",
        )

    @app.get("/yunzheng/v1/driver-certificates/{number}")
    async def driver_certificate(number: str) -> dict:
        return drvs.get_or_raise(number, "driver qualification certificate")

    @app.get("/yunzheng/v1/driver-certificates")
    async def driver_certificate_by_id(drivingLicense: str) -> dict:
        return _current(
            drvs.find("id", drivingLicense), "driver qualification certificate for", drivingLicense
        )

    return app


def _current(rows: list[dict], what: str, key: str) -> dict:
    """The document with the latest validTo (open-ended first), or a NOT_FOUND answer."""
    if not rows:
        raise not_found(what, key)
    return max(rows, key=lambda r: (r.get("validTo") or "99999999", r.get("validFrom") or ""))
