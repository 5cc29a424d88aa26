"""Anomalies as people read them (B3): lists and counts within a Scope. The ledger that writes them is store.anomalies."""
