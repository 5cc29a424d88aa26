"""What the third-party systems send: each record's wire shape, and the Python record parsed from it.

A *wire shape* (``…Wire``, pydantic) is the one definition of a record as it travels: camelCase field names as
the systems spell them, their types, dates ``YYYYMMDD`` parsed to ``datetime.date`` (``None`` or ``""`` is
open-ended, 长期) and written back as ``YYYYMMDD``. The clients validate every answer with it, the simulators
validate what they load and answer with it, the generator writes its registry files through it
(``WireRecord.dump_many``). Unknown fields are kept (and echoed by the simulators).

A *record* (frozen dataclass, snake_case) is what the clients return. Every certificate-like record (licence,
road-transport certificate, qualification certificate, insurance policy) has ``number``, ``holder``,
``valid_from``, ``valid_to``, ``status`` and ``is_valid_on(day)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    TypeAdapter,
    field_serializer,
    model_validator,
)

from etl.adapters._time import parse_wire_date, to_date, wire_date

__all__ = [
    "MONTH_PATTERN",
    "TRACK_COLUMNS",
    "TRACK_PARQUET_COLUMNS",
    "BeidouTrack",
    "BeidouTrackWire",
    "Certificate",
    "DriverCertificate",
    "DriverCertificateWire",
    "InNetworkStatus",
    "InNetworkStatusWire",
    "InsurancePolicy",
    "InsurancePolicyWire",
    "MonthlyInvoiceTotal",
    "MonthlyInvoiceTotalWire",
    "OperatorLicence",
    "OperatorLicenceWire",
    "PlateColor",
    "RegistryStatus",
    "VehicleCertificate",
    "VehicleCertificateWire",
    "WireDate",
    "WireRecord",
]

#: Columns of ``BeidouTrack.to_frame()`` (the names of ``beidou.parquet``).
TRACK_COLUMNS = ("t", "lon", "lat", "speed_kmh", "direction", "altitude")
#: Columns of ``beidou.parquet``: the vehicle, then ``TRACK_COLUMNS`` (``t`` is timestamp[us, UTC]).
TRACK_PARQUET_COLUMNS = ("vehicle_number", "plate_color", *TRACK_COLUMNS)
#: ``YYYYMM`` as the tax system writes a month.
MONTH_PATTERN = r"^\d{4}(0[1-9]|1[0-2])$"


# ---- wire types ------------------------------------------------------------------------------------------


def _wire_date_in(value: Any) -> dt.date | None:
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    if not isinstance(value, str):
        raise ValueError(f"wire date must be YYYYMMDD, got {value!r}")  # noqa: TRY004 (pydantic reports ValueError)
    return parse_wire_date(value)


#: A validity date: ``YYYYMMDD`` on the wire (``None`` or ``""`` = open-ended), a ``date`` in Python.
WireDate = Annotated[dt.date | None, BeforeValidator(_wire_date_in), PlainSerializer(wire_date)]
#: JT/T 697.7 plate colour code; files sometimes hold it as a number.
PlateColor = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]
#: What a registry says of a document.
RegistryStatus = Literal["valid", "revoked", "suspended"]
_Month = Annotated[str, StringConstraints(pattern=MONTH_PATTERN)]


class WireRecord(BaseModel):
    """A wire record: camelCase fields as the systems spell them; unknown fields are kept."""

    model_config = ConfigDict(extra="allow")

    @classmethod
    def dump_many(cls, records: Iterable[Any]) -> list[dict[str, Any]]:
        """Validate `records` (dicts or instances) and return their JSON form. Raises ``ValidationError``."""
        return [r.model_dump(mode="json") for r in _list_adapter(cls).validate_python(list(records))]


@cache
def _list_adapter(shape: type[WireRecord]) -> TypeAdapter:
    return TypeAdapter(list[shape])


# ---- wire shapes (field order = key order on the wire) ---------------------------------------------------


class OperatorLicenceWire(WireRecord):
    """运政: an operator's road-transport operating licence."""

    permitNumber: str
    unifiedSocialCreditIdentifier: str
    name: str
    validFrom: WireDate = None
    validTo: WireDate = None
    status: RegistryStatus


class VehicleCertificateWire(WireRecord):
    """运政: a vehicle's road-transport certificate."""

    roadTransportCertificateNumber: str
    vehicleNumber: str
    vehiclePlateColorCode: PlateColor
    validFrom: WireDate = None
    validTo: WireDate = None
    status: RegistryStatus


