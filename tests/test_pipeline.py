"""Shell pipelines and terminals: ``| head``, Ctrl-C, SIGTERM and ``-o``, stdout/stderr
discipline, colour and truncation, the progress bar, and shell completion (SPEC §4–§5)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from losscli.cli import progress as progress_module
from losscli.cli.app import run_cli
from losscli.cli.progress import ProgressBar, input_totals
from losscli.report.terminal import Environment
from tests.conftest import ROOT, SAMPLE, invoke, run_process, write_table

ON_LINUX = sys.platform.startswith("linux")


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    n = 200_000
    rng = np.random.default_rng(3)
    folder = tmp_path_factory.mktemp("big")
    return write_table(
        folder / "big.parquet", {"pred": rng.normal(size=n), "target": rng.normal(size=n)}
    )


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CI", "NO_COLOR", "LOSSCLI_DEBUG", "GITHUB_STEP_SUMMARY")
    }
    env.update(extra)
    return env


# -- | head and closed stdout ------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_head_exit_status_is_0_under_pipefail(big: Path, fmt: str) -> None:
    proc = subprocess.run(
        f"set -o pipefail; {sys.executable} -m losscli mse {big} -r none -f {fmt} | head -n 2",
        shell=True,
        capture_output=True,
        check=False,
        executable="/bin/bash",
        env=_env(),
    )
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert len(proc.stdout.splitlines()) == 2


# -- signals ------------------------------------------------------------------------------------
def _started(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Wait until the CLI is running (pyarrow loaded: past start-up, inside run_cli)."""
    deadline = time.monotonic() + timeout
    maps = Path(f"/proc/{proc.pid}/maps")
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"exited early: {proc.returncode}, {proc.stderr.read() if proc.stderr else b''!r}"
            )
        if ON_LINUX and maps.exists() and "libarrow" in maps.read_text(errors="replace"):
            time.sleep(0.2)
            return
        if not ON_LINUX and time.monotonic() > deadline - timeout + 2:
            return
        time.sleep(0.05)
    raise AssertionError("the CLI did not start")


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def slow_stdin_run(tmp_path: Path) -> Iterator[object]:
    """Start ``losscli ARGS -`` reading a CSV from a pipe that stays open (a run in progress)."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "losscli", *args, "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(),
            cwd=tmp_path,
            # as a terminal starts it: a suite run in the background of a non-interactive
            # shell inherits SIGINT ignored, and a program keeps an ignored SIGINT ignored
            preexec_fn=_default_sigint if ON_LINUX else None,
        )
        procs.append(proc)
        assert proc.stdin is not None
        # more than the 64 KiB header probe, so the run is inside the CSV reader, mid-stream
        proc.stdin.write(b"pred,target\n" + b"1.5,1\n" * 50_000)
        proc.stdin.flush()
        _started(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def _finish(proc: subprocess.Popen[bytes], sig: int) -> tuple[int, bytes, bytes]:
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=20)
    return proc.returncode, out, err


def test_ctrl_c_exits_130_without_traceback(slow_stdin_run: object) -> None:
    proc = slow_stdin_run("mse", "--chunk-size", "100")  # type: ignore[operator]
    code, out, err = _finish(proc, signal.SIGINT)
    assert code == 130
    assert out == b""
    assert b"Traceback" not in err
    assert err.decode().strip().splitlines() == ["losscli: error: interrupted"]


def test_sigterm_is_quiet(slow_stdin_run: object) -> None:
    proc = slow_stdin_run("mse", "--chunk-size", "100")  # type: ignore[operator]
    assert _finish(proc, signal.SIGTERM) == (143, b"", b"")


@pytest.mark.parametrize("name", ["rows.csv", "rows.parquet"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_leaves_no_partial_output_file(
    slow_stdin_run: object, tmp_path: Path, name: str, sig: int
) -> None:
    proc = slow_stdin_run("mse", "-r", "none", "--chunk-size", "100", "-o", name)  # type: ignore[operator]
    code, out, err = _finish(proc, sig)
    if sig == signal.SIGTERM:
        assert (code, err) == (143, b"")
    else:
        assert code == 130
        assert err.decode().strip().splitlines() == ["losscli: error: interrupted"]
    assert out == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # neither rows.* nor a .part file


def test_output_file_appears_only_when_complete(tmp_path: Path) -> None:
    source = write_table(tmp_path / "d.csv", {"pred": [1.0, 2.0], "target": [1.0, 1.0]})
    proc = run_process(["mse", str(source), "-r", "none", "-o", str(tmp_path / "rows.csv")])
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    assert (tmp_path / "rows.csv").read_text() == "mse\n0\n1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "rows.csv"]


# -- stdout for results, stderr for the rest -------------------------------------------------
def test_results_on_stdout_failures_on_stderr(tmp_path: Path) -> None:
    source = write_table(tmp_path / "d.csv", {"pred": [1.0, 3.0], "target": [2.0, 1.0]})
    proc = run_process(["mse", str(source), "--max", "1"], env=_env())
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["passed"] is False  # stdout is the JSON result, nothing else
    assert proc.stderr.decode().splitlines() == ["losscli: gate failed: mse = 2.5 > max 1"]


def test_dash_and_implicit_stdin(tmp_path: Path) -> None:
    data = b"pred,target\n1,2\n3,1\n"
    for args in (["mse", "-", "-f", "value"], ["mse", "-f", "value"]):
        proc = run_process(args, stdin=data)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"2.5\n", b"")


# -- colour and truncation --------------------------------------------------------------------
@pytest.fixture
def wide(tmp_path: Path) -> Path:
    long_key = "segment-" + "x" * 150
    return write_table(
        tmp_path / "w.csv",
        {"pred": [1.0, 3.0], "target": [2.0, 1.0], "seg": [long_key, "short"]},
    )


def test_colour_on_a_terminal_only(wide: Path) -> None:
    args = ["mse", str(wide), "-g", "seg", "--max", "3", "-f", "table"]
    assert "\x1b[" in invoke(args, tty=True, env={"TERM": "xterm-256color"}).out
    for env in ({"NO_COLOR": "1"}, {"TERM": "dumb"}):
        assert "\x1b[" not in invoke(args, tty=True, env=env).out
    piped = invoke(args, tty=False)
    assert "\x1b[" not in piped.out + piped.err


def test_piped_table_is_not_truncated(wide: Path) -> None:
    out = invoke(["mse", str(wide), "-g", "seg", "-f", "table"]).out
    assert "segment-" + "x" * 150 in out
    assert "…" not in out
    summary = invoke(["check", _gate_file(wide), "-f", "table"]).out
    assert "segment-" + "x" * 150 in summary and "…" not in summary


def _gate_file(data: Path) -> str:
    path = data.parent / "g.toml"
    path.write_text(f'[[check]]\nfile = "{data.name}"\nloss = "mse"\ngroup_by = "seg"\nmax = 9\n')
    return str(path)


def test_real_process_table_has_no_colour_codes(wide: Path) -> None:
    proc = run_process(["mse", str(wide), "-f", "table"], env=_env(TERM="xterm-256color"))
    assert proc.returncode == 0
    assert b"\x1b[" not in proc.stdout and proc.stderr == b""


# -- the progress bar ------------------------------------------------------------------------
def _terminal_env(err: io.StringIO, out: io.StringIO, **env: str) -> Environment:
    return Environment(
        stdout=out,
        stderr=err,
        stdin=None,
        stdout_isatty=False,
        stderr_isatty=True,
        stdin_isatty=True,
        env={"TERM": "xterm", **env},
    )


@pytest.fixture
def show_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "SHOW_AFTER_SECONDS", 0.0)


def test_progress_bar_on_a_faked_terminal(big: Path, show_at_once: None) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = run_cli(["mse", str(big), "--chunk-size", "20000"], _terminal_env(err, out))
    assert code == 0
    assert json.loads(out.getvalue())["rows"] == 200_000  # stdout holds only the result
    drawn = err.getvalue()
    assert "big.parquet" in drawn
    assert " rows" in drawn and "rows/s" in drawn and "MB" in drawn
    assert "\x1b[?25l" in drawn  # rich hid the cursor: it drew on a terminal


@pytest.mark.parametrize(
    ("env", "args"),
    [({"CI": "true"}, []), ({}, ["--quiet"]), ({"TERM": "dumb"}, [])],
    ids=["ci", "quiet", "dumb-terminal"],
)
def test_no_progress_in_ci_quiet_or_dumb(
    big: Path, show_at_once: None, env: dict[str, str], args: list[str]
) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = run_cli(
        ["mse", str(big), "--chunk-size", "20000", *args], _terminal_env(err, out, **env)
    )
    assert (code, err.getvalue()) == (0, "")


def test_no_progress_on_a_pipe(big: Path, show_at_once: None) -> None:
    result = invoke(["mse", str(big), "--chunk-size", "20000"])  # stderr is not a terminal
    assert (result.code, result.err) == (0, "")
    proc = run_process(["mse", str(big), "--chunk-size", "5000", "-f", "value"], env=_env())
    assert proc.returncode == 0 and proc.stderr == b""


def test_progress_bar_counts_and_estimates() -> None:
    now = [0.0]
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    bar = ProgressBar(
        console, total_bytes=1000, total_rows=100, clock=lambda: now[0], show_after=0.5
    )
    bar.advance(10, 0)
    assert not bar.shown and buffer.getvalue() == ""  # a quick run shows nothing
    now[0] = 1.0
    bar.advance(40, 0)
    assert bar.shown
    assert (bar.rows, bar.bytes_read, bar.rate()) == (
        50,
        500,
        50.0,
    )  # half the rows: half the bytes
    bar.advance(50, 1000)
    assert bar.bytes_read == 1000
    bar.close()
    assert not bar.shown
    unknown = ProgressBar(console, total_bytes=None, total_rows=None, clock=lambda: now[0])
    unknown.advance(7, 0)
    assert unknown.bytes_read == 0 and unknown.rows == 7


def test_input_totals(tmp_path: Path, big: Path) -> None:
    csv_path = write_table(tmp_path / "d.csv", {"pred": [1.0] * 10, "target": [2.0] * 10})
    assert input_totals([str(csv_path)]) == (csv_path.stat().st_size, 10)
    assert input_totals([str(big)]) == (big.stat().st_size, 200_000)
    assert input_totals(["-"]) == (None, None)
    gz = write_table(tmp_path / "d.csv.gz", {"pred": [1.0], "target": [2.0]})
    assert input_totals([str(gz)]) == (gz.stat().st_size, None)  # rows unknown when compressed


# -- shell completion ---------------------------------------------------------------------------
def test_bash_completion_script_and_completions() -> None:
    script = run_process([], env=_env(_LOSSCLI_COMPLETE="bash_source"))
    assert script.returncode == 0
    assert b"_losscli_completion()" in script.stdout
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "losscli")] if (ROOT / ".venv" / "bin" / "losscli").exists()
        else [sys.executable, "-m", "losscli"],
        env=_env(_LOSSCLI_COMPLETE="bash_complete", COMP_WORDS="losscli mse --max-", COMP_CWORD="2"),
        capture_output=True,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0
    assert proc.stdout.decode().splitlines() == ["plain,--max-increase"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("fmt", ["json", "table", "csv"])
def test_full_disk_is_one_line_and_exit_3(fmt: str) -> None:
    """stdout on a full disk: one line naming the I/O error, status 3, no traceback."""
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "losscli", "mse", str(SAMPLE / "predictions.csv"), "-f", fmt],
            stdout=full,
            stderr=subprocess.PIPE,
            check=False,
        )
    assert proc.returncode == 3
    assert proc.stderr == b"losscli: error: I/O error: No space left on device\n"
