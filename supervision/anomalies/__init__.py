"""Anomalies: the catalogue of spec/RULES.md §1 and recording rule hits."""

from supervision.anomalies.catalogue import ANOMALY_TYPES, GROUPS, AnomalyType
from supervision.anomalies.service import record

__all__ = ["ANOMALY_TYPES", "GROUPS", "AnomalyType", "record"]
