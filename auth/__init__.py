"""auth: people (users, roles, login, sessions), Scope and masking, the audit log. No web framework here."""
