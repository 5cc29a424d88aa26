"""Business statistics: density, scale, OD flows."""
