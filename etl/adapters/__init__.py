"""Third-party adapters: HTTP clients of 运政, the national freight-vehicle platform, tax and insurance.

Their URLs and call policy are ``core.config.Settings`` fields (``WLHY_YUNZHENG_URL``, ``WLHY_ADAPTER_*``, ...).
The simulators standing in for those systems live in ``simulation.servers`` (imported separately, so using a
client does not pull in FastAPI).
"""

from etl.adapters.errors import (
    AdapterError,
    AdapterRequestError,
    AdapterResponseError,
    AdapterTimeoutError,
    AdapterUnavailableError,
    TrackWindowTooLongError,
)
from etl.adapters.insurance import InsuranceClient
from etl.adapters.national import NationalPlatformClient
from etl.adapters.records import (
    TRACK_COLUMNS,
    BeidouTrack,
    Certificate,
    DriverCertificate,
    InNetworkStatus,
    InsurancePolicy,
    MonthlyInvoiceTotal,
    OperatorLicence,
    VehicleCertificate,
)
from etl.adapters.tax import TaxClient
from etl.adapters.yunzheng import YunzhengClient

__all__ = [
    "TRACK_COLUMNS",
    "AdapterError",
    "AdapterRequestError",
    "AdapterResponseError",
    "AdapterTimeoutError",
    "AdapterUnavailableError",
    "BeidouTrack",
    "Certificate",
    "DriverCertificate",
    "InNetworkStatus",
    "InsuranceClient",
    "InsurancePolicy",
    "MonthlyInvoiceTotal",
    "NationalPlatformClient",
    "OperatorLicence",
    "TaxClient",
    "TrackWindowTooLongError",
    "VehicleCertificate",
    "YunzhengClient",
]
