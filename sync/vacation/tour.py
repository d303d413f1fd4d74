"""The order of a beat's stops: a drive from the station through every residence.

Nearest neighbour gives a first route; 2-opt (reverse a stretch of the route) and Or-opt
(move a run of one, two or three stops elsewhere, either way round) then shorten it until
no such move helps. Only strict improvements are taken, so the result is never longer than
the nearest-neighbour route. The route is an open path: it starts at the station and ends
at the last stop. On 900 random beats of 4-12 stops it is on average 0.6% longer than the
shortest possible order (2-opt alone: 1.6%; `benchmarks/route_quality.py`, the exact order
found by dynamic programming there; docs/performance.md has the figures).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

EARTH_RADIUS_KM = 6371.0088
Point = tuple[float, float]  # (latitude, longitude) in degrees
_EPSILON = 1e-9  # kilometres: a move must gain more than this


def haversine(a: Point, b: Point) -> float:
    """Great-circle distance in kilometres."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _distance(points: Sequence[Point], start: Point | None) -> Callable[[int, int], float]:
    """Distance between nodes 0..n-1 (the points) and n (the start), each worked out once.
    Without a station the start is a node at no distance from anything, which leaves the
    route free to begin anywhere."""
    n = len(points)
    nodes = list(points)
    matrix = [[haversine(a, b) for b in nodes] + [0.0 if start is None else haversine(a, start)]
              for a in nodes]
    matrix.append([row[n] for row in matrix] + [0.0])
    return lambda i, j: matrix[i][j]


def route_length(order: Sequence[int], points: Sequence[Point], start: Point | None) -> float:
    """Kilometres from the start through the points in `order` (an open path)."""
    d = _distance(points, start)
    path = [len(points), *order]
    return sum(d(a, b) for a, b in zip(path, path[1:], strict=False))


def nearest_neighbour(points: Sequence[Point], start: Point | None) -> list[int]:
    """Indexes of `points` in nearest-neighbour order from `start` (ties: lowest index)."""
    d = _distance(points, start)
    left = list(range(len(points)))
    order: list[int] = []
    here = len(points)
    while left:
        nxt = min(left, key=lambda j: (d(here, j), j))
        left.remove(nxt)
        order.append(nxt)
        here = nxt
    return order


def _two_opt_pass(path: list[int], d: Callable[[int, int], float]) -> bool:
    """Reverse every stretch path[i..j] whose reversal shortens the path; whether any did."""
    m = len(path)
    improved = False
    for i in range(1, m - 1):
        for j in range(i + 1, m):
            a, b, c = path[i - 1], path[i], path[j]
            before, after = d(a, b), d(a, c)
            if j + 1 < m:
                e = path[j + 1]
                before += d(c, e)
                after += d(b, e)
            if after < before - _EPSILON:
                path[i:j + 1] = reversed(path[i:j + 1])
                improved = True
    return improved


def _or_opt_pass(path: list[int], d: Callable[[int, int], float]) -> bool:
    """Move runs of 1-3 stops (path[i..i+k-1]) between two other neighbours, as they are or
    reversed, wherever that shortens the path; whether any move was made."""
    improved = False
    for k in (1, 2, 3):
        i = 1
        while i + k <= len(path):
            run = path[i:i + k]
            prev, nxt = path[i - 1], path[i + k] if i + k < len(path) else None
            gain = d(prev, run[0]) + (d(run[-1], nxt) - d(prev, nxt) if nxt is not None else 0.0)
            rest = path[:i] + path[i + k:]
            best = None
            for p in range(len(rest)):  # insert after rest[p]
                a, b = rest[p], rest[p + 1] if p + 1 < len(rest) else None
                for seg in (run, run[::-1]):
                    cost = d(a, seg[0]) + (d(seg[-1], b) - d(a, b) if b is not None else 0.0)
                    if cost < gain - _EPSILON and (best is None or cost < best[0]):
                        best = (cost, p, seg)
            if best is not None:
                _, p, seg = best
                path[:] = rest[:p + 1] + list(seg) + rest[p + 1:]
                improved = True
            i += 1
    return improved


def two_opt(order: Sequence[int], points: Sequence[Point], start: Point | None,
            max_passes: int = 100) -> list[int]:
    """`order` improved by reversing segments while that shortens the path. Only strict
    improvements are taken, so the result is never longer than `order`."""
    d = _distance(points, start)
    path = [len(points), *order]
    for _ in range(max_passes):
        if not _two_opt_pass(path, d):
            break
    return path[1:]


def improve(order: Sequence[int], points: Sequence[Point], start: Point | None,
            max_passes: int = 100) -> list[int]:
    """`order` shortened by 2-opt and Or-opt moves until neither helps (or `max_passes`)."""
    d = _distance(points, start)
    path = [len(points), *order]
    for _ in range(max_passes):
        changed = _two_opt_pass(path, d)
        changed = _or_opt_pass(path, d) or changed
        if not changed:
            break
    return path[1:]


def plan_route(points: Sequence[Point], start: Point | None) -> list[int]:
    """Nearest neighbour, then 2-opt and Or-opt."""
    return improve(nearest_neighbour(points, start), points, start)
