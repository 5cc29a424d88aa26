"""Forwarding to the Ministry: the outbox worker, its HTTP client, the Ministry envelope.

Its settings are the ``ministry_*`` fields of ``core.config.Settings`` (``WLHY_MINISTRY_*``).
"""

from etl.forwarder.client import MinistryAnswer, MinistryClient, MinistryUnavailable
from etl.forwarder.envelope import build_envelope, decode_payload, encode_payload
from etl.forwarder.worker import (
    DrainResult,
    PayloadUnavailable,
    backlog,
    backoff_s,
    claim_due,
    drain_all,
    drain_once,
    payload_for,
    run_forever,
)

__all__ = [
    "DrainResult",
    "MinistryAnswer",
    "MinistryClient",
    "MinistryUnavailable",
    "PayloadUnavailable",
    "backlog",
    "backoff_s",
    "build_envelope",
    "claim_due",
    "decode_payload",
    "drain_all",
    "drain_once",
    "encode_payload",
    "payload_for",
    "run_forever",
]
