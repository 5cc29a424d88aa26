"""What the third-party systems answer, as Python records (snake_case) parsed from their camelCase wire JSON.

Every certificate-like record (licence, road-transport certificate, qualification certificate,
insurance policy) has ``number``, ``holder``, ``valid_from``, ``valid_to``, ``status`` and
``is_valid_on(day)``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from etl.adapters._time import parse_wire_date, to_date

__all__ = [
    "TRACK_COLUMNS",
    "BeidouTrack",
    "Certificate",
    "DriverCertificate",
    "InNetworkStatus",
    "InsurancePolicy",
    "MonthlyInvoiceTotal",
    "OperatorLicence",
    "VehicleCertificate",
]

#: Columns of ``BeidouTrack.to_frame()`` (the names of ``beidou.parquet``).
TRACK_COLUMNS = ("t", "lon", "lat", "speed_kmh", "direction", "altitude")


@dataclass(frozen=True, kw_only=True)
class Certificate:
    """A document with a holder, a validity period and a registry status.

    ``valid_from`` / ``valid_to`` are inclusive calendar days; ``None`` means open-ended (长期).
    ``status`` is ``"valid"``, ``"revoked"`` or ``"suspended"`` as the registry says.
    """

    number: str
    holder: str
    valid_from: dt.date | None
    valid_to: dt.date | None
    status: str = "valid"

    def is_valid_on(self, day: dt.date | dt.datetime | str) -> bool:
        """True if the registry status is ``"valid"`` and `day` lies in [valid_from, valid_to] (inclusive).

        Parameters
        ----------
        day : date, datetime or str
            A datetime counts by its Beijing (UTC+8) calendar day; a naive one is Beijing time.
            Strings are ``YYYYMMDD`` or ``YYYYMMDDhhmmss``.
        """
        d = to_date(day)
        if self.status != "valid":
            return False
        if self.valid_from is not None and d < self.valid_from:
            return False
        if self.valid_to is not None and d > self.valid_to:
            return False
        return True


@dataclass(frozen=True, kw_only=True)
class OperatorLicence(Certificate):
    """道路运输经营许可证: ``number`` is the permitNumber, ``holder`` the operator's name."""

    usci: str

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> OperatorLicence:
        return cls(
            number=d["permitNumber"],
            holder=d["name"],
            usci=d["unifiedSocialCreditIdentifier"],
            valid_from=parse_wire_date(d.get("validFrom")),
            valid_to=parse_wire_date(d.get("validTo")),
            status=d["status"],
        )


@dataclass(frozen=True, kw_only=True)
class VehicleCertificate(Certificate):
    """道路运输证: ``number`` is the roadTransportCertificateNumber, ``holder`` the plate number."""

    vehicle_number: str
    plate_color: str

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> VehicleCertificate:
        return cls(
            number=d["roadTransportCertificateNumber"],
            holder=d["vehicleNumber"],
            vehicle_number=d["vehicleNumber"],
            plate_color=str(d["vehiclePlateColorCode"]),
            valid_from=parse_wire_date(d.get("validFrom")),
            valid_to=parse_wire_date(d.get("validTo")),
            status=d["status"],
        )


@dataclass(frozen=True, kw_only=True)
class DriverCertificate(Certificate):
    """从业资格证: ``number`` is the qualificationCertificate, ``holder`` the driver's name.

    ``id_number`` is the drivingLicense (a Chinese driving licence number is the holder's ID number).
    """

    id_number: str

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> DriverCertificate:
        return cls(
            number=d["qualificationCertificate"],
            holder=d["driverName"],
            id_number=d["drivingLicense"],
            valid_from=parse_wire_date(d.get("validFrom")),
            valid_to=parse_wire_date(d.get("validTo")),
            status=d["status"],
        )


@dataclass(frozen=True, kw_only=True)
class InsurancePolicy(Certificate):
    """An insurance policy: ``number`` is the policyNumber, ``holder`` the insured party."""

    company_code: str

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> InsurancePolicy:
        # The insurers' interface has no status field; a policy they return is in force between its dates.
        return cls(
            number=d["policyNumber"],
            holder=d["insured"],
            company_code=d["insuranceCompanyCode"],
            valid_from=parse_wire_date(d.get("validFrom")),
            valid_to=parse_wire_date(d.get("validTo")),
            status=d.get("status") or "valid",
        )


@dataclass(frozen=True, kw_only=True)
class InNetworkStatus:
    """Whether a vehicle is registered on the national freight-vehicle platform (入网), and since when."""

    vehicle_number: str
    plate_color: str
    in_network: bool
    since: dt.date | None

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> InNetworkStatus:
        return cls(
            vehicle_number=d["vehicleNumber"],
            plate_color=str(d["vehiclePlateColorCode"]),
            in_network=bool(d["inNetwork"]),
            since=parse_wire_date(d.get("since")),
        )


@dataclass(frozen=True, kw_only=True)
class MonthlyInvoiceTotal:
    """An operator's invoices issued in one month, as the tax system reports them."""

    usci: str
    month: str
    invoice_count: int
    amount_yuan: Decimal

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> MonthlyInvoiceTotal:
        # str() first: a float amount would otherwise carry its binary rounding into the Decimal.
        return cls(
            usci=d["unifiedSocialCreditIdentifier"],
            month=str(d["month"]),
            invoice_count=int(d["invoiceCount"]),
            amount_yuan=Decimal(str(d["amount"])),
        )


@dataclass(frozen=True, kw_only=True, eq=False)
class BeidouTrack:
    """One vehicle's BeiDou fixes (WGS-84) in a window, column-wise, sorted by time.

    ``t_ms`` is epoch milliseconds (int64); the other columns are float64 arrays of the same length.
    """

    vehicle_number: str
    plate_color: str
    t_ms: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    speed_kmh: np.ndarray
    direction: np.ndarray
    altitude: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return int(self.t_ms.size)

    @property
    def times(self) -> pd.DatetimeIndex:
        """Fix times as a UTC ``DatetimeIndex`` in microseconds (the unit of ``beidou.parquet``)."""
        return pd.to_datetime(self.t_ms, unit="ms", utc=True).as_unit("us")

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> BeidouTrack:
        t_ms = np.asarray(d["t"], dtype=np.int64)
        cols = {k: np.asarray(d[k], dtype=np.float64) for k in ("lon", "lat", "speedKmh", "direction")}
        altitude = (
            np.asarray(d["altitude"], dtype=np.float64)
            if d.get("altitude") is not None
            else np.full(t_ms.size, np.nan)
        )
        if any(c.shape != t_ms.shape for c in (*cols.values(), altitude)):
            raise ValueError("track columns have different lengths")
        return cls(
            vehicle_number=d["vehicleNumber"],
            plate_color=str(d["vehiclePlateColorCode"]),
            t_ms=t_ms,
            lon=cols["lon"],
            lat=cols["lat"],
            speed_kmh=cols["speedKmh"],
            direction=cols["direction"],
            altitude=altitude,
        )

    def to_frame(self) -> pd.DataFrame:
        """The fixes as a DataFrame with columns ``TRACK_COLUMNS`` (``t`` is datetime64[us, UTC])."""
        return pd.DataFrame(
            {
                "t": self.times,
                "lon": self.lon,
                "lat": self.lat,
                "speed_kmh": self.speed_kmh,
                "direction": self.direction,
                "altitude": self.altitude,
            }
        )