class DriverCertificateWire(WireRecord):
    """运政: a driver's qualification certificate (``drivingLicense`` is the ID / licence number)."""

    qualificationCertificate: str
    drivingLicense: str
    driverName: str
    validFrom: WireDate = None
    validTo: WireDate = None
    status: RegistryStatus


class InsurancePolicyWire(WireRecord):
    """Insurers: a policy (the interface has no status field)."""

    policyNumber: str
    insuranceCompanyCode: str
    insured: str
    validFrom: WireDate = None
    validTo: WireDate = None


class InNetworkStatusWire(WireRecord):
    """National platform: whether a vehicle is registered (入网), and since when."""

    vehicleNumber: str
    vehiclePlateColorCode: PlateColor
    inNetwork: bool
    since: WireDate = None


class MonthlyInvoiceTotalWire(WireRecord):
    """Tax system: an operator's invoices in one month; ``amount`` in yuan, written with three decimals."""

    unifiedSocialCreditIdentifier: str
    month: _Month
    invoiceCount: int = Field(ge=0)
    amount: Decimal

    @field_serializer("amount")
    def _money(self, v: Decimal) -> str:
        return f"{v:.3f}"


class BeidouTrackWire(WireRecord):
    """National platform: one vehicle's BeiDou fixes, column-wise (``t`` epoch ms, WGS-84, km/h, degrees).

    A track answer also carries ``coordinateSystem``, ``start``, ``end`` and ``count`` (see ``BeidouTrack.to_wire``).
    """

    vehicleNumber: str
    vehiclePlateColorCode: PlateColor
    t: list[int]
    lon: list[float]
    lat: list[float]
    speedKmh: list[float]
    direction: list[float]
    altitude: list[float | None] | None = None

    @model_validator(mode="after")
    def _same_length(self) -> BeidouTrackWire:
        n = len(self.t)
        cols = [self.lon, self.lat, self.speedKmh, self.direction] + (
            [self.altitude] if self.altitude else []
        )
        if any(len(c) != n for c in cols):
            raise ValueError("every column must have as many values as t")
        return self


# ---- records -----------------------------------------------------------------------------------------------


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


def _validity(w: WireRecord) -> dict[str, Any]:
    """``valid_from``, ``valid_to`` and ``status`` of a certificate's wire shape.

    The insurers' interface has no status field: a policy they return is in force between its dates.
    """
    return {"valid_from": w.validFrom, "valid_to": w.validTo, "status": getattr(w, "status", None) or "valid"}


@dataclass(frozen=True, kw_only=True)
class OperatorLicence(Certificate):
    """道路运输经营许可证: ``number`` is the permitNumber, ``holder`` the operator's name."""

    usci: str

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> OperatorLicence:
        w = OperatorLicenceWire.model_validate(d)
        return cls(number=w.permitNumber, holder=w.name, usci=w.unifiedSocialCreditIdentifier, **_validity(w))


@dataclass(frozen=True, kw_only=True)
class VehicleCertificate(Certificate):
    """道路运输证: ``number`` is the roadTransportCertificateNumber, ``holder`` the plate number."""

    vehicle_number: str
    plate_color: str

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> VehicleCertificate:
        w = VehicleCertificateWire.model_validate(d)
        return cls(
            number=w.roadTransportCertificateNumber,
            holder=w.vehicleNumber,
            vehicle_number=w.vehicleNumber,
            plate_color=w.vehiclePlateColorCode,
            **_validity(w),
        )


@dataclass(frozen=True, kw_only=True)
class DriverCertificate(Certificate):
    """从业资格证: ``number`` is the qualificationCertificate, ``holder`` the driver's name.

    ``id_number`` is the drivingLicense (a Chinese driving licence number is the holder's ID number).
    """

    id_number: str

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> DriverCertificate:
        w = DriverCertificateWire.model_validate(d)
        return cls(
            number=w.qualificationCertificate, holder=w.driverName, id_number=w.drivingLicense, **_validity(w)
        )


@dataclass(frozen=True, kw_only=True)
class InsurancePolicy(Certificate):
    """An insurance policy: ``number`` is the policyNumber, ``holder`` the insured party."""

    company_code: str

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> InsurancePolicy:
        w = InsurancePolicyWire.model_validate(d)
        return cls(
            number=w.policyNumber, holder=w.insured, company_code=w.insuranceCompanyCode, **_validity(w)
        )


