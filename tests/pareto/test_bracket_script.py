"""The hypervolume bracket of ``benchmarks/pareto_bracket.py`` on fronts known exactly."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from pymoo.indicators.hv import HV

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "pareto_bracket.py"
_spec = importlib.util.spec_from_file_location("pareto_bracket", _PATH)
assert _spec is not None and _spec.loader is not None
bracket = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bracket)


def _bracket(points, cuts, lo, ref):  # type: ignore[no-untyped-def]
    grid, mids = bracket.breakpoints(points, cuts, lo, float(ref[0]))
    upper, lower = bracket.envelopes(points, cuts, mids)
    return bracket.area(upper, grid, ref), bracket.area(lower, grid, ref)


def test_bracket_closes_on_a_front_proven_everywhere() -> None:
    # every point's least energy proven at the cost just below the next point: the two
    # ends meet at the hypervolume of the points (pymoo's)
    F = np.array([[1.0, 5.0], [2.0, 3.0], [4.0, 2.0], [6.0, 1.0]])
    ref = np.array([7.0, 6.0])
    points = [tuple(p) for p in F]
    cuts = [(2.0 - 1e-6, 5.0), (4.0 - 1e-6, 3.0), (6.0 - 1e-6, 2.0), (np.inf, 1.0)]
    lo, hi = _bracket(points, cuts, 1.0, ref)
    assert abs(lo - HV(ref_point=ref)(F)) < 1e-6
    assert abs(hi - lo) < 1e-5


def test_bracket_without_solves_between_points_is_wide() -> None:
    # with only the least value of all proven, the upper end is the box of the least
    # cost and the least energy, and the lower end still the points' hypervolume
    F = np.array([[1.0, 5.0], [2.0, 3.0], [4.0, 2.0], [6.0, 1.0]])
    ref = np.array([7.0, 6.0])
    lo, hi = _bracket([tuple(p) for p in F], [(np.inf, 1.0)], 1.0, ref)
    assert abs(lo - HV(ref_point=ref)(F)) < 1e-6
    assert abs(hi - (7.0 - 1.0) * (6.0 - 1.0)) < 1e-6


def test_lower_hull_keeps_the_nondominated_corners() -> None:
    # (3, 4) is dominated, (4, 2) lies on the chord from (2, 3) to (6, 1)
    points = [(1.0, 5.0), (2.0, 3.0), (4.0, 2.0), (6.0, 1.0), (3.0, 4.0), (6.0, 1.5)]
    assert bracket.lower_hull(points) == [(1.0, 5.0), (2.0, 3.0), (6.0, 1.0)]
    assert bracket.lower_hull([(2.0, 1.0)]) == [(2.0, 1.0)]


def test_supporting_lines_bound_the_front_by_its_hull() -> None:
    # lines of the hull's two edges (slopes 2 and 0.5) and the least energy: the upper end
    # is the area above the hull, 23, which contains the front's own hypervolume
    F = np.array([[1.0, 5.0], [2.0, 3.0], [4.0, 2.0], [6.0, 1.0]])
    ref = np.array([7.0, 6.0])
    points = [tuple(p) for p in F]
    cuts = [(np.inf, 1.0)]
    lines = [(2.0, 7.0), (0.5, 4.0)]
    grid, _, upper, lower = bracket.bracketed(points, cuts, lines, 1.0, 7.0)
    hv_lo, hv_hi = bracket.area(upper, grid, ref), bracket.area(lower, grid, ref)
    assert abs(hv_lo - HV(ref_point=ref)(F)) < 1e-6
    assert hv_lo <= hv_hi
    assert 23.0 <= hv_hi < 23.0 + 0.01  # the lines' right ends: a little above, never below
    # without the lines, the box of the least cost and the least energy
    _, hi_without = _bracket(points, cuts, 1.0, ref)
    assert abs(hi_without - 30.0) < 1e-6


def test_a_point_found_twice_is_one_hull_vertex() -> None:
    # the same decision from two solves, its cost a float's noise apart
    found = [(20.909999999999997, 0.9543561), (20.910000000000004, 0.9543561), (18.0, 1.3)]
    points = [bracket.snapped(c, f) for c, f in found]
    assert len(set(points)) == 2
    assert bracket.lower_hull(points) == [(18.0, 1.3), (20.91, 0.9543561)]
    # rounded up, never below what was found
    c, f = bracket.snapped(1.23456789, 0.1234567891)
    assert c >= 1.23456789 and f >= 0.1234567891
    assert c - 1.23456789 < 1e-6 and f - 0.1234567891 < 1e-9


def test_the_bisection_takes_the_widest_free_range_inside_within() -> None:
    # ranges [0, 1], [1, 3], [3, 4]: uncertain areas 1, 0.5 and 2
    grid = np.array([0.0, 1.0, 3.0, 4.0])
    upper = np.array([3.0, 2.25, 2.0, 2.0])
    lower = np.array([2.0, 2.0, 0.0, 2.0])
    ref_f = 5.0
    assert bracket.widest_range(grid, upper, lower, ref_f, set()) == 3.5  # area 2
    assert bracket.widest_range(grid, upper, lower, ref_f, {3.2}) == 0.5  # the next widest
    assert bracket.widest_range(grid, upper, lower, ref_f, set(), (0.5, 3.0)) == 2.0
    assert bracket.widest_range(grid, upper, lower, ref_f, set(), (1.5, 2.5)) is None
    # above the reference point nothing counts
    assert bracket.widest_range(grid, upper + 10, lower + 10, ref_f, set()) is None
