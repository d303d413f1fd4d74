"""Route quality: how much longer the toolkit's stop order is than the shortest one.

Random beats of 4 to 12 stops are scattered over a square about the size of Torrance
(8 km), with the station in it. For each, the toolkit's order (`sync.vacation.tour`:
nearest neighbour, then 2-opt and Or-opt) is compared with nearest neighbour alone and
with the exact shortest open path from the station, found by dynamic programming over
subsets (Held-Karp, here only: it takes O(2^n n^2) time). Targets: on average within 2% of
the shortest, and never longer than nearest neighbour.

    python -m benchmarks.route_quality [--instances 900] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sync.vacation import tour

STATION = (33.8366, -118.3420)
SPREAD = 0.04  # degrees either side of the station: about 9 km north-south
TARGET_GAP = 0.02


def shortest(points: list[tour.Point], start: tour.Point) -> float:
    """The length of the shortest open path from `start` through every point (Held-Karp)."""
    n = len(points)
    d = [[tour.haversine(a, b) for b in points] for a in points]
    best: dict[tuple[int, int], float] = {(1 << i, i): tour.haversine(start, p)
                                          for i, p in enumerate(points)}
    for mask in range(1, 1 << n):
        for last in range(n):
            here = best.get((mask, last))
            if here is None:
                continue
            for nxt in range(n):
                if mask & (1 << nxt):
                    continue
                key = (mask | (1 << nxt), nxt)
                length = here + d[last][nxt]
                if length < best.get(key, float("inf")):
                    best[key] = length
    full = (1 << n) - 1
    return min(best[(full, i)] for i in range(n))


def instance(rng: random.Random, n: int) -> list[tour.Point]:
    return [(STATION[0] + rng.uniform(-SPREAD, SPREAD), STATION[1] + rng.uniform(-SPREAD, SPREAD))
            for _ in range(n)]


def measure(instances: int = 900, seed: int = 1, sizes: range = range(4, 13)) -> dict[str, Any]:
    rng = random.Random(seed)
    gaps, nn_gaps, worse = [], [], 0
    started = time.perf_counter()
    for k in range(instances):
        n = sizes[k % len(sizes)]
        points = instance(rng, n)
        best = shortest(points, STATION)
        nn = tour.nearest_neighbour(points, STATION)
        ours = tour.plan_route(points, STATION)
        ours_km = tour.route_length(ours, points, STATION)
        nn_km = tour.route_length(nn, points, STATION)
        gaps.append(ours_km / best - 1)
        nn_gaps.append(nn_km / best - 1)
        worse += ours_km > nn_km + 1e-9
    return {"instances": instances, "stops": f"{sizes[0]}-{sizes[-1]}", "seed": seed,
            "mean_gap": sum(gaps) / len(gaps), "max_gap": max(gaps),
            "optimal_share": sum(g < 1e-9 for g in gaps) / len(gaps),
            "nn_mean_gap": sum(nn_gaps) / len(nn_gaps), "longer_than_nn": worse,
            "seconds": time.perf_counter() - started}


def render(result: dict[str, Any]) -> str:
    ok = result["mean_gap"] <= TARGET_GAP and result["longer_than_nn"] == 0
    return "\n".join([
        f"Route quality: {result['instances']} random beats of {result['stops']} stops "
        f"(seed {result['seed']}), against the shortest order (dynamic programming)",
        f"  toolkit order: {result['mean_gap']:.2%} longer on average, {result['max_gap']:.2%} "
        f"at worst, shortest in {result['optimal_share']:.0%} of beats",
        f"  nearest neighbour alone: {result['nn_mean_gap']:.2%} longer on average",
        f"  longer than nearest neighbour: {result['longer_than_nn']} beats",
        f"  target (<= {TARGET_GAP:.0%} on average, never longer than nearest neighbour): "
        f"{'met' if ok else 'MISSED'}  ({result['seconds']:.0f} s)"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=900)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    result = measure(args.instances, args.seed)
    print(render(result))
    return 0 if result["mean_gap"] <= TARGET_GAP and result["longer_than_nn"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
