"""Base data as people read it (B1): operators, vehicles and drivers (with each platform's reports and history)."""
