"""All mapped tables; importing this module registers every table on ``Base.metadata``."""

from store.models.base import Base
from store.models.basedata import (
    Account,
    DocumentVersion,
    Driver,
    DriverReport,
    Operator,
    ProvinceKey,
    Vehicle,
    VehicleReport,
)
from store.models.business import (
    FundFlow,
    FundFlowPayment,
    FundFlowWaybill,
    Position,
    Waybill,
    WaybillDriver,
    WaybillGoods,
    WaybillVehicle,
)
from store.models.checks import (
    Alarm,
    AlarmEvent,
    Anomaly,
    Appeal,
    Job,
    Rectification,
    Trajectory,
    Verification,
)
from store.models.exchange import ExchangeError, JointTest, Message, Outbox
from store.models.meta import SystemMeta
from store.models.people import ROLES, AppUser, AuditChainHead, AuditLog, UserSession
from store.models.thematic import DensityDaily, IndicatorValue, OdFlow, Score, StatDaily

__all__ = [
    "ROLES",
    "Account",
    "Alarm",
    "AlarmEvent",
    "Anomaly",
    "AppUser",
    "Appeal",
    "AuditChainHead",
    "AuditLog",
    "Base",
    "DensityDaily",
    "DocumentVersion",
    "Driver",
    "DriverReport",
    "ExchangeError",
    "FundFlow",
    "FundFlowPayment",
    "FundFlowWaybill",
    "IndicatorValue",
    "Job",
    "JointTest",
    "Message",
    "OdFlow",
    "Operator",
    "Outbox",
    "Position",
    "ProvinceKey",
    "Rectification",
    "Score",
    "StatDaily",
    "SystemMeta",
    "Trajectory",
    "UserSession",
    "Vehicle",
    "VehicleReport",
    "Verification",
    "Waybill",
    "WaybillDriver",
    "WaybillGoods",
    "WaybillVehicle",
]
