"""2-D test-function surfaces for contour plots: grid, values against the formula, bounds on
``points``, unknown names, and non-finite values as JSON null."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from optim_core import functions

from .conftest import assert_error

FUNCTIONS = "/api/v1/functions"


def surface(client, name: str, **params) -> dict:
    response = client.get(f"{FUNCTIONS}/{name}/surface", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_anisotropic_surface_follows_the_formula_row_per_y(shared_client):
    got = surface(shared_client, "anisotropic", points=21)
    assert set(got) == {"name", "formula", "x", "y", "z", "start", "minimum"}
    assert (got["name"], got["formula"]) == ("anisotropic", "x²/20 + y²")
    assert (got["start"], got["minimum"]) == ([-7.0, 2.0], [0.0, 0.0])
    assert got["x"] == pytest.approx([-10 + i for i in range(21)])  # x_range (-10, 10)
    assert got["y"] == pytest.approx([-5 + i / 2 for i in range(21)])  # y_range (-5, 5)
    assert len(got["z"]) == 21 and all(len(row) == 21 for row in got["z"])
    for i, y in enumerate(got["y"]):
        for j, x in enumerate(got["x"]):
            assert got["z"][i][j] == pytest.approx(x**2 / 20 + y**2, rel=1e-12, abs=1e-12)
    assert got["z"][0][20] == pytest.approx(100 / 20 + 25)  # (x=10, y=-5): last column
    assert got["z"][10][10] == pytest.approx(0.0)  # the minimum, at the centre


def test_default_is_80_points_and_every_function_has_a_surface(shared_client):
    for name, fn in functions.FUNCTIONS.items():
        got = surface(shared_client, name)
        assert len(got["x"]) == len(got["y"]) == len(got["z"]) == 80
        assert (got["x"][0], got["x"][-1]) == pytest.approx(fn.x_range)
        assert (got["y"][0], got["y"][-1]) == pytest.approx(fn.y_range)
        assert got["start"] == list(fn.start)
        assert got["minimum"] == (list(fn.minimum) if fn.minimum else None)
    assert surface(shared_client, "saddle")["minimum"] is None
    rosenbrock = surface(shared_client, "rosenbrock", points=400)
    assert len(rosenbrock["z"]) == 400 and len(rosenbrock["z"][399]) == 400
    x, y = rosenbrock["x"][123], rosenbrock["y"][45]
    assert rosenbrock["z"][45][123] == pytest.approx((1 - x) ** 2 + 100 * (y - x**2) ** 2)


@pytest.mark.parametrize("points", [9, 401, 0, -5, "many", 2.5])
def test_points_outside_10_to_400_is_422_naming_points(shared_client, points):
    response = shared_client.get(f"{FUNCTIONS}/anisotropic/surface", params={"points": points})
    error = assert_error(response, 422, "invalid_input")
    assert "points" in [d["loc"] for d in error["details"]], error


@pytest.mark.parametrize("name", ["nope", "Anisotropic", "x'%20or%20'1'='1"])
def test_an_unknown_function_is_404_naming_the_known_ones(shared_client, name):
    error = assert_error(shared_client.get(f"{FUNCTIONS}/{name}/surface"), 404, "not_found")
    for known in functions.FUNCTIONS:
        assert known in error["message"], error


def test_non_finite_values_are_null(shared_client, monkeypatch):
    """A function with a pole and a 0/0 point: the response is valid JSON with null there."""
    pole = functions.TestFunction("pole", "1/x + 0/y", lambda x, y: 1.0 / x + 0.0 / y,
                                  lambda x, y: (-1.0 / x**2, 0.0 * y), start=(1.0, 1.0),
                                  minimum=None, x_range=(-1, 1), y_range=(-1, 1))
    monkeypatch.setitem(functions.FUNCTIONS, "pole", pole)
    response = shared_client.get(f"{FUNCTIONS}/pole/surface", params={"points": 11})
    assert response.status_code == 200, response.text
    got = json.loads(response.text, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    z = np.array(got["z"], dtype=object)
    xs, ys = np.meshgrid(got["x"], got["y"])
    nulls = {(i, j) for i in range(11) for j in range(11) if z[i, j] is None}
    expected = {(i, j) for i in range(11) for j in range(11) if xs[i, j] == 0 or ys[i, j] == 0}
    assert nulls == expected and len(expected) == 21  # the x = 0 column and the y = 0 row
    assert all(math.isfinite(v) for row in got["z"] for v in row if v is not None)
