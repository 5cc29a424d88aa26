"""Fake outside systems as FastAPI apps: Ministry, 运政, national platform, tax, insurance (one runner)."""
