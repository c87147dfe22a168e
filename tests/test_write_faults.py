"""Faults while writing (issue 10): a full disk, a read-only directory, a closed or full stdout.

Each is exit 3 with one line naming what could not be written, no partial file is left, and a
failed gate still exits 1 when the verdict was already known (a check that could not run, 2 or
3, outranks both). A full disk is simulated with ``RLIMIT_FSIZE`` (writes past the limit fail
with EFBIG like ENOSPC would) and ``/dev/full``.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke, write_table

LIMIT = 4096  # bytes any file of the child process may reach


def _small_files_only() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def _run(args: list[str], *, stdout: object = subprocess.PIPE, limited: bool = False,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "losscli", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        preexec_fn=_small_files_only if limited else None,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


@pytest.fixture
def many_groups(tmp_path: Path) -> Path:
    n = 400  # enough groups for a JUnit file and a summary far above LIMIT
    return write_table(
        tmp_path / "data.csv",
        {
            "pred": [float(i % 7) for i in range(n)],
            "target": [0.0] * n,
            "seg": [f"segment-{i}" for i in range(n)],
        },
    )


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".losscli-"))


def _one_error(stderr: bytes) -> str:
    lines = [line for line in stderr.decode().splitlines() if "gate failed" not in line]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize("max_", ["1000", "1"])  # the gate passes / fails
def test_junit_on_a_full_disk(tmp_path: Path, many_groups: Path, max_: str) -> None:
    junit = tmp_path / "out" / "report.xml"
    junit.parent.mkdir()
    junit.write_text("old report", encoding="utf-8")
    args = ["mse", str(many_groups), "-g", "seg", "--max", max_, "--junit", str(junit)]
    result = _run(args, limited=True)
    assert result.returncode == (3 if max_ == "1000" else 1)
    assert _one_error(result.stderr) == (
        f"losscli: error: cannot write --junit {junit}: File too large"
    )
    assert junit.read_text(encoding="utf-8") == "old report"  # the earlier file, untouched
    assert _leftovers(junit.parent) == []
    assert result.stdout.startswith(b"{")  # the result itself was written


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_output_on_a_full_disk(tmp_path: Path, suffix: str) -> None:
    n = 20_000
    data = write_table(tmp_path / "rows.parquet", {"pred": [0.5] * n, "target": [0.0] * n})
    out = tmp_path / "out" / f"rows{suffix}"
    out.parent.mkdir()
    result = _run(["mse", str(data), "-r", "none", "-o", str(out)], limited=True)
    assert result.returncode == 3
    assert (
        _one_error(result.stderr) == f"losscli: error: cannot write --output {out}: File too large"
    )
    assert list(out.parent.iterdir()) == []


def test_step_summary_on_a_full_disk_is_cut_back(tmp_path: Path, many_groups: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    result = _run(["mse", str(many_groups), "-g", "seg", "--max", "1000"], limited=True, env=env)
    assert result.returncode == 3
    assert _one_error(result.stderr) == (
        f"losscli: error: cannot write GITHUB_STEP_SUMMARY {summary}: File too large"
    )
    assert summary.read_text(encoding="utf-8") == "earlier step\n"  # no half summary


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("max_, code", [("1000", 3), ("1", 1)])
def test_full_stdout_with_a_gate(tmp_path: Path, many_groups: Path, max_: str, code: int) -> None:
    junit = tmp_path / "report.xml"
    args = ["mse", str(many_groups), "-g", "seg", "--max", max_, "--junit", str(junit)]
    with open("/dev/full", "w") as full:
        result = _run(args, stdout=full)
    assert result.returncode == code
    assert (
        _one_error(result.stderr) == "losscli: error: cannot write stdout: No space left on device"
    )
    assert len(ET.parse(junit).getroot().findall("testsuite/testcase")) == 401  # still written


def _read_only_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory the process may not create files in. Root may write anywhere it may chmod:
    sysfs refuses even root where it is mounted read-write; elsewhere (a container with /sys
    read-only) the refusal is made at the one call both writers create files with,
    ``tempfile.mkstemp``, raising what the kernel raises (EACCES)."""
    directory = tmp_path / "read-only"
    directory.mkdir()
    directory.chmod(0o500)
    if os.geteuid() != 0:
        return directory
    import errno
    import tempfile

    try:
        handle, name = tempfile.mkstemp(dir="/sys")
    except PermissionError:
        return Path("/sys")
    except OSError:
        pass
    else:
        os.close(handle)
        os.unlink(name)
    real_mkstemp = tempfile.mkstemp

    def refuse_in_directory(*args: Any, **kwargs: Any) -> Any:
        if Path(kwargs.get("dir") or "") == directory:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(directory))
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", refuse_in_directory)
    return directory


def test_read_only_directory(
    tmp_path: Path, many_groups: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = _read_only_directory(tmp_path, monkeypatch)
    for args, what in [
        (["-r", "none", "-o", str(directory / "rows.csv")], f"--output {directory / 'rows.csv'}"),
        (["--max", "1000", "--junit", str(directory / "j.xml")], f"--junit {directory / 'j.xml'}"),
    ]:
        result = invoke(["mse", str(many_groups), *args])
        assert result.code == 3
        assert result.err == f"losscli: error: cannot write {what}: Permission denied\n"


def test_two_runs_writing_the_same_output(tmp_path: Path) -> None:
    n = 300_000
    data = write_table(tmp_path / "rows.parquet", {"pred": [float(i) for i in range(n)],
                                                   "target": [0.0] * n})  # fmt: skip
    out = tmp_path / "out" / "rows.csv"
    out.parent.mkdir()
    args = [sys.executable, "-m", "losscli", "mse", str(data), "-r", "none", "-o", str(out)]
    runs = [subprocess.Popen(args, stderr=subprocess.PIPE) for _ in range(2)]
    for run in runs:
        assert run.wait(timeout=60) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "mse" and len(lines) == n + 1
    assert float(lines[-1]) == float(n - 1) ** 2
    assert os.listdir(out.parent) == ["rows.csv"]
