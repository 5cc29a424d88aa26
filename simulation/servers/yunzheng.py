"""Simulator of the provincial road-transport registry (运政), seeded from the generator's ``registry/``.

Endpoints (JSON, camelCase wire keys; dates ``YYYYMMDD``; status ``valid|revoked|suspended``)::

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
from typing import Literal

from fastapi import FastAPI

from simulation.servers.base import (
    PlateColor,
    Table,
    WireDate,
    WireModel,
    add_admin_records,
    new_app,
    not_found,
    read_jsonl,
)

__all__ = ["KINDS", "create_app"]

#: Record kinds this simulator holds (= seed file stems under ``registry/``).
KINDS = ("operator_licences", "vehicle_certificates", "driver_certificates")

_Status = Literal["valid", "revoked", "suspended"]


class _OperatorLicence(WireModel):
    permitNumber: str
    unifiedSocialCreditIdentifier: str
    name: str
    validFrom: WireDate | None = None
    validTo: WireDate | None = None
    status: _Status


class _VehicleCertificate(WireModel):
    roadTransportCertificateNumber: str
    vehicleNumber: str
    vehiclePlateColorCode: PlateColor
    validFrom: WireDate | None = None
    validTo: WireDate | None = None
    status: _Status


class _DriverCertificate(WireModel):
    qualificationCertificate: str
    drivingLicense: str
    driverName: str
    validFrom: WireDate | None = None
    validTo: WireDate | None = None
    status: _Status


def create_app(data_dir: Path | None = None) -> FastAPI:
    """Build the 运政 simulator, seeded from ``data_dir/registry/*.jsonl`` (empty when `data_dir` is None)."""
    tables = {
        "operator_licences": Table(
            _OperatorLicence,
            key=lambda r: r["permitNumber"],
            indexes={"usci": lambda r: r["unifiedSocialCreditIdentifier"]},
        ),
        "vehicle_certificates": Table(
            _VehicleCertificate,
            key=lambda r: r["roadTransportCertificateNumber"],
            indexes={"plate": lambda r: (r["vehicleNumber"], r["vehiclePlateColorCode"])},
        ),
        "driver_certificates": Table(
            _DriverCertificate,
            key=lambda r: r["qualificationCertificate"],
            indexes={"id": lambda r: r["drivingLicense"]},
        ),
    }
    if data_dir is not None:
        for kind, table in tables.items():
            table.add(read_jsonl(Path(data_dir) / "registry" / f"{kind}.jsonl"))

    app = new_app("运政 registry simulator", "Provincial road-transport registry: licences and certificates.")
    app.state.tables = tables
    add_admin_records(app, tables)
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
