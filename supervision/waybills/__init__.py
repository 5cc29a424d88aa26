"""Waybills and fund flows as people read them (B2): lists and details, linked both ways, within a Scope."""
