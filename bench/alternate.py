"""Compare two variants of one benchmark in alternating runs.

On a shared, noisy machine an absolute figure moves from minute to minute; the ratio
of two runs made one right after the other moves much less. This script runs a bench
module as A, B, A, B, ... (each run a fresh process that starts its own cluster),
reads each run's last JSON line, and reports for every numeric figure the median of
the per-round ratios B/A.

Example, what CURVE costs the order pipeline::

    python -m bench.alternate --rounds 4 --module bench.pipeline \\
        --a=--no-curve --b= -- --duration 4 --rates 1000

Invariants: A and B get the same common arguments; a round counts only when both of
its runs print a JSON last line; the last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
from collections.abc import Sequence


def run_once(module: str, arguments: Sequence[str]) -> dict[str, object]:
    """Run ``python -m module arguments`` and return its last line as JSON."""
    completed = subprocess.run(
        [sys.executable, "-m", module, *arguments],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(
            f"{module} {' '.join(arguments)} exited {completed.returncode}: "
            f"{completed.stderr[-2000:]}"
        )
    figures = json.loads(lines[-1])
    if not isinstance(figures, dict):
        raise RuntimeError(f"{module}: the last line is not a JSON object")
    return figures


def numeric(figures: dict[str, object]) -> dict[str, float]:
    return {
        key: float(value)
        for key, value in figures.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def ratios(pairs: list[tuple[dict[str, object], dict[str, object]]]) -> dict[str, float]:
    """Median over rounds of B/A for each numeric figure both runs report."""
    per_key: dict[str, list[float]] = {}
    for a, b in pairs:
        a_values, b_values = numeric(a), numeric(b)
        for key, a_value in a_values.items():
            if key in b_values and a_value != 0:
                per_key.setdefault(key, []).append(b_values[key] / a_value)
    return {key: round(statistics.median(values), 3) for key, values in per_key.items()}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--module", required=True, help="the bench module, e.g. bench.pipeline")
    parser.add_argument("--a", default="", help="arguments of variant A (shell words)")
    parser.add_argument("--b", default="", help="arguments of variant B (shell words)")
    parser.add_argument("--rounds", type=int, default=3, help="pairs of runs, A then B")
    parser.add_argument("common", nargs="*", help="arguments of both (after --)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    a_args, b_args = shlex.split(args.a), shlex.split(args.b)
    pairs: list[tuple[dict[str, object], dict[str, object]]] = []
    for round_number in range(1, args.rounds + 1):
        a = run_once(args.module, [*args.common, *a_args])
        b = run_once(args.module, [*args.common, *b_args])
        print(f"round {round_number}  A {json.dumps(a)}")
        print(f"round {round_number}  B {json.dumps(b)}", flush=True)
        pairs.append((a, b))
    medians = ratios(pairs)
    print()
    print(f"median B/A over {len(pairs)} rounds (A: {args.a or '-'}  B: {args.b or '-'})")
    for key, value in medians.items():
        print(f"  {key:>24} {value:.3f}")
    print(
        json.dumps(
            {
                "bench": "alternate",
                "module": args.module,
                "a": args.a,
                "b": args.b,
                "rounds": len(pairs),
                "ratio_b_over_a": medians,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
