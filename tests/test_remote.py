"""Data where it lives: s3:// (a moto server on localhost), http(s):// (a local Range server).

Every remote result is compared with the same command on the local copy of the data (same
reader code, so the same digits); the request logs show what was fetched."""

from __future__ import annotations

import gzip
import json
import math
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from losscli.io import remote
from tests.conftest import invoke, s3_filesystem, write_table

ROWS = 3000


def _table(seed: int, n: int = ROWS) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    pred = rng.normal(size=n) * 3
    columns: dict[str, Any] = {
        "pred": pred,
        "target": pred + rng.normal(size=n),
        "w": rng.uniform(0.5, 2.0, size=n),
        "segment": rng.choice(np.array(["a", "b", "c"]), size=n),
    }
    for j in range(12):  # columns a scoring run must never fetch
        columns[f"extra{j}"] = rng.normal(size=n)
    return columns


@pytest.fixture(scope="session")
def local_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("remote-data")
    (root / "ds").mkdir()
    for i in range(3):
        write_table(root / "ds" / f"part-{i}.parquet", _table(i), row_group_size=500)
    (root / "ds" / "_SUCCESS").write_bytes(b"")
    write_table(root / "preds.csv", _table(7))
    with gzip.open(root / "preds.csv.gz", "wb") as fh:
        fh.write((root / "preds.csv").read_bytes())
    bad = _table(8, 50)
    bad_text = [repr(float(v)) for v in bad["pred"]]
    bad_text[36] = "oops"
    write_table(root / "bad.csv", {"pred": bad_text, "target": bad["target"]})
    full = _table(9)
    write_table(root / "preds_only.parquet", {"pred": full["pred"]}, row_group_size=1000)
    write_table(root / "truth.parquet", {"target": full["target"]}, row_group_size=700)
    return root


@pytest.fixture(scope="session")
def s3_data(s3_server: Any, local_data: Path) -> Any:
    fs = s3_filesystem(s3_server)
    for bucket in ("data-bkt", "denied-bkt", "eu-bkt"):
        fs.create_dir(bucket)
    for path in sorted(local_data.rglob("*")):
        if path.is_file():
            with fs.open_output_stream(
                f"data-bkt/{path.relative_to(local_data)}", compression=None
            ) as out:
                out.write(path.read_bytes())
    for bucket in ("denied-bkt", "eu-bkt"):
        with fs.open_output_stream(f"{bucket}/x.parquet") as out:
            out.write((local_data / "ds" / "part-0.parquet").read_bytes())
    s3_server.denied.add("denied-bkt")
    s3_server.regions["eu-bkt"] = "eu-west-1"
    return s3_server


