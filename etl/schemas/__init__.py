"""Exchange payload schemas: pydantic models, code-table and checksum checks, validation by ipcType."""

from etl.schemas.checksums import id_check_char, id_number_valid, usci_check_char, usci_valid
from etl.schemas.errors import RULES, FieldError, PayloadShapeError, SchemaError
from etl.schemas.locations import LocationColumns
from etl.schemas.payloads import (
    ActualCarrierInfo,
    ConsigneeInfo,
    ConsignorInfo,
    Driver,
    FinancialItem,
    FundFlow,
    GoodsInfo,
    InsuranceInformation,
    PositionBatch,
    ShippingNoteInfo,
    ShippingNoteRef,
    Vehicle,
    VehicleInfo,
    Waybill,
    WaybillDriver,
)
from etl.schemas.validate import IPC_TYPES, IpcSpec, ValidationResult, validate_payload

__all__ = [
    "IPC_TYPES",
    "RULES",
    "ActualCarrierInfo",
    "ConsigneeInfo",
    "ConsignorInfo",
    "Driver",
    "FieldError",
    "FinancialItem",
    "FundFlow",
    "GoodsInfo",
    "InsuranceInformation",
    "IpcSpec",
    "LocationColumns",
    "PayloadShapeError",
    "PositionBatch",
    "SchemaError",
    "ShippingNoteInfo",
    "ShippingNoteRef",
    "ValidationResult",
    "Vehicle",
    "VehicleInfo",
    "Waybill",
    "WaybillDriver",
    "id_check_char",
    "id_number_valid",
    "usci_check_char",
    "usci_valid",
    "validate_payload",
]
