"""The library's benchmarks: ``make bench`` (or ``python benchmarks/bench.py``).

Timings do not belong in checked claims (they depend on the machine and on its load), so
the book's performance statements are measured here instead. Every result is a *ratio* of
two computations timed side by side, alternately, in the same process: a load that slows
the machine slows both. Each ratio is measured ``--repeats`` times; the report gives the
median and the spread (min, max). Absolute times are recorded for context only.

Benchmarks
----------
``engine``
    The fixed-step flow engine (:func:`flowapprox.flow`, classical RK4) against torchdiffeq's
    fixed-grid ``rk4`` with the same steps, and against the cost of the field evaluations
    alone (4 per step): how much the engine adds to the work it cannot avoid.
``closed-form``
    The closed-form ReLU ridge flow (:func:`flowapprox.ridge_flow`) against RK4 with the
    fewest steps per piece that reach the same accuracy (1e-6 and 1e-13).
``construction``
    Evaluating the explicit 2-D construction of Chapter 4: time per point as the grid size
    N and the number of points grow.
``wells``
    The exact flow of a polytope well (:func:`flowapprox.wells.well_flow`, all points at
    once) against its former implementation, :func:`flowapprox.pl_flow` point by point.

Results go to ``_build/bench.json``; ``--record`` also rewrites the committed
``benchmarks/results.md`` that the book's performance appendix includes.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torchdiffeq

import flowapprox as fa
from flowapprox.splitting import RidgeSum

ROOT = Path(__file__).resolve().parents[1]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _seconds(call: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        call()
    return (time.perf_counter() - start) / number


def side_by_side(
    a: Callable[[], object], b: Callable[[], object], *, repeats: int, number: int = 1
) -> dict[str, float]:
    """Time ``a`` and ``b`` alternately ``repeats`` times; statistics of the ratio a/b."""
    a(), b()  # warm-up
    ratios, times_a, times_b = [], [], []
    for _ in range(repeats):
        ta, tb = _seconds(a, number), _seconds(b, number)
        ratios.append(ta / tb)
        times_a.append(ta)
        times_b.append(tb)
    return {
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "seconds_a": statistics.median(times_a),
        "seconds_b": statistics.median(times_b),
    }


def bench_engine(repeats: int) -> list[dict]:
    """flowapprox.flow (RK4) vs torchdiffeq rk4 vs the field evaluations alone."""
    rows = []
    family = fa.ResidualBlock(width=32, activation="tanh")
    gen = torch.Generator().manual_seed(0)
    control = fa.PiecewiseConstantControl.random(family, 2, pieces=10, horizon=2.0, generator=gen)
    steps = 4
    for batch in (1_000, 10_000):
        x = torch.rand(batch, 2, generator=gen)
        pieces = [control.piece(j) for j in range(control.num_pieces)]

        def engine() -> torch.Tensor:
            return fa.flow(control, x, method="rk4", steps_per_piece=steps)

        def tdq() -> torch.Tensor:
            y = x
            for j, theta in enumerate(pieces):
                t = float(control.durations[j])
                grid = torch.linspace(0.0, t, steps + 1, dtype=x.dtype)
                y = torchdiffeq.odeint(
                    lambda _t, z, theta=theta: family.field(z, theta), y, grid, method="rk4"
                )[-1]
            return y

        def fields_only() -> None:
            for theta in pieces:
                for _ in range(4 * steps):
                    family.field(x, theta)

        number = 10 if batch <= 1_000 else 2
        vs_tdq = side_by_side(engine, tdq, repeats=repeats, number=number)
        vs_fields = side_by_side(engine, fields_only, repeats=repeats, number=number)
        rows.append({"name": "engine / torchdiffeq rk4", "batch": batch, **vs_tdq})
        rows.append({"name": "engine / field evaluations", "batch": batch, **vs_fields})
    return rows


def bench_closed_form(repeats: int) -> list[dict]:
    """ridge_flow vs RK4 with the fewest steps per piece reaching 1e-6 and 1e-13."""
    gen = torch.Generator().manual_seed(1)
    control = fa.PiecewiseConstantControl.random(
        fa.RidgeReLU(), 2, pieces=16, horizon=2.0, generator=gen
    )
    x = fa.sobol_points(fa.Box.cube(2, -1.0, 1.0), 1024, seed=0)
    exact = fa.ridge_flow(control, x)
    rows = []
    for tol in (1e-6, 1e-13):
        steps = next(
            s
            for s in (2**j for j in range(12))
            if float((fa.flow(control, x, steps_per_piece=s) - exact).abs().max()) <= tol
        )
        result = side_by_side(
            lambda s=steps: fa.flow(control, x, method="rk4", steps_per_piece=s),
            lambda: fa.ridge_flow(control, x),
            repeats=repeats,
            number=3 if tol > 1e-9 else 1,
        )
        rows.append(
            {"name": "RK4 / closed form", "accuracy": tol, "rk4_steps_per_piece": steps, **result}
        )
    return rows


def bench_construction(repeats: int) -> list[dict]:
    """Seconds per point of the Chapter 4 construction against N and the number of points."""

    def target(p: torch.Tensor) -> torch.Tensor:
        return torch.sin(2 * math.pi * p[:, 0]) * torch.cos(2 * math.pi * p[:, 1])

    box = fa.Box.cube(2, 0.0, 1.0)
    gen = torch.Generator().manual_seed(2)
    rows = []
    small = fa.construction.construct(target, box, 8, 3 + 2 * math.log(8))
    for n in (8, 32, 128):
        built = fa.construction.construct(target, box, n, 3 + 2 * math.log(n))
        for points in (10_000, 100_000):
            x = torch.rand(points, 2, generator=gen)
            result = side_by_side(lambda c=built, x=x: c(x), lambda x=x: small(x), repeats=repeats)
            rows.append(
                {
                    "name": "construction N / construction N=8",
                    "cells": n,
                    "points": points,
                    "seconds_per_point": result["seconds_a"] / points,
                    **result,
                }
            )
    return rows


def _well_flow_point_by_point(well: RidgeSum, x: torch.Tensor, t: float) -> torch.Tensor:
    """The former well_flow: one pl_flow per point (tests/test_wells.py has the same)."""
    d = well.v[0]
    offsets = x @ well.w.T + well.b
    slopes = (well.w @ d)[:, None]
    start = torch.zeros(1, dtype=x.dtype)
    travel = [
        fa.pl_flow(
            RidgeSum(torch.ones_like(slopes), slopes, offsets[i], "relu").to_piecewise_linear(),
            start,
            t,
        )[0]
        for i in range(x.shape[0])
    ]
    return x + torch.stack(travel)[:, None] * d


def bench_wells(repeats: int) -> list[dict]:
    """Point-by-point pl_flow / vectorised well_flow on the triangle well of Chapter 2."""
    well = fa.wells.polytope_well(
        torch.tensor([[0.0, -1.0], [-1.0, 1.0], [1.0, 1.0]]),
        torch.tensor([0.5, 1.0, 1.0]),
        torch.tensor([1.0, -1.0]),
    )
    gen = torch.Generator().manual_seed(3)
    rows = []
    for batch in (100, 1_000):
        x = 4 * torch.rand(batch, 2, generator=gen) - 2
        result = side_by_side(
            lambda x=x: _well_flow_point_by_point(well, x, 1.0),
            lambda x=x: fa.wells.well_flow(well, x, 1.0),
            repeats=repeats,
        )
        rows.append({"name": "pl_flow point by point / well_flow", "batch": batch, **result})
    return rows


BENCHMARKS = {
    "engine": bench_engine,
    "closed-form": bench_closed_form,
    "construction": bench_construction,
    "wells": bench_wells,
}


def _label(row: dict) -> str:
    keys = [k for k in ("batch", "accuracy", "rk4_steps_per_piece", "cells", "points") if k in row]
    return ", ".join(f"{k} {row[k]:g}" for k in keys)


def render_markdown(report: dict) -> str:
    lines = [
        "| benchmark | setting | ratio (median) | spread (min-max) | time of the first |",
        "|---|---|---|---|---|",
    ]
    for rows in report["results"].values():
        for row in rows:
            lines.append(
                f"| {row['name']} | {_label(row)} | {row['ratio_median']:.3g} | "
                f"{row['ratio_min']:.3g}-{row['ratio_max']:.3g} | "
                f"{1e3 * row['seconds_a']:.3g} ms |"
            )
    env = report["environment"]
    lines.append("")
    lines.append(
        f"Measured by `make bench` on {env['date']}: {env['cpu']}, {env['threads']} torch "
        f"thread(s), torch {env['torch']}, {report['repeats']} repeats per ratio, "
        f"{report['seconds']:.0f} s in all."
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="ratios per benchmark (>= 3)")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "bench.json")
    parser.add_argument(
        "--record", action="store_true", help="also rewrite benchmarks/results.md"
    )
    args = parser.parse_args(argv)
    if args.repeats < 3:
        parser.error(f"--repeats must be at least 3, got {args.repeats}")
    fa.setup(seed=0)
    start = time.perf_counter()
    results = {}
    for name in args.only or BENCHMARKS:
        print(f"benchmark {name} ...", flush=True)
        results[name] = BENCHMARKS[name](args.repeats)
    report = {
        "repeats": args.repeats,
        "seconds": time.perf_counter() - start,
        "environment": {
            "date": time.strftime("%Y-%m-%d"),
            "cpu": _cpu_model(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": sys.version.split()[0],
        },
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    table = render_markdown(report)
    print(table)
    print(f"written: {args.out}")
    if args.record:
        (ROOT / "benchmarks" / "results.md").write_text(table)
        print("written: benchmarks/results.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
