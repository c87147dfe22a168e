"""``--engine dask``: the same digits as the local engine, for every loss, grouped or not, from
disk and from S3; faults (a worker killed mid-run, an unreachable scheduler, a data error on a
worker) end as they would locally.

Most tests share one in-process LocalCluster (threads); one starts worker processes."""

from __future__ import annotations

import importlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from losscli import engine
from losscli.catalogue import lookup
from losscli.io import parquet
from tests.conftest import invoke, s3_filesystem, write_table
from tests.test_catalogue import CASES, DATA

distributed = importlib.import_module("distributed")

REPEAT = 10  # 400 × 10 = 4,000 rows per file


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """Two single-threaded workers in this process (the suite's fast cluster)."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as local:
        yield local.scheduler_address


@pytest.fixture
def small_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decode runs of 1,500 rows (two 750-row groups), so a file splits into several units and
    a chunk is longer than one 1,024-value sum block; both engines see the same runs (the
    workers share this process)."""
    monkeypatch.setattr(parquet, "PARQUET_JOB_ROWS", 1500)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The catalogue's test columns (valid inputs for every loss), three Parquet files with
    750-row groups and the same rows as three CSV files."""
    root = tmp_path_factory.mktemp("dask-data")
    for i in range(3):
        rng = np.random.default_rng(i)
        order = rng.permutation(len(DATA["w"]) * REPEAT) % len(DATA["w"])
        part = {k: v[order] for k, v in DATA.items()}
        write_table(root / f"part-{i}.parquet", part, row_group_size=750)
        write_table(root / f"part-{i}.csv", part)
    return root


def _requests(weighted: bool = False) -> list[engine.LossRequest]:
    out = []
    for case in CASES:
        spec = lookup(case.name)
        assert spec is not None
        if weighted and not spec.weighted:
            continue
        out.append(engine.LossRequest(spec, {**spec.defaults(), **case.params}, dict(case.columns)))
    return out


def _values(results: list[engine.LossResult]) -> list[Any]:
    return [
        (r.loss, r.rows, r.skipped_rows, r.value, [(g.key, g.rows, g.value) for g in r.groups])
        for r in results
    ]


def _both(files: list[str], cluster: str, **kw: Any) -> list[Any]:
    requests = _requests(weighted=bool(kw.get("weight")))
    local = engine.run(requests, engine.RunOptions(files=files, **kw))
    options = engine.RunOptions(files=files, engine="dask", scheduler=cluster, unit_rows=3000, **kw)
    on_dask = engine.run(requests, options)
    assert _values(on_dask) == _values(local)  # exact: every digit
    return _values(local)


def test_plan_cuts_parquet_at_runs_and_keeps_other_files_whole(
    dataset: Path, small_runs: None
) -> None:
    from losscli.engine import dask as dask_engine
    from losscli.io.sources import open_sources

    sources = open_sources([str(dataset / "part-0.parquet"), str(dataset / "part-1.csv")])
    shapes = [dask_engine.describe(dask_engine.SourceSpec.of(s)) for s in sources]
    units = dask_engine.plan_units(sources, shapes, None, 3000)  # type: ignore[arg-type]
    assert [(u.row_groups, u.first_row, u.rows) for u in units] == [
        ((0, 4), 0, 3000),  # two runs of 1,500 rows
        ((4, 6), 3000, 1000),  # the last run: a group of 750 and one of 250
        (None, 0, None),  # the CSV file, whole
    ]


def test_same_digits_for_every_loss_parquet(dataset: Path, cluster: str, small_runs: None) -> None:
    files = [str(dataset / f"part-{i}.parquet") for i in range(3)]
    values = _both(files, cluster)
    assert len(values) == len(CASES) and values[0][1] == 3 * 400 * REPEAT
    _both(files, cluster, group_by="g")
    _both(files, cluster, weight="w", group_by="g", per="output")


def test_same_digits_for_every_loss_csv(dataset: Path, cluster: str) -> None:
    _both(
        [str(dataset / f"part-{i}.csv") for i in range(3)], cluster, group_by="g", chunk_size=4096
    )


def test_same_digits_from_s3(dataset: Path, cluster: str, s3_server: Any, small_runs: None) -> None:
    fs = s3_filesystem(s3_server)
    fs.create_dir("dask-bkt")
    for i in range(3):
        with fs.open_output_stream(f"dask-bkt/ds/part-{i}.parquet", compression=None) as out:
            out.write((dataset / f"part-{i}.parquet").read_bytes())
    start = len(s3_server.log)
    files = [str(dataset / f"part-{i}.parquet") for i in range(3)]
    local = engine.run(_requests(), engine.RunOptions(files=files, group_by="g"))
    options = engine.RunOptions(
        files=["s3://dask-bkt/ds/"], group_by="g", engine="dask", scheduler=cluster, unit_rows=3000
    )
    assert _values(engine.run(_requests(), options)) == _values(local)  # the digits of the disk
    gets = [r for m, p, _, r in s3_server.requests_since(start) if m == "GET" and "ds/part" in p]
    assert gets and all(r and r.startswith("bytes=") for r in gets)


def test_eval_and_check_on_dask(dataset: Path, cluster: str, tmp_path: Path) -> None:
    data = str(dataset / "part-1.parquet")
    args = ["eval", data, "-m", "mse", "-m", "r2", "-m", "huber:delta=2", "-p", "p0", "-t", "t0"]
    local = invoke([*args, "-g", "g"])
    on_dask = invoke([*args, "-g", "g", "--engine", "dask", "--scheduler", cluster])
    assert on_dask.code == local.code == 0, on_dask.err
    assert on_dask.json == local.json
    gate = tmp_path / "losscli.toml"
    gate.write_text(
        f'[defaults]\nfile = "{data}"\npred = "p0"\ntarget = "t0"\n'
        f'engine = "dask"\nscheduler = "{cluster}"\n'
        '[[check]]\nloss = "mae"\nmax = 100.0\n[[check]]\nloss = "rmse"\nmax = 0.0\n'
    )
    checked = invoke(["check", str(gate), "--format", "json", "--no-ci-report"])
    assert checked.code == 1  # the second gate fails, as it would locally
    local_mae = invoke(["mae", data, "-p", "p0", "-t", "t0"]).json["value"]
    assert checked.json["checks"][0]["value"] == local_mae


def test_scheduler_from_the_environment(
    dataset: Path, cluster: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster)
    data = str(dataset / "part-2.csv")
    on_dask = invoke(["mse", data, "-p", "p0", "-t", "t0", "--engine", "dask"])
    assert on_dask.code == 0, on_dask.err
    assert on_dask.json == invoke(["mse", data, "-p", "p0", "-t", "t0"]).json


def test_data_errors_on_a_worker_read_as_locally(
    dataset: Path, cluster: str, tmp_path: Path, small_runs: None
) -> None:
    n = 6000
    rng = np.random.default_rng(5)
    pred, target = rng.normal(size=n), rng.normal(size=n)
    pred[4876] = np.nan  # in the file's third unit
    write_table(tmp_path / "a.parquet", {"pred": rng.normal(size=n), "target": target})
    write_table(tmp_path / "b.parquet", {"pred": pred, "target": target}, row_group_size=750)
    text = [repr(v) for v in target[:50].tolist()]
    text[41] = "n/a?"
    write_table(tmp_path / "c.csv", {"pred": pred[:50], "target": text})
    for files in (["a.parquet", "b.parquet"], ["a.parquet", "c.csv", "b.parquet"]):
        paths = [str(tmp_path / f) for f in files]
        local = invoke(["mse", *paths])
        on_dask = invoke(["mse", *paths, "--engine", "dask", "--scheduler", cluster])
        assert local.code == on_dask.code == 3
        assert on_dask.err == local.err
        assert "Traceback" not in on_dask.err and on_dask.err.count("\n") == 1
    assert "b.parquet, column 'pred', row 4877" in invoke(["mse", *paths[:1], paths[2]]).err


def test_unreachable_scheduler_is_exit_3_in_bounded_time(
    dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOSSCLI_DASK_TIMEOUT", "1")
    began = time.monotonic()
    data = str(dataset / "part-0.csv")
    out = invoke(["mse", data, "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9"])
    assert time.monotonic() - began < 10
    assert out.code == 3
    assert out.err.startswith(
        "losscli: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9"
    )
    assert out.err.count("\n") == 1


def test_a_worker_killed_mid_run_changes_nothing(dataset: Path, tmp_path: Path) -> None:
    files = [str(dataset / f"part-{i}.csv") for i in range(3)] + [
        str(dataset / f"part-{i}.parquet") for i in range(3)
    ]
    kw: dict[str, Any] = {"group_by": "g", "chunk_size": 2048}
    requests = _requests()[:6]
    local = _values(engine.run(requests, engine.RunOptions(files=files, **kw)))
    marker = tmp_path / "killed"
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as procs,
        distributed.Client(procs) as client,
    ):
        from tests.dask_faults import KillOnce

        client.register_plugin(KillOnce(str(marker)))
        options = engine.RunOptions(
            files=files, engine="dask", scheduler=procs.scheduler_address, unit_rows=2000, **kw
        )
        # A guard: a cluster that never finishes fails this test instead of hanging the suite
        # (a daemon thread: nothing waits for it at exit, unlike an executor's workers).
        outcome: dict[str, Any] = {}

        def run_on_dask() -> None:
            try:
                outcome["results"] = engine.run(requests, options)
            except BaseException as exc:  # reported below, in the test's thread
                outcome["error"] = exc

        runner = threading.Thread(target=run_on_dask, daemon=True)
        runner.start()
        runner.join(timeout=240)
        assert not runner.is_alive(), "the Dask run did not finish within 240 s"
        if "error" in outcome:
            raise outcome["error"]
        on_dask = _values(outcome["results"])
    assert marker.exists()  # a worker did die during the run
    assert on_dask == local


def test_charts_on_dask_equal_local(dataset: Path, cluster: str, small_runs: None) -> None:
    # chart states come back per chunk and merge exactly: the same bins, counts and grid
    data = str(dataset / "part-1.parquet")
    args = ["eval", data, "-m", "mse", "-m", "bce:with_logits=true", "-p", "p0", "-t", "t0"]
    args += ["-g", "g", "--show", "hist", "--show", "calibration", "--chunk-size", "700"]
    local = invoke(args)
    on_dask = invoke([*args, "--engine", "dask", "--scheduler", cluster])
    assert on_dask.code == local.code == 0, on_dask.err
    assert on_dask.json == local.json
    assert "histograms" in on_dask.json["results"][0]
    # brier's calibration comes back per true label; text labels get other codes per unit
    rng = np.random.default_rng(5)
    p = rng.uniform(size=4000)
    labels = np.where(rng.uniform(size=4000) < p, "yes", "no")
    labels[:900] = "no"  # the first unit sees one label only
    text = write_table(dataset / "brier.parquet", {"p": p, "y": labels}, row_group_size=750)
    args = ["brier", str(text), "-p", "p", "-t", "y", "--pos-label", "yes", "--show", "calibration"]
    local = invoke([*args, "--chunk-size", "700"])
    on_dask = invoke([*args, "--chunk-size", "700", "--engine", "dask", "--scheduler", cluster])
    assert on_dask.code == local.code == 0, on_dask.err
    assert on_dask.json == local.json
    assert sum(local.json["histograms"]["calibration"]["counts"]) == 4000


def test_per_row_output_is_a_parquet_dataset_in_input_order(
    dataset: Path, cluster: str, tmp_path: Path, s3_server: Any, small_runs: None
) -> None:
    import pyarrow.parquet as pq

    files = [str(dataset / "part-0.parquet"), str(dataset / "part-1.parquet")]
    args = ["huber", *files, "-p", "p0,p1", "-t", "t0,t1", "-r", "none", "--keep", "g,label"]
    assert invoke([*args, "-o", str(tmp_path / "local.parquet")]).code == 0
    want = pq.read_table(tmp_path / "local.parquet")
    on_dask = [*args, "--engine", "dask", "--scheduler", cluster, "--unit-rows", "3000"]
    out = invoke([*on_dask, "-o", str(tmp_path / "rows")])
    assert out.code == 0, out.err
    parts = sorted(p.name for p in (tmp_path / "rows").iterdir())
    assert parts == [f"part-{i:05d}.parquet" for i in range(4)]  # two units per file
    assert pq.read_table(tmp_path / "rows").equals(want)
    s3_filesystem(s3_server).create_dir("rows-bkt")
    out = invoke([*on_dask, "-o", "s3://rows-bkt/out/"])
    assert out.code == 0, out.err
    got = pq.read_table("rows-bkt/out", filesystem=s3_filesystem(s3_server))
    assert got.equals(want)
    again = invoke([*on_dask, "-o", str(tmp_path / "rows")])
    assert again.code == 2 and "give a new or empty directory" in again.err


class _Progress:
    total_bytes = None

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def advance(self, rows: int, nbytes: int) -> None:
        self.calls.append((rows, nbytes))


def test_many_files_footers_on_workers_and_progress_by_unit(
    dataset: Path, cluster: str, tmp_path: Path, small_runs: None
) -> None:
    """Ten files: their footers are read on the workers; the progress advances once per unit
    with its rows and its share of the bytes."""
    from losscli.engine import dask as dask_engine

    for i in range(10):
        (tmp_path / f"f{i}.parquet").write_bytes((dataset / f"part-{i % 3}.parquet").read_bytes())
    files = [str(tmp_path)]
    assert len(os.listdir(tmp_path)) > dask_engine.FOOTERS_ON_CLIENT
    requests = _requests()[:4]
    local = engine.run(requests, engine.RunOptions(files=files))
    progress = _Progress()
    options = engine.RunOptions(files=files, engine="dask", scheduler=cluster, unit_rows=3000)
    assert _values(engine.run(requests, options, progress=progress)) == _values(local)
    assert len(progress.calls) == 20  # two units per file
    assert sum(rows for rows, _ in progress.calls) == 10 * 400 * REPEAT
    total = sum(p.stat().st_size for p in tmp_path.iterdir())
    assert progress.total_bytes is not None and 0.9 * total <= progress.total_bytes <= total


def test_own_local_cluster_with_targets_from_and_a_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No scheduler address: --engine dask starts (and stops) its own LocalCluster; a
    --targets-from pair and a --baseline file run there with the local digits."""
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    rng = np.random.default_rng(11)
    n = 5000
    target = rng.normal(size=n)
    write_table(tmp_path / "preds.parquet", {"pred": target + rng.normal(size=n)})
    write_table(tmp_path / "truth.parquet", {"target": target}, row_group_size=700)
    write_table(tmp_path / "base.parquet", {"pred": target + rng.normal(size=n)})
    args = [
        "mse",
        str(tmp_path / "preds.parquet"),
        "--targets-from",
        str(tmp_path / "truth.parquet"),
    ]
    args += ["--baseline", str(tmp_path / "base.parquet"), "--max-increase", "50%"]
    local = invoke(args)
    on_dask = invoke([*args, "--engine", "dask"])
    assert on_dask.code == local.code, on_dask.err
    assert on_dask.json == local.json
    assert on_dask.json["gates"][0]["baseline"] is not None


