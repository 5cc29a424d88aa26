"""The database roles of an installation (names only; store.cluster makes them, migration 0005 grants them)."""

from __future__ import annotations

__all__ = ["APP_ROLE", "OWNER_ROLE"]

#: The role migrations run as: owns the database, its schema and every object in it.
OWNER_ROLE = "wlhy_owner"
#: The role the app connects as: not superuser, not owner; DML on the tables (migration 0005).
APP_ROLE = "wlhy_app"
