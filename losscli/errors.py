"""Exit codes and the domain errors the core raises; the CLI edge turns them into exit codes."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented process exit statuses (README, SPEC §5)."""

    OK = 0
    GATE_FAILED = 1
    USAGE = 2
    DATA = 3
    INTERRUPTED = 130


class LossCliError(Exception):
    """Base of every error losscli reports as one line on stderr.

    ``where`` collects the location (file, column, row) so the message names it.
    """

    exit_code: ExitCode = ExitCode.DATA

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        column: str | None = None,
        row: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.column = column
        self.row = row

    def located(self) -> str:
        """The message prefixed with ``file: column 'c', row r:`` where known."""
        parts = []
        if self.file is not None:
            parts.append(self.file)
        if self.column is not None:
            parts.append(f"column '{self.column}'")
        if self.row is not None:
            parts.append(f"row {self.row}")
        return (", ".join(parts) + ": " + self.message) if parts else self.message

    def __str__(self) -> str:
        return self.located()


class UsageError(LossCliError):
    """Bad options or arguments (exit 2): a wrong column name, a parameter out of range."""

    exit_code = ExitCode.USAGE


class InputError(LossCliError):
    """A file that cannot be read: missing, unreadable, corrupt, wrong format (exit 3)."""


class DataError(LossCliError):
    """Readable input whose values are unusable: non-numeric text, NaN, a domain error (exit 3)."""


class OutputError(LossCliError):
    """Output that cannot be written: a full disk, a read-only directory, an I/O error (exit 3).
    No partial file is left behind."""


def io_error_text(exc: OSError, what: str | None = None) -> str:
    """``cannot write --junit r.xml: No space left on device`` (or ``I/O error: ...``)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if "[errno " in reason:  # Arrow: "Error writing bytes to file. Detail: [errno 28] No space..."
        reason = reason.rsplit("] ", 1)[-1]
    if what is None:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"I/O error: {reason}{where}"
    return f"cannot write {what}: {reason}"


class EmptyInputError(DataError):
    """No rows to score."""