def test_tls_scheduler_with_certificates_from_dask_config(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dask
    from distributed.security import Security

    security = Security.temporary()  # a self-signed CA, cert and key, held as PEM text
    files = {}
    for name, text in (
        ("ca", security.tls_ca_file),
        ("cert", security.tls_client_cert),
        ("key", security.tls_client_key),
    ):
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_text(str(text))
    monkeypatch.setenv("LOSSCLI_DASK_TIMEOUT", "3")
    data = str(dataset / "part-0.csv")
    args = ["mse", data, "-p", "p0", "-t", "t0"]
    with distributed.LocalCluster(
        n_workers=1, processes=False, protocol="tls://", security=security, dashboard_address=":0"
    ) as tls:
        address = tls.scheduler_address
        assert address.startswith("tls://")
        config = {
            "distributed.comm.tls.ca-file": str(files["ca"]),
            "distributed.comm.tls.client.cert": str(files["cert"]),
            "distributed.comm.tls.client.key": str(files["key"]),
        }
        with dask.config.set(config):
            on_dask = invoke([*args, "--engine", "dask", "--scheduler", address])
        assert on_dask.code == 0, on_dask.err
        assert on_dask.json == invoke(args).json
        bare = invoke([*args, "--engine", "dask", "--scheduler", address])
    assert bare.code == 2
    assert "a tls:// scheduler needs certificates in Dask's configuration" in bare.err


@pytest.mark.parametrize(
    "args",
    [
        ["mse", "--baseline-pred", "v0", "--max-increase", "0", "-w", "w"],  # t, paired
        ["rmse", "--baseline-pred", "v0", "--max-increase", "0", "-w", "w", "--bootstrap", "40"],
        ["max_error", "--max", "0.01", "--bootstrap", "40", "--seed", "5"],
        ["d2_tweedie", "-p", "pp0", "-t", "pt0", "--power", "1.5", "--min", "0.5", "-w", "w"],
    ],
)
def test_confidence_on_dask_equals_local(
    dataset: Path, cluster: str, small_runs: None, args: list[str]
) -> None:
    """Interval states travel back from the units (one set per chunk) and merge: the same
    intervals and verdicts to the last digit; the bootstrap's rows keep their input positions
    across files and units."""
    files = [str(dataset / f"part-{i}.parquet") for i in range(3)]
    loss, *rest = args
    columns = [] if "-p" in rest else ["-p", "p0", "-t", "t0"]
    common = [loss, *files, *columns, *rest, "-g", "g", "-f", "json"]
    common += ["--confidence", "0.9"]
    local = invoke(common)
    on_dask = invoke([*common, "--engine", "dask", "--scheduler", cluster, "--unit-rows", "3000"])
    assert local.code in (0, 1) and on_dask.code == local.code, on_dask.err
    assert on_dask.json["gates"] == local.json["gates"]
    assert on_dask.json["interval"] == local.json["interval"]
    assert len(local.json["gates"]) == 4 and all(g["interval"][0] for g in local.json["gates"])


@pytest.fixture(scope="module")
def gappy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three CSV files (and Parquet copies with 500-row groups) of 2,000 rows whose text group
    keys hold quoted line breaks and delimiters (a record is not a line), with missing
    predictions and targets (one whole-file head skipped), and a baseline predictions file of
    the 6,000 rows (a Parquet and a CSV copy) for paired intervals."""
    root = tmp_path_factory.mktemp("dask-gappy")
    rng = np.random.default_rng(41)
    keys = np.array(["north", 'south\n"east", by sea', "west,\r\nfar"])
    base, truth = [], []
    for i in range(3):
        n = 2000
        y = rng.normal(size=n) + 3
        p = y + 0.7 * rng.normal(size=n)
        p[rng.random(n) < 0.06] = np.nan
        y[rng.random(n) < 0.03] = np.nan
        if i == 1:
            p[:50] = np.nan  # the second file starts with skipped rows
        part = {"p": p, "t": y, "w": rng.uniform(0.5, 2, n), "k": keys[rng.integers(0, 3, n)]}
        part["b"] = y + 1.2 * rng.normal(size=n)
        write_table(root / f"part-{i}.csv", part)
        write_table(root / f"part-{i}.parquet", part, row_group_size=500)
        base.append(part["b"])
        truth.append(y)
    paired = {"p": np.concatenate(base), "t": np.concatenate(truth)}
    write_table(root / "baseline.parquet", paired, row_group_size=700)
    write_table(root / "baseline.csv", paired)
    return root


@pytest.mark.parametrize(
    ("ext", "args"),
    [
        ("csv", ["rmse", "--baseline-pred", "b", "--max-increase", "0", "-w", "w"]),
        ("csv", ["r2", "--min", "0.45"]),  # centred on the input's first kept row
        ("csv", ["max_error", "--max", "2.9"]),
        ("csv", ["median_absolute_error", "--max", "0.48"]),  # kept rows, input positions
        ("csv", ["d2_tweedie", "--min", "0.545", "-w", "w"]),  # power 0: centred
        ("parquet", ["explained_variance", "--min", "0.45", "-w", "w"]),
        ("csv", ["rmse", "--baseline", "baseline.parquet", "--max-increase", "0"]),
        ("parquet", ["r2", "--baseline", "baseline.csv", "--min-decrease", "0", "-w", "w"]),
        ("parquet", ["rmse", "--baseline", "baseline.parquet", "--max-increase", "0", "-w", "w"]),
        ("parquet", ["mse", "--baseline", "baseline.parquet", "--max-increase", "0"]),
    ],
)
def test_bootstrap_on_dask_equals_local_over_csv_skip_centred_and_paired(
    gappy: Path, cluster: str, small_runs: None, ext: str, args: list[str]
) -> None:
    """What a Dask unit once could not know is now given to it: the rows before it (CSV files
    counted first, on the workers, as the reader parses them), the centre of r2-like features
    (the input's first kept row, read by the client) and a baseline file read row-aligned. The
    intervals and verdicts are the local run's to the last digit, for every chunk size."""
    loss, *rest = args
    rest = [str(gappy / a) if a.startswith("baseline.") else a for a in rest]
    files = [str(gappy / f"part-{i}.{ext}") for i in range(3)]
    common = [loss, *files, "-p", "p", "-t", "t", *rest, "-g", "k", "--nan", "skip"]
    common += ["-f", "json", "--confidence", "0.9", "--bootstrap", "40", "--seed", "3"]
    local = invoke(common)
    assert local.code in (0, 1), local.err
    gates = local.json["gates"]
    assert len(gates) == 4 and all(g["interval"][0] < g["interval"][1] for g in gates)

    def verdicts(out: Any) -> list[Any]:
        return [(g["group"], g["interval"], g["verdict"], g["passed"]) for g in out.json["gates"]]

    chunked = invoke([*common, "--chunk-size", "333"])
    if loss == "r2" and "--baseline" in rest:
        # A paired gate shows the difference's interval on the value's scale, through the
        # point values; R²'s (Chan's moment merge) may differ in its last digit by chunking.
        # The replicates themselves are chunk-invariant (test_intervals).
        assert [v[2:] for v in verdicts(chunked)] == [v[2:] for v in verdicts(local)]
        for a, b in zip(verdicts(chunked), verdicts(local), strict=True):
            assert a[1] == pytest.approx(b[1], rel=1e-13, abs=1e-15)
    else:
        assert verdicts(chunked) == verdicts(local)
    on_dask = invoke([*common, "--engine", "dask", "--scheduler", cluster, "--unit-rows", "900"])
    assert on_dask.code == local.code, on_dask.err
    assert verdicts(on_dask) == verdicts(local)
    assert on_dask.json["gates"] == local.json["gates"]
    assert on_dask.json["skipped_rows"] == local.json["skipped_rows"] > 0


def test_paired_baseline_file_units_read_their_own_rows(gappy: Path, small_runs: None) -> None:
    """A Parquet input with a Parquet baseline: every unit gets the baseline runs holding its
    rows (runs of two 700-row groups against the input's units of 1,500 and 500 rows), and
    the windows read back through the reader are exactly the baseline's rows of each unit."""
    import pyarrow.parquet as pq

    from losscli.engine import dask as dask_engine
    from losscli.engine.local import _chunks, _window
    from losscli.io.sources import open_sources

    sources = open_sources([str(gappy / f"part-{i}.parquet") for i in range(3)])
    paired = open_sources([str(gappy / "baseline.parquet")])
    shapes = [dask_engine.describe(dask_engine.SourceSpec.of(s)) for s in [*sources, *paired]]
    units = dask_engine.plan_units(sources, shapes[:3], None, 1500)  # type: ignore[arg-type]
    specs = [dask_engine.SourceSpec.of(s) for s in paired]
    windowed = dask_engine.paired_units(units, specs, shapes[3:])  # type: ignore[arg-type]
    assert windowed is not None and len(windowed) == len(units) == 6
    baseline = pq.read_table(gappy / "baseline.parquet")["p"].to_numpy()
    for unit in windowed:
        window = unit.window
        assert window is not None and unit.offset is not None and unit.rows is not None
        assert window.take == unit.rows and 0 <= window.skip < 1400
        readers = [spec.open() for spec in window.sources]
        for reader, groups, first in zip(
            readers, window.row_groups, window.first_rows, strict=True
        ):
            reader.row_groups, reader.first_row = groups, first
        rows = _window(_chunks(readers, ["p"], [], 256, None), window.skip, window.take)
        got = np.concatenate([chunk.numeric["p"] for chunk in rows])
        np.testing.assert_array_equal(got, baseline[unit.offset : unit.offset + unit.rows])
    assert {unit.window.skip for unit in windowed if unit.window} != {0}  # runs cut inside
    # a baseline of other length: no windows (the one unit reports it as a local run does)
    assert dask_engine.paired_units(units[:-1], specs, shapes[3:]) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ext", "base"), [("csv", "csv"), ("csv", "parquet"), ("parquet", "parquet")]
)
def test_confidence_on_dask_paired_file_errors_read_as_locally(
    tmp_path: Path, cluster: str, small_runs: None, ext: str, base: str
) -> None:
    """A baseline file of another length, or with a missing value, fails on Dask with the
    local run's one line (file, row) and exit status 3 (one unit, or units reading their own
    rows of a Parquet baseline, CSV files counted first)."""
    rng = np.random.default_rng(5)
    files = []
    for i in range(3):
        files.append(str(tmp_path / f"part-{i}.{ext}"))
        columns = {"p": rng.normal(size=2000), "t": rng.normal(size=2000)}
        write_table(tmp_path / f"part-{i}.{ext}", columns, row_group_size=500)
    short, holed = tmp_path / f"short.{base}", tmp_path / f"holed.{base}"
    write_table(short, {"p": np.zeros(5999), "t": np.zeros(5999)}, row_group_size=700)
    holes = np.zeros(6000)
    holes[4321] = np.nan
    write_table(holed, {"p": holes, "t": np.zeros(6000)}, row_group_size=700)
    for baseline in (short, holed):
        args = ["mse", *files, "-p", "p", "-t", "t", "--baseline", str(baseline)]
        args += ["--max-increase", "0", "--confidence", "0.9", "-f", "json"]
        local = invoke(args)
        on_dask = invoke([*args, "--engine", "dask", "--scheduler", cluster, "--unit-rows", "900"])
        assert local.code == on_dask.code == 3, on_dask.err
        assert on_dask.err == local.err and local.err.count("\n") == 1
        assert ("row counts differ" if baseline == short else "row 4322") in local.err


def test_label_intervals_on_dask_equal_local(dataset: Path, cluster: str, small_runs: None) -> None:
    """Per-label moments travel back by label (each unit codes text labels its own way): the
    same intervals, paired and by group, to the last digit."""
    rng = np.random.default_rng(9)
    n = 4000
    names = np.array(["ant", "bee", "cow"])
    y = rng.integers(0, 3, n)
    y[:900] = 2  # the first unit sees 'cow' only
    probs = rng.dirichlet([1.0, 1.0, 1.0], n)
    table = {
        "y": names[y],
        "p": names[np.where(rng.uniform(size=n) < 0.8, y, rng.integers(0, 3, n))],
        "b": names[np.where(rng.uniform(size=n) < 0.7, y, rng.integers(0, 3, n))],
        **{f"q{j}": probs[:, j] for j in range(3)},
        "g": rng.integers(0, 3, n),
    }
    path = str(write_table(dataset / "labels.parquet", table, row_group_size=750))
    for args in (
        ["accuracy", "-p", "p", "--baseline-pred", "b", "--min-decrease", "0.2"],
        ["log_loss", "-p", "q0,q1,q2", "--baseline-pred", "q0,q2,q1", "--max-increase", "0"],
    ):
        common = [*args, path, "-t", "y", "-g", "g", "-f", "json", "--confidence", "0.9"]
        local = invoke([*common, "--chunk-size", "700"])
        dask = ["--engine", "dask", "--scheduler", cluster, "--unit-rows", "1000"]
        on_dask = invoke([*common, "--chunk-size", "700", *dask])
        assert local.code in (0, 1) and on_dask.code == local.code, on_dask.err
        assert on_dask.json["gates"] == local.json["gates"] and len(local.json["gates"]) == 4
        assert all(g["method"] == "normal paired" for g in local.json["gates"])