@pytest.fixture(scope="session")
def http_server(local_data: Path) -> Iterator[Any]:
    from tests.servers import HTTPServer

    server = HTTPServer(str(local_data))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def https_server(local_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """HTTPS with a self-signed certificate for 127.0.0.1, trusted through SSL_CERT_FILE."""
    from tests.servers import HTTPServer

    tls = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(tls / "key.pem"),
            "-out",
            str(tls / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls / "cert.pem", tls / "key.pem")
    server = HTTPServer(str(local_data), ssl_context=context)
    server.cert = str(tls / "cert.pem")  # type: ignore[attr-defined]
    server.start()
    yield server
    server.stop()


def _json(args: list[str]) -> dict[str, Any]:
    out = invoke(args)
    assert out.code == 0, out.err
    return out.json


def _same(remote_args: list[str], local_args: list[str]) -> dict[str, Any]:
    """The remote run's JSON equals the local run's, value for value, apart from file names."""
    got, want = _json(remote_args), _json(local_args)
    for doc in (got, want):
        for entry in doc.get("results", [doc]):
            entry.pop("files", None)
    assert got == want
    return got


# -- URIs ----------------------------------------------------------------------------------------
def test_redact_masks_user_info_and_signatures() -> None:
    url = (
        "https://user:pw@host.example/a.parquet?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAEXAMPLE%2F2026&X-Amz-Signature=abc123&X-Amz-Security-Token=tok"
        "&keep=1"
    )
    assert remote.redact(f"cannot read {url}: boom") == (
        "cannot read https://***@host.example/a.parquet?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Security-Token=***&keep=1: boom"
    )
    assert remote.redact("gs://b/x?X-Goog-Signature=s&sig=S&token=T&access_token=A") == (
        "gs://b/x?X-Goog-Signature=***&sig=***&token=***&access_token=***"
    )
    assert remote.redact("s3://bucket/dir/key.parquet") == "s3://bucket/dir/key.parquet"


def test_parse_keeps_credentials_out_of_uris() -> None:
    assert remote.parse("s3://bkt/a/b.parquet") == remote.Location("s3", "bkt", "a/b.parquet")
    assert remote.parse("gcs://bkt/a") == remote.Location("gs", "bkt", "a")
    assert remote.parse("https://h:8/x.parquet?v=1").fs_path == "https://h:8/x.parquet?v=1"
    out = invoke(["mse", "s3://AKIAKEY:secret@bkt/x.parquet"])
    assert out.code == 3
    assert "secret" not in out.err and "credentials do not belong in the URI" in out.err


def test_endpoint_comes_from_aws_endpoint_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """pyarrow itself ignores AWS_ENDPOINT_URL(_S3) (apache/arrow#49643): we pass it on."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://one.example:9000")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "https://two.example:9001/base")
    assert remote.s3_endpoint() == "https://two.example:9001/base"
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    assert remote.s3_endpoint() == "http://one.example:9000"


# -- S3: the same digits as the local files --------------------------------------------------------
def test_s3_prefix_glob_and_file_equal_local(s3_data: Any, local_data: Path) -> None:
    ds = str(local_data / "ds")
    doc = _same(
        ["mse", "s3://data-bkt/ds/", "-g", "segment", "-w", "w"],
        ["mse", ds, "-g", "segment", "-w", "w"],
    )
    assert doc["rows"] == 3 * ROWS
    files = _json(["mse", "s3://data-bkt/ds"])["files"]
    assert files == [f"s3://data-bkt/ds/part-{i}.parquet" for i in range(3)]  # _SUCCESS skipped
    _same(["mae", "s3://data-bkt/ds/part-[02].parquet"], ["mae", f"{ds}/part-[02].parquet"])
    _same(["huber", "s3://data-bkt/**/part-1.parquet"], ["huber", f"{ds}/part-1.parquet"])
    _same(
        ["eval", "s3://data-bkt/preds.csv", "-m", "mse", "-m", "r2", "-m", "median_absolute_error"],
        [
            "eval",
            str(local_data / "preds.csv"),
            "-m",
            "mse",
            "-m",
            "r2",
            "-m",
            "median_absolute_error",
        ],
    )
    _same(["rmse", "s3://data-bkt/preds.csv.gz"], ["rmse", str(local_data / "preds.csv")])


def test_s3_parquet_fetches_only_the_needed_column_chunks(s3_data: Any, local_data: Path) -> None:
    start = len(s3_data.log)
    _json(["mse", "s3://data-bkt/ds/part-1.parquet"])
    gets = [r for m, p, _, r in s3_data.requests_since(start) if m == "GET" and "part-1" in p]
    assert gets and all(r is not None and r.startswith("bytes=") for r in gets)
    spans = sorted(tuple(map(int, r[6:].split("-"))) for r in gets)  # type: ignore[index]
    fetched = sum(b - a + 1 for a, b in set(spans))
    local = local_data / "ds" / "part-1.parquet"
    meta = pq.ParquetFile(local).metadata
    needed = sum(
        meta.row_group(g).column(c).total_compressed_size
        for g in range(meta.num_row_groups)
        for c in (0, 1)  # pred, target
    )
    size = local.stat().st_size
    assert needed <= fetched < needed + 70_000 < size  # the column chunks plus the footer read


def test_s3_targets_from_baseline_and_check_file(s3_data: Any, local_data: Path) -> None:
    _same(
        [
            "mse",
            "s3://data-bkt/preds_only.parquet",
            "--targets-from",
            "s3://data-bkt/truth.parquet",
        ],
        [
            "mse",
            str(local_data / "preds_only.parquet"),
            "--targets-from",
            str(local_data / "truth.parquet"),
        ],
    )
    baseline = _json(["mse", "s3://data-bkt/ds/part-0.parquet"])
    fs = s3_filesystem(s3_data)
    with fs.open_output_stream("data-bkt/results/baseline.json") as out:
        out.write(json.dumps(baseline).encode())
    gated = invoke(
        [
            "mse",
            "s3://data-bkt/ds/part-0.parquet",
            "--baseline",
            "s3://data-bkt/results/baseline.json",
            "--max-increase",
            "0",
        ]
    )
    assert gated.code == 0, gated.err
    toml = (
        '[[check]]\nname = "remote"\nloss = "mae"\nfile = "../ds/"\nmax = 100.0\n'
        '[[check]]\nname = "pair"\nloss = "mse"\nfile = "s3://data-bkt/preds_only.parquet"\n'
        'targets_from = "../truth.parquet"\nmax = 100.0\n'
    )
    with fs.open_output_stream("data-bkt/gates/losscli.toml") as out:
        out.write(toml.encode())
    checked = invoke(
        ["check", "s3://data-bkt/gates/losscli.toml", "--format", "json", "--no-ci-report"]
    )
    assert checked.code == 0, checked.err
    values = [c["value"] for c in checked.json["checks"]]
    assert checked.json["checks"][0]["files"][0] == "s3://data-bkt/ds/part-0.parquet"
    local_mae = _json(["mae", str(local_data / "ds")])["value"]
    local_pair = _json(
        [
            "mse",
            str(local_data / "preds_only.parquet"),
            "--targets-from",
            str(local_data / "truth.parquet"),
        ]
    )["value"]
    assert values == [local_mae, local_pair]


def test_s3_bad_text_is_located_like_a_local_file(s3_data: Any, local_data: Path) -> None:
    out = invoke(["mse", "s3://data-bkt/bad.csv"])
    local = invoke(["mse", str(local_data / "bad.csv")])
    assert out.code == local.code == 3
    assert out.err == local.err.replace(str(local_data / "bad.csv"), "s3://data-bkt/bad.csv")
    assert "column 'pred', row 37" in out.err


# -- S3 errors: one line, exit 3, the URI named (redacted) --------------------------------------
@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("s3://no-such-bkt/x.parquet", "s3://no-such-bkt/x.parquet: no such bucket: no-such-bkt"),
        (
            "s3://data-bkt/missing.parquet",
            "s3://data-bkt/missing.parquet: no such object or prefix",
        ),
        ("s3://data-bkt/ds/*.csv", "s3://data-bkt/ds/*.csv: no object matches this pattern"),
        ("s3://denied-bkt/x.parquet", "s3://denied-bkt/x.parquet: access denied (check the"),
        (
            "s3://eu-bkt/x.parquet",
            "s3://eu-bkt/x.parquet: wrong region (the bucket is in eu-west-1)",
        ),
    ],
)
def test_s3_errors(s3_data: Any, uri: str, message: str) -> None:
    out = invoke(["mse", uri])
    assert out.code == 3
    assert out.err.startswith(f"losscli: error: {message}"), out.err
    assert out.err.count("\n") == 1 and "Traceback" not in out.err


def test_unreachable_store_fails_in_bounded_time(monkeypatch: pytest.MonkeyPatch) -> None:
    silent = socket.socket()  # accepts connections, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{silent.getsockname()[1]}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("LOSSCLI_REMOTE_TIMEOUT", "0.2")
    monkeypatch.setenv("LOSSCLI_REMOTE_ATTEMPTS", "2")
    remote.filesystem.cache_clear()
    try:
        began = time.monotonic()
        out = invoke(["mse", "s3://slow-bkt/x.parquet"])
        assert time.monotonic() - began < 10
    finally:
        silent.close()
        remote.filesystem.cache_clear()
    assert out.code == 3
    assert out.err.startswith("losscli: error: s3://slow-bkt/x.parquet: timed out after retries")


# -- HTTP(S) ---------------------------------------------------------------------------------------
def test_http_parquet_by_ranges(http_server: Any, local_data: Path) -> None:
    start = len(http_server.log)
    _same(
        ["mse", f"{http_server.url}/ds/part-2.parquet"],
        ["mse", str(local_data / "ds" / "part-2.parquet")],
    )
    gets = [r for m, p, r in http_server.log[start:] if m == "GET" and p.endswith("part-2.parquet")]
    assert gets and all(r and r.startswith("bytes=") for r in gets), http_server.log[start:]


def test_https_with_a_trusted_certificate(
    https_server: Any, local_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", https_server.cert)
    remote.filesystem.cache_clear()
    try:
        _same(["mae", f"{https_server.url}/preds.csv"], ["mae", str(local_data / "preds.csv")])
    finally:
        remote.filesystem.cache_clear()


def test_http_errors_are_redacted(http_server: Any) -> None:
    url = f"{http_server.url}/nope.parquet?X-Amz-Signature=SECRETSIG&X-Amz-Credential=AKIAID"
    out = invoke(["mse", url])
    assert out.code == 3
    assert "SECRETSIG" not in out.err and "AKIAID" not in out.err
    assert "X-Amz-Signature=***" in out.err and "no such object" in out.err


# -- start-up ------------------------------------------------------------------------------------
def test_a_local_run_loads_no_remote_or_cluster_modules(local_data: Path) -> None:
    script = (
        "import sys; from losscli.cli.app import main\n"
        "try:\n    main(['mse', sys.argv[1], '--format', 'value'])\n"
        "except SystemExit:\n    pass\n"
        "bad = [m for m in ('dask', 'distributed', 'fsspec', 'aiohttp', 'pyarrow.fs', "
        "'losscli.io.remote', 'losscli.engine.dask') if m in sys.modules]\n"
        "print(bad, file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(local_data / "ds" / "part-0.parquet")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.stderr.strip().splitlines()[-1] == "[]", done.stderr
    assert math.isfinite(float(done.stdout))


def test_a_signed_url_is_redacted_in_json_output(http_server: Any, local_data: Path) -> None:
    url = f"{http_server.url}/preds.csv?X-Amz-Credential=AKIAID&X-Amz-Signature=SECRETSIG"
    out = invoke(["mae", url, "--format", "json"])
    assert out.code == 0, out.err
    assert "SECRETSIG" not in out.out and "AKIAID" not in out.out
    assert out.json["files"] == [
        f"{http_server.url}/preds.csv?X-Amz-Credential=***&X-Amz-Signature=***"
    ]
    assert out.json["value"] == _json(["mae", str(local_data / "preds.csv")])["value"]


def test_gcs_filesystem_from_the_standard_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """gs:// goes through pyarrow's GCS client (no request is made here); an emulator is named
    as for Google's own clients, with STORAGE_EMULATOR_HOST."""
    import pyarrow.fs as pafs

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9023")
    remote.filesystem.cache_clear()
    try:
        fs = remote.filesystem("gs", "some-bucket", False)
        assert isinstance(fs, pafs.GcsFileSystem)
    finally:
        remote.filesystem.cache_clear()
