"""Alarms (D3) and their follow-up (D5): rates over thresholds, dead letters, lifecycle, attachments, the tick."""
