"""Configuration of the synthetic province generator (sizes, period, sampling, anomaly rates)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["ANOMALY_CODES", "DEFAULT_ANOMALY_RATES", "NEIGHBOUR_PROVINCES", "GeneratorConfig"]

#: Every anomaly code of spec/RULES.md §1, in the spec's order.
ANOMALY_CODES: tuple[str, ...] = (
    "INTAKE_REJECTED",
    "INTAKE_LATE",
    "INTAKE_TIME_ORDER",
    "SEC_WEAK_ENVELOPE",
    "INTAKE_UNKNOWN_PARTY",
    "QUAL_OPERATOR_PERMIT",
    "QUAL_VEHICLE_CERT",
    "QUAL_DRIVER_CERT",
    "QUAL_DRIVER_LICENSE",
    "QUAL_ID_CHECKSUM",
    "VEHICLE_NOT_IN_NETWORK",
    "TRACK_MISSING",
    "TRACK_START_MISMATCH",
    "TRACK_END_MISMATCH",
    "TRACK_LOW_COVERAGE",
    "TRACK_IMPOSSIBLE_SPEED",
    "TRACK_LENGTH_IMPLAUSIBLE",
    "TRACK_DUPLICATED",
    "TRACK_SOURCE_CONFLICT",
    "TRACK_VEHICLE_OVERLAP",
    "MATCH_NO_FUND_FLOW",
    "MATCH_AMOUNT",
    "MATCH_PARTY",
    "MATCH_CASH_OR_REUSED_SERIAL",
    "DUPLICATE_WAYBILL",
)

#: Default share of eligible documents (waybills, vehicles, drivers, operators, fund flows) per code.
DEFAULT_ANOMALY_RATES: dict[str, float] = {
    "INTAKE_REJECTED": 0.01,
    "INTAKE_LATE": 0.02,
    "INTAKE_TIME_ORDER": 0.01,
    "SEC_WEAK_ENVELOPE": 0.01,
    "INTAKE_UNKNOWN_PARTY": 0.01,
    "QUAL_OPERATOR_PERMIT": 0.03,
    "QUAL_VEHICLE_CERT": 0.02,
    "QUAL_DRIVER_CERT": 0.02,
    "QUAL_DRIVER_LICENSE": 0.02,
    "QUAL_ID_CHECKSUM": 0.01,
    "VEHICLE_NOT_IN_NETWORK": 0.02,
    "TRACK_MISSING": 0.01,
    "TRACK_START_MISMATCH": 0.02,
    "TRACK_END_MISMATCH": 0.02,
    "TRACK_LOW_COVERAGE": 0.02,
    "TRACK_IMPOSSIBLE_SPEED": 0.01,
    "TRACK_LENGTH_IMPLAUSIBLE": 0.01,
    "TRACK_DUPLICATED": 0.01,
    "TRACK_SOURCE_CONFLICT": 0.01,
    "TRACK_VEHICLE_OVERLAP": 0.01,
    "MATCH_NO_FUND_FLOW": 0.02,
    "MATCH_AMOUNT": 0.02,
    "MATCH_PARTY": 0.01,
    "MATCH_CASH_OR_REUSED_SERIAL": 0.01,
    "DUPLICATE_WAYBILL": 0.01,
}

#: Provinces whose counties receive the out-of-province share of trips (Anhui's neighbours).
NEIGHBOUR_PROVINCES: tuple[str, ...] = ("320000", "330000", "360000", "410000", "420000")


class GeneratorConfig(BaseModel):
    """Everything that decides the generated province; same config => byte-identical output.

    Parameters
    ----------
    seed : int
        Seed of the single ``numpy.random.Generator(PCG64(seed))``.
    province : str
        GB/T 2260 province code of the monitoring province.
    operators, vehicles, drivers : int
        Numbers of platforms, vehicles and drivers (drivers ≥ vehicles: one primary driver per vehicle).
    days : int
        Length of the period in days, starting at `start` 00:00 Beijing time.
    waybills : int
        Waybill documents over the period (one per shippingNoteNumber + serialNumber), clean and anomalous.
    beidou_interval_s : int
        Sampling interval of the national platform's BeiDou tracks, seconds.
    app_interval_s : tuple[int, int]
        Range of the driver app's sampling interval, seconds (drawn per trip; 30 s-12 min). The app reports
        only while the waybill is open: a fix at despatch, every interval, a fix at receipt.
    app_message_min : tuple[int, int]
        Range of how many minutes of fixes the app buffers into one WLHY_WZ1001 message (drawn per trip); the
        default keeps a month of history to a few messages per trip, so the demo loads in minutes.
    anomaly_rates : dict[str, float]
        Share per code of spec/RULES.md §1; a code with rate > 0 is injected at least once.
    out_of_province_share : float
        Share of trips whose unloading (or loading) county is in a neighbouring province.
    multi_vehicle_share, segmented_share, extension_coords_share : float
        Shares of shipping notes carried by several vehicles, carried in two segments, and of
        vehicleInfo items that carry the optional GCJ-02 loading/receipt coordinates.
    """

    model_config = ConfigDict(frozen=True)

    seed: int = 42
    province: str = "340000"
    operators: int = Field(20, ge=1)
    vehicles: int = Field(2000, ge=4)
    drivers: int = Field(2200, ge=4)
    days: int = Field(30, ge=1)
    start: dt.date = dt.date(2026, 10, 1)
    waybills: int = Field(20000, ge=1)
    beidou_interval_s: int = Field(30, ge=1)
    app_interval_s: tuple[int, int] = (30, 720)
    app_message_min: tuple[int, int] = (240, 480)
    anomaly_rates: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_ANOMALY_RATES))
    out_of_province_share: float = Field(0.15, ge=0, le=1)
    multi_vehicle_share: float = Field(0.05, ge=0, le=1)
    segmented_share: float = Field(0.03, ge=0, le=1)
    extension_coords_share: float = Field(0.3, ge=0, le=1)

    @field_validator("anomaly_rates")
    @classmethod
    def _known_codes(cls, rates: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(rates) - set(ANOMALY_CODES))
        if unknown:
            raise ValueError(f"unknown anomaly codes {unknown}; expected codes of RULES.md §1")
        bad = {k: v for k, v in rates.items() if not 0 <= v <= 0.5}
        if bad:
            raise ValueError(f"anomaly rates must be within [0, 0.5], got {bad}")
        return {code: float(rates.get(code, 0.0)) for code in ANOMALY_CODES}

    @field_validator("drivers")
    @classmethod
    def _enough_drivers(cls, drivers: int, info) -> int:
        vehicles = info.data.get("vehicles", 0)
        if drivers < vehicles:
            raise ValueError(f"drivers ({drivers}) must be ≥ vehicles ({vehicles}): one primary driver each")
        return drivers

    @classmethod
    def small(cls, **overrides) -> GeneratorConfig:
        """Return a small preset for tests: 3 operators, 60 vehicles, 4 days, 200 waybills.

        Examples
        --------
        >>> GeneratorConfig.small().vehicles
        60
        """
        values = dict(operators=3, vehicles=60, drivers=66, days=4, waybills=200)
        values.update(overrides)
        return cls(**values)

    def scale(self, factor: float) -> GeneratorConfig:
        """Return a copy with operators, vehicles, drivers and waybills multiplied by `factor`.

        Examples
        --------
        >>> GeneratorConfig().scale(0.1).waybills
        2000
        """
        return self.model_copy(
            update=dict(
                operators=max(1, round(self.operators * factor)),
                vehicles=max(4, round(self.vehicles * factor)),
                drivers=max(4, round(self.drivers * factor)),
                waybills=max(1, round(self.waybills * factor)),
            )
        )

    def with_rates(self, rate: float) -> GeneratorConfig:
        """Return a copy where every anomaly code has the same `rate`."""
        return self.model_copy(update=dict(anomaly_rates={c: rate for c in ANOMALY_CODES}))
