"""Base data as people read it (B1): operators (and, to come, vehicles and drivers with their reports)."""
