"""Shared fixtures: data files of every kind and a CLI runner over a simulated environment."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from losscli.cli.app import run_cli
from losscli.report.terminal import Environment

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    @property
    def json(self) -> dict:
        import json

        return json.loads(self.out)


class _BinaryStdin(io.BytesIO):
    def peek(self, n: int = 0) -> bytes:
        pos = self.tell()
        data = self.read(max(n, 1))
        self.seek(pos)
        return data


def invoke(
    args: list[str],
    *,
    stdin: bytes | None = None,
    tty: bool = False,
    env: dict[str, str] | None = None,
) -> Outcome:
    """Run the CLI in-process with captured streams (stdout a pipe unless ``tty``)."""
    out, err = io.StringIO(), io.StringIO()
    environment = Environment(
        stdout=out,
        stderr=err,
        stdin=_BinaryStdin(stdin) if stdin is not None else None,
        stdout_isatty=tty,
        stderr_isatty=False,
        stdin_isatty=stdin is None,
        env=env or {},
    )
    code = run_cli(args, environment)
    return Outcome(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli() -> Callable[..., Outcome]:
    return invoke


def run_process(
    args: list[str],
    *,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m losscli`` as a real process."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("LOSSCLI_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "losscli", *args],
        input=stdin,
        capture_output=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


def write_table(path: Path, columns: dict[str, object], **kwargs: object) -> Path:
    """Write ``columns`` to ``path`` as CSV (any compression by extension) or Parquet."""
    table = pa.table(columns)
    name = path.name
    if name.endswith((".parquet", ".pq")):
        pq.write_table(table, path, **kwargs)  # type: ignore[arg-type]
    else:
        delimiter = "\t" if ".tsv" in name else ","
        options = pacsv.WriteOptions(delimiter=delimiter, quoting_style="needed")
        compression = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}.get(path.suffix)
        if compression:
            with pa.CompressedOutputStream(str(path), compression) as stream:
                pacsv.write_csv(table, stream, write_options=options)
        else:
            pacsv.write_csv(table, path, write_options=options)
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261124)


# -- object storage: one S3-compatible server (moto) and one HTTP(S) server per session --------
@pytest.fixture(scope="session")
def s3_server() -> Iterator[Any]:
    """moto's S3 on 127.0.0.1 (tests/servers.py), found through ``AWS_ENDPOINT_URL`` with dummy
    credentials; config files point nowhere so a developer's own profile never leaks in."""
    from tests.servers import S3Server

    server = S3Server()
    server.start()
    patch = pytest.MonkeyPatch()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing-secret",
        "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_ENDPOINT_URL": server.endpoint,
    }.items():
        patch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        patch.delenv(name, raising=False)
    try:
        yield server
    finally:
        patch.undo()
        server.stop()


def s3_filesystem(server: Any) -> Any:
    """An Arrow filesystem on the test server that may create buckets (for uploads)."""
    import pyarrow.fs as pafs

    return pafs.S3FileSystem(
        endpoint_override=server.endpoint.split("://", 1)[1],
        scheme="http",
        region="us-east-1",
        access_key="testing",
        secret_key="testing-secret",
        allow_bucket_creation=True,
    )
