"""Small chart and layer builders shared by the pages (Plotly figures as plain dicts; plotly.js ships in dash)."""

from __future__ import annotations

from typing import Any

import numpy as np
from dash import dcc

__all__ = ["bar", "hexagon_layer", "line", "ramp"]

_GRAPH_CONFIG = {"displayModeBar": False, "displaylogo": False}
_LAYOUT = {"margin": {"l": 40, "r": 10, "t": 10, "b": 40}, "height": 220, "paper_bgcolor": "#fff",
           "plot_bgcolor": "#fff", "font": {"size": 11}}
#: YlOrRd, light to dark.
_RAMP = np.array([[255, 255, 178], [254, 217, 118], [254, 178, 76], [253, 141, 60], [240, 59, 32], [189, 0, 38]])


def line(x: list, y: list, key: str) -> dcc.Graph:
    return dcc.Graph(id=f"chart-{key}", config=_GRAPH_CONFIG,
                     figure={"data": [{"type": "scatter", "mode": "lines+markers", "x": x, "y": y}],
                             "layout": _LAYOUT})


def bar(x: list, y: list, key: str, *, horizontal: bool = False) -> dcc.Graph:
    trace = {"type": "bar", "x": y, "y": x, "orientation": "h"} if horizontal else {"type": "bar", "x": x, "y": y}
    axis = "yaxis" if horizontal else "xaxis"  # labels are names or ids, never a numeric scale
    layout = {**_LAYOUT, axis: {"type": "category"}}
    return dcc.Graph(id=f"chart-{key}", config=_GRAPH_CONFIG, figure={"data": [trace], "layout": layout})


def ramp(values: np.ndarray, alpha: int = 190) -> np.ndarray:
    """RGBA per value on a log scale (uint8, n×4)."""
    v = np.log1p(np.asarray(values, dtype=float))
    span = v.max() - v.min() if v.size else 0.0
    k = np.zeros(v.shape) if span <= 0 else (v - v.min()) / span
    idx = np.minimum((k * (len(_RAMP) - 1)).round().astype(int), len(_RAMP) - 1)
    rgb = _RAMP[idx] if v.size else np.zeros((0, 3), dtype=int)
    return np.column_stack([rgb, np.full(len(rgb), alpha)]).astype(np.uint8)


def hexagon_layer(layer_id: str, fc: dict[str, Any], value: str = "fixes") -> dict[str, Any]:
    """An H3HexagonLayer from a density FeatureCollection (cells by id: the browser draws the hexagons, so only
    the ids and counts travel)."""
    feats = fc.get("features", [])
    values = np.array([f["properties"][value] for f in feats], dtype=float)
    colors = ramp(values).tolist()
    data = [{"hex": f["properties"]["h3"], "v": int(f["properties"][value]),
             "d": int(f["properties"].get("vehicleDays", 0)), "c": c} for f, c in zip(feats, colors)]
    return {"@@type": "H3HexagonLayer", "id": layer_id, "data": data, "getHexagon": "@@=hex",
            "getFillColor": "@@=c", "extruded": False, "stroked": False, "pickable": True, "highPrecision": False}
