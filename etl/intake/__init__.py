"""etl/intake."""
