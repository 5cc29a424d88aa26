"""Tests for geo.hexes: vectorised H3 v4 as int64."""

import h3
import numpy as np
import pytest

from geo import hexes


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(7)
    return rng.uniform(18.0, 53.6, 2000), rng.uniform(73.5, 135.1, 2000)


@pytest.mark.parametrize("res", [0, 7, 9, 15])
def test_vectorised_equals_h3_per_point(points, res):
    lat, lon = points
    cells = hexes.points_to_cells(lon, lat, res)
    assert cells.dtype == np.int64
    expected = [int(h3.latlng_to_cell(a, b, res), 16) for a, b in zip(lat.tolist(), lon.tolist())]
    assert cells.tolist() == expected


def test_nan_and_bad_latitude_give_zero():
    cells = hexes.points_to_cells([117.23, 117.23, np.inf, 117.23], [31.82, np.nan, 31.82, 95.0], 9)
    assert cells[0] > 0
    assert cells[1:].tolist() == [0, 0, 0]


def test_scalar_and_empty():
    assert hexes.points_to_cells(117.23, 31.82, 9).shape == ()
    assert hexes.points_to_cells([], [], 9).shape == (0,)


@pytest.mark.parametrize("res", [-1, 16, 9.0, True])
def test_bad_resolution_raises(res):
    with pytest.raises(ValueError, match="res"):
        hexes.points_to_cells(117.23, 31.82, res)


def test_cells_fit_postgres_bigint(points):
    lat, lon = points
    cells = hexes.points_to_cells(lon, lat, 15)
    assert (cells > 0).all() and (cells <= np.iinfo(np.int64).max).all()


def test_cells_to_latlng_returns_centres_near_points(points):
    lat, lon = points
    cells = hexes.points_to_cells(lon, lat, 9)
    c_lon, c_lat = hexes.cells_to_points(np.append(cells, 0))
    # A res-9 hexagon has ~200 m edges, so its centre is within ~0.003 degrees of any point in it.
    assert np.max(np.abs(c_lat[:-1] - lat)) < 0.003
    assert np.isnan(c_lat[-1]) and np.isnan(c_lon[-1])


def test_string_round_trip():
    cells = hexes.points_to_cells([117.23, 116.4], [31.82, 39.9], 9)
    strings = hexes.cell_to_str(np.append(cells, 0))
    assert strings[0] == h3.latlng_to_cell(31.82, 117.23, 9)
    assert strings[-1] is None
    np.testing.assert_array_equal(hexes.str_to_cell(strings), np.append(cells, 0))
    assert hexes.str_to_cell(strings[0].upper()) == cells[0]


def test_str_to_cell_rejects_garbage():
    with pytest.raises(ValueError, match="not a valid H3 cell"):
        hexes.str_to_cell(["zz"])
    with pytest.raises(ValueError, match="not a valid H3 cell"):
        hexes.str_to_cell(["1234"])


def test_grid_disk_sizes_and_centre():
    cell = int(hexes.points_to_cells(117.23, 31.82, 9))
    for k, size in ((0, 1), (1, 7), (2, 19)):
        disk = hexes.grid_disk(cell, k)
        assert disk.dtype == np.int64 and disk.size == size
        assert cell in disk
    expected = sorted(int(c, 16) for c in h3.grid_disk(h3.int_to_str(cell), 2))
    assert hexes.grid_disk(cell, 2).tolist() == expected
    with pytest.raises(ValueError):
        hexes.grid_disk(cell, -1)
    with pytest.raises(ValueError):
        hexes.grid_disk(0, 1)


def test_area_and_edge_helpers():
    # H3 tables: res 9 averages ~0.105 km2 and ~201 m edges; each finer level is 1/7 the area.
    assert hexes.cell_area_m2(9) == pytest.approx(105_332.5, rel=1e-3)
    assert hexes.cell_edge_length_m(9) == pytest.approx(200.8, rel=1e-3)
    assert hexes.cell_area_m2(8) / hexes.cell_area_m2(9) == pytest.approx(7.0, rel=1e-3)
