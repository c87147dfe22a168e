"""``eval`` gathers shared statistics once: a loss whose sums another loss of the same run
already gathers (``-m mse -m rmse``: the same squared errors, columns and weights) is not fed
and merges its twin's sums at the end — with the same digits as its own run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from losscli import engine
from losscli.catalogue import lookup
from losscli.engine.local import Pass, open_inputs
from tests.conftest import write_table


def _request(name: str, pred: str = "p0,p1", **params: Any) -> engine.LossRequest:
    spec = lookup(name)
    assert spec is not None
    return engine.LossRequest(
        spec, {**spec.defaults(), **params}, {"pred": pred, "target": "t0,t1"}
    )


def _values(results: list[engine.LossResult]) -> list[Any]:
    return [
        (r.loss, r.rows, r.value, [(g.key, g.rows, g.value) for g in r.groups]) for r in results
    ]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"group_by": "g"},
        {"group_by": "g", "weight": "w", "per": "output"},
        {"group_by": "g", "weight": "w", "chunk_size": 777},
    ],
)
def test_a_twin_has_the_digits_of_its_own_run(tmp_path: Path, options: dict[str, Any]) -> None:
    rng = np.random.default_rng(2)
    n = 5000
    t = rng.standard_normal((2, n)) * 10.0 ** rng.integers(-3, 4, (2, n))
    path = write_table(
        tmp_path / "d.parquet",
        {
            "p0": t[0] + rng.standard_normal(n),
            "p1": t[1] + rng.standard_normal(n),
            "t0": t[0],
            "t1": t[1],
            "w": rng.uniform(0, 3, n),
            "g": rng.integers(0, 60, n),
        },
    )
    requests = [
        _request("mse"),
        _request("mae"),
        _request("rmse"),
        _request("rmse", pred="p1,p0"),  # other columns: no twin
        _request("l1"),  # mae under another name: a twin too
        _request("huber", delta=0.5),
        _request("huber", delta=2.0),  # another parameter: no twin
        _request("r2"),  # by group: its residual sums are mse's
        _request("r2", pred="p1,p0"),  # its residual sums are those of rmse on p1,p0
    ]
    run_options = engine.RunOptions(files=[str(path)], **options)
    together = engine.run(requests, run_options)
    alone = [engine.run([r], run_options)[0] for r in requests]
    assert _values(together) == _values(alone)
    sources, targets = open_inputs(run_options)
    one_pass = Pass(requests, run_options, sources, targets)
    assert one_pass.twins == {2: 0, 4: 1}
    assert one_pass.residual_twins == ({7: 0, 8: 3} if "group_by" in options else {})
