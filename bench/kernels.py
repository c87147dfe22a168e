"""Throughput of every catalogue loss on in-memory data, relative to MSE.

Each loss runs as the engine runs it: its registry kernel into reused workspace buffers, then
its streaming state's update (the exact cross-chunk sum), chunk after chunk over 1M-row float64
columns already in memory. Prints Mrows/s and the time relative to MSE (issue 5's target: at
most 1.5× where the math allows; transcendental kernels such as log-cosh cannot).

Usage: ``python bench/kernels.py [--rows N] [--chunk N] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from losscli.catalogue import LOSSES
from losscli.catalogue.spec import LossSpec
from losscli.catalogue.workspace import Workspace
from losscli.stats import MeanState, blocked_loss_sums

CLASSES = 4  # columns of the losses over a class / vector axis


def inputs_for(spec: LossSpec, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Valid inputs for ``spec``'s roles: (k, n) float64 blocks inside the loss's domain."""
    k = CLASSES if spec.reduces_axis else 1
    out: dict[str, np.ndarray] = {}
    for role in spec.roles:
        rows = k
        if spec.name in ("cross_entropy", "nll") and role.name == "target":
            out[role.name] = rng.integers(0, k, size=(1, n)).astype(np.float64)
            continue
        if spec.name == "kl_div" or (spec.name == "nll" and role.name == "pred"):
            x = rng.random((rows, n)) + 0.1
            out[role.name] = np.log(x / x.sum(axis=0))
            continue
        if spec.name == "binary_cross_entropy" and role.name == "target":
            out[role.name] = rng.integers(0, 2, size=(rows, n)).astype(np.float64)
            continue
        if spec.name in ("hinge", "margin_ranking") and role.name == "target":
            out[role.name] = np.where(rng.random((rows, n)) < 0.5, -1.0, 1.0)
            continue
        positive = spec.name in ("poisson", "poisson_deviance", "gamma_deviance", "msle", "rmsle")
        positive = positive or role.name == "var"
        values = rng.gamma(2.0, 1.0, (rows, n)) + 0.01 if positive else rng.normal(0, 1, (rows, n))
        out[role.name] = values
    return out


def time_loss(spec: LossSpec, data: dict[str, np.ndarray], chunk: int, repeat: int) -> float:
    """Best seconds over ``repeat`` passes of the whole data through kernel + state."""
    params = spec.defaults()
    n = next(iter(data.values())).shape[1]
    best = float("inf")
    for _ in range(repeat):
        ws = Workspace()
        state = spec.new_state(
            1 if spec.reduces_axis else data["pred"].shape[0] if "pred" in data else 1, params
        )
        t0 = time.perf_counter()
        with np.errstate(all="ignore"):
            for start in range(0, n, chunk):
                part = {k: v[:, start : start + chunk] for k, v in data.items()}
                if spec.elementwise is None:
                    state.update(part, None)  # type: ignore[attr-defined]
                elif isinstance(state, MeanState):  # the engine's blocked fast path
                    rows = next(iter(part.values())).shape[1]
                    kernel = spec.elementwise

                    def block(
                        lo: int, hi: int, part: dict = part, kernel: Any = kernel, ws: Any = ws
                    ) -> Any:
                        return kernel({k: v[:, lo:hi] for k, v in part.items()}, params, ws)

                    state.add_sums(blocked_loss_sums(block, rows, state.outputs), None, rows)
                else:
                    losses = spec.elementwise(part, params, ws)
                    state.add_chunk(losses, None)  # type: ignore[attr-defined]
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1 << 23)
    p.add_argument("--chunk", type=int, default=1 << 17)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    results = []
    for spec in LOSSES:
        data = inputs_for(spec, args.rows, rng)
        results.append((spec, time_loss(spec, data, args.chunk, args.repeat)))
    mse = next(t for s, t in results if s.name == "mse")
    print(f"{'loss':24s} {'Mrows/s':>8s} {'× mse':>6s}")
    for spec, seconds in results:
        note = f"  ({CLASSES} columns per row)" if spec.reduces_axis else ""
        print(f"{spec.name:24s} {args.rows / seconds / 1e6:8.0f} {seconds / mse:6.2f}{note}")


if __name__ == "__main__":
    main()
