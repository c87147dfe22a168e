"""The console entry point: what must happen before any heavy import, and ``--version``.

Standard library only, so ``losscli --version`` answers without loading Click, NumPy or pyarrow,
and so the process settings below are in place before those libraries read them.
"""

from __future__ import annotations

import gc
import os
import sys

from losscli.cli.version import version_line

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms; `--version` needs none of it
    from typing import NoReturn

#: Set (unless the user already did) before NumPy and pyarrow load.
#: - BLAS reductions would start threads that fight the decoder threads for the cores.
#: - mimalloc (pyarrow's allocator) otherwise commits whole arena segments up front, which
#:   shows as ~25 MiB more peak RSS when decoding on several threads, for no speed gain.
#: - jemalloc (Arrow's pool on Linux, below) returns freed pages lazily with MADV_FREE, which
#:   stay in RSS until the kernel wants them back: returned at once instead (MADV_DONTNEED)
#:   once they have been idle the dirty decay time, a run over 1M text keys peaked ~20 MiB
#:   lower at the same speed (5 interleaved runs: 3.05 against 3.18 s of CPU).
PROCESS_ENVIRONMENT = {
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MIMALLOC_ARENA_EAGER_COMMIT": "0",
    "JE_ARROW_MALLOC_CONF": "muzzy_decay_ms:0",
}
#: Allocations between two young-generation garbage collections (CPython's default: 700).
GC_THRESHOLD = 50_000


def configure_process() -> None:
    """Apply :data:`PROCESS_ENVIRONMENT` defaults to this process.

    On Linux, where pyarrow's wheels always include jemalloc, Arrow also allocates with
    jemalloc: with a Parquet row group prefetched it kept peak RSS at 141 MiB on 50M rows
    (mimalloc: up to 173 MiB) at the same speed. (Choosing the pool through the environment
    matters: ``pyarrow.set_memory_pool`` leaves Arrow's C++ internals on the old pool, which
    was slower.) Elsewhere the default pool stays, to avoid Arrow's "unsupported backend"
    warning.
    """
    for name, value in PROCESS_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    # Importing NumPy, pyarrow and Click allocates ~10⁵ objects and no garbage cycles; at the
    # default threshold (700) the collector ran dozens of times for nothing (~8 ms of start-up).
    # Cycles are still collected, just in larger batches.
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    if sys.platform.startswith("linux"):
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")


def main() -> None:
    """``losscli``: answer ``--version`` at once, else run the Click application."""
    configure_process()
    if sys.argv[1:] in (["--version"], ["-V"]):
        sys.stdout.write(version_line() + "\n")
        sys.exit(0)
    try:
        from losscli.cli.app import main as cli_main

        cli_main()
    except SystemExit as exc:
        exit_now(exc.code if isinstance(exc.code, int) else 1)
    except KeyboardInterrupt:  # Ctrl-C while the heavy modules were still loading
        sys.stderr.write("losscli: error: interrupted\n")
        exit_now(130)


def exit_now(code: int) -> NoReturn:
    """Flush and leave at once. Interpreter teardown (freeing every module, Arrow's and
    NumPy's finalisers) took ~40 ms after a 50M-row Parquet run, and a finished CLI needs none
    of it: outputs are closed and renamed and temporary files removed before the CLI returns."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            pass  # `| head` closed it: nothing more can be said
        except OSError as exc:  # e.g. a full disk: the output is incomplete
            if stream is sys.stdout:
                try:
                    sys.stderr.write(f"losscli: error: I/O error: {exc.strerror or exc}\n")
                    sys.stderr.flush()
                except (OSError, ValueError):
                    pass
                code = code or 3
    os._exit(code)
