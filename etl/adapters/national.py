"""Client of the national freight-vehicle platform (全国道路货运车辆公共监管与服务平台): 入网 and BeiDou.

Paths are documented in ``simulation.servers.national``. Tracks come back column-wise and are returned
as a ``BeidouTrack`` (numpy arrays, ``to_frame()`` for a DataFrame), WGS-84.
"""

from __future__ import annotations

import datetime as dt

from etl.adapters._http import BaseClient, path
from etl.adapters._time import epoch_us, to_date, to_instant
from etl.adapters.records import BeidouTrack, InNetworkStatus

__all__ = ["NationalPlatformClient"]

_PREFIX = ("national", "v1", "vehicles")


class NationalPlatformClient(BaseClient):
    """Ask the national platform about heavy vehicles (see ``BaseClient`` for the call policy)."""

    system = "national"

    def get_in_network(self, vehicle_number: str, plate_color: str) -> InNetworkStatus | None:
        """The platform's 入网 record for the vehicle, or ``None`` when the platform has never seen it."""
        return self._get_record(
            InNetworkStatus.from_wire, path(*_PREFIX, vehicle_number, str(plate_color), "in-network")
        )

    def is_in_network(
        self, vehicle_number: str, plate_color: str, *, on: dt.date | dt.datetime | str | None = None
    ) -> bool:
        """True if registered (by day `on`, if given); a vehicle the platform does not know is not."""
        status = self.get_in_network(vehicle_number, plate_color)
        if status is None or not status.in_network:
            return False
        if on is not None and status.since is not None:
            return status.since <= to_date(on)
        return True

    def get_track(
        self,
        vehicle_number: str,
        plate_color: str,
        start: dt.datetime | str,
        end: dt.datetime | str,
        *,
        split_window_h: float | None = None,
    ) -> BeidouTrack:
        """BeiDou fixes of the vehicle with ``start <= t <= end``.

        Parameters
        ----------
        vehicle_number, plate_color : str
        start, end : datetime or str
            Aware datetimes, naive ones (Beijing time), ISO-8601 or ``YYYYMMDDhhmmss`` strings.
        split_window_h : float, optional
            Fetch in pieces of at most this many hours (the platform refuses windows over 72 h);
            without it a too-long window raises ``TrackWindowTooLongError``.

        Returns
        -------
        BeidouTrack
            Empty arrays when the platform has no fixes in the window.
        """
        t0, t1 = to_instant(start), to_instant(end)
        if t1 < t0:
            raise ValueError(f"end ({t1.isoformat()}) is before start ({t0.isoformat()})")
        if split_window_h is None:
            return self._get_track_piece(vehicle_number, plate_color, t0, t1)
        if split_window_h <= 0:
            raise ValueError(f"split_window_h must be > 0, got {split_window_h!r}")
        return self._get_track_split(vehicle_number, plate_color, t0, t1, dt.timedelta(hours=split_window_h))

    def _get_track_piece(
        self, vehicle_number: str, plate_color: str, t0: dt.datetime, t1: dt.datetime
    ) -> BeidouTrack:
        body = self._get_json(
            path(*_PREFIX, vehicle_number, str(plate_color), "track"),
            {"start": t0.isoformat(), "end": t1.isoformat()},
        )
        if body is None:
            return BeidouTrack.empty(vehicle_number, str(plate_color))
        return self._parse(BeidouTrack.from_wire, body)

    def _get_track_split(
        self, vehicle_number: str, plate_color: str, t0: dt.datetime, t1: dt.datetime, step: dt.timedelta
    ) -> BeidouTrack:
        pieces = []
        lo = t0
        while True:
            hi = min(lo + step, t1)
            piece = self._get_track_piece(vehicle_number, plate_color, lo, hi)
            if hi < t1:
                # Both ends are inclusive on the wire; a fix exactly at `hi` comes again in the next piece.
                # Keep t < hi: with t_ms = floor(t_us / 1000) that is t_ms < ceil(hi_us / 1000).
                piece = piece.take(piece.t_ms < -(-epoch_us(hi) // 1000))
            pieces.append(piece)
            if hi >= t1:
                break
            lo = hi
        return BeidouTrack.concat(vehicle_number, str(plate_color), pieces)
