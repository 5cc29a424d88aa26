"""People's login: password hashing, users, bearer tokens (no FastAPI here; routes live in api/routes/auth.py)."""
