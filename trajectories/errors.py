"""Exceptions raised by the trajectory kernels."""

from __future__ import annotations

__all__ = ["FixesSchemaError", "TrajectoryError"]


class TrajectoryError(ValueError):
    """Base class of errors raised by the trajectories package."""


class FixesSchemaError(TrajectoryError):
    """A fixes DataFrame lacks a required column or has a column of the wrong type."""
