"""All mapped tables; importing this module registers every table on ``Base.metadata``."""

from store.models.base import Base
from store.models.basedata import Account, DocumentVersion, Driver, Operator, ProvinceKey, Vehicle
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
    "Account", "Alarm", "AlarmEvent", "Anomaly", "Appeal", "AppUser", "AuditChainHead", "AuditLog", "Base", "DensityDaily",
    "DocumentVersion", "Driver", "ExchangeError", "FundFlow", "FundFlowPayment", "FundFlowWaybill", "IndicatorValue", "JointTest",
    "Job", "Message", "OdFlow", "Operator", "Outbox", "Position", "ProvinceKey", "ROLES", "Rectification",
    "Score", "StatDaily", "SystemMeta", "Trajectory", "UserSession", "Vehicle", "Verification", "Waybill", "WaybillDriver",
    "WaybillGoods", "WaybillVehicle",
]