@dataclass(frozen=True, kw_only=True)
class InNetworkStatus:
    """Whether a vehicle is registered on the national freight-vehicle platform (入网), and since when."""

    vehicle_number: str
    plate_color: str
    in_network: bool
    since: dt.date | None

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> InNetworkStatus:
        w = InNetworkStatusWire.model_validate(d)
        return cls(
            vehicle_number=w.vehicleNumber,
            plate_color=w.vehiclePlateColorCode,
            in_network=w.inNetwork,
            since=w.since,
        )


@dataclass(frozen=True, kw_only=True)
class MonthlyInvoiceTotal:
    """An operator's invoices issued in one month, as the tax system reports them."""

    usci: str
    month: str
    invoice_count: int
    amount_yuan: Decimal

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> MonthlyInvoiceTotal:
        # A float amount becomes the Decimal of its repr (0.1 -> Decimal("0.1")), not of its binary value.
        w = MonthlyInvoiceTotalWire.model_validate(d)
        return cls(
            usci=w.unifiedSocialCreditIdentifier,
            month=w.month,
            invoice_count=w.invoiceCount,
            amount_yuan=w.amount,
        )


#: ``BeidouTrack``'s per-fix columns.
_FIX_FIELDS = ("t_ms", "lon", "lat", "speed_kmh", "direction", "altitude")


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
    def empty(cls, vehicle_number: str, plate_color: str) -> BeidouTrack:
        """A track without fixes."""
        return cls.concat(vehicle_number, plate_color, [])

    @classmethod
    def concat(cls, vehicle_number: str, plate_color: str, pieces: Iterable[BeidouTrack]) -> BeidouTrack:
        """The fixes of `pieces` one after the other (pieces of consecutive windows give a sorted track)."""
        pieces = list(pieces)
        cols = {
            k: np.concatenate([getattr(p, k) for p in pieces])
            if pieces
            else np.zeros(0, dtype=np.int64 if k == "t_ms" else np.float64)
            for k in _FIX_FIELDS
        }
        return cls(vehicle_number=vehicle_number, plate_color=plate_color, **cols)

    def take(self, mask: np.ndarray) -> BeidouTrack:
        """The fixes selected by `mask` (boolean or index array)."""
        return BeidouTrack(
            vehicle_number=self.vehicle_number,
            plate_color=self.plate_color,
            **{k: getattr(self, k)[mask] for k in _FIX_FIELDS},
        )

    @classmethod
    def from_wire(cls, d: Mapping[str, Any] | BeidouTrackWire) -> BeidouTrack:
        """Parse a track (a ``BeidouTrackWire`` or its JSON); a missing altitude, or a null in it, is NaN."""
        w = d if isinstance(d, BeidouTrackWire) else BeidouTrackWire.model_validate(d)
        t_ms = np.asarray(w.t, dtype=np.int64)
        altitude = (
            np.array([np.nan if a is None else a for a in w.altitude], dtype=np.float64)
            if w.altitude
            else np.full(t_ms.size, np.nan)
        )
        return cls(
            vehicle_number=w.vehicleNumber,
            plate_color=w.vehiclePlateColorCode,
            t_ms=t_ms,
            lon=np.asarray(w.lon, dtype=np.float64),
            lat=np.asarray(w.lat, dtype=np.float64),
            speed_kmh=np.asarray(w.speedKmh, dtype=np.float64),
            direction=np.asarray(w.direction, dtype=np.float64),
            altitude=altitude,
        )

    def to_wire(self, *, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
        """The platform's answer for the window [start, end]: coordinates to 1e-7°, the rest to 0.1; NaN is null."""
        return {
            "vehicleNumber": self.vehicle_number,
            "vehiclePlateColorCode": self.plate_color,
            "coordinateSystem": "WGS84",
            "start": start.isoformat(),
            "end": end.isoformat(),
            "count": len(self),
            "t": self.t_ms.tolist(),
            "lon": _json_floats(self.lon, 7),
            "lat": _json_floats(self.lat, 7),
            "speedKmh": _json_floats(self.speed_kmh, 1),
            "direction": _json_floats(self.direction, 1),
            "altitude": _json_floats(self.altitude, 1),
        }

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


def _json_floats(a: np.ndarray, decimals: int) -> list:
    """Round and list a float column; NaN becomes null (JSON has no NaN)."""
    r = np.round(np.asarray(a, dtype=np.float64), decimals)
    nan = np.isnan(r)
    if not nan.any():
        return r.tolist()
    out = r.astype(object)
    out[nan] = None
    return out.tolist()
