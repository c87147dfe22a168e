"""The one seam for the terminal: streams, TTY, colour, CI detection and consoles.

Tests build an :class:`Environment` directly to simulate a pipe, a terminal or a CI job.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class Environment:
    """Where output goes and how it should look."""

    __slots__ = (
        "env",
        "stderr",
        "stderr_isatty",
        "stdin",
        "stdin_isatty",
        "stdout",
        "stdout_isatty",
    )

    def __init__(
        self,
        stdout: IO[str],
        stderr: IO[str],
        stdin: IO[bytes] | None,
        stdout_isatty: bool,
        stderr_isatty: bool,
        stdin_isatty: bool,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.stdin = stdin
        self.stdout_isatty = stdout_isatty
        self.stderr_isatty = stderr_isatty
        self.stdin_isatty = stdin_isatty
        self.env: Mapping[str, str] = {} if env is None else env

    @classmethod
    def from_system(cls) -> Environment:
        stdin = getattr(sys.stdin, "buffer", None)
        return cls(
            stdout=sys.stdout,
            stderr=sys.stderr,
            stdin=stdin,
            stdout_isatty=_isatty(sys.stdout),
            stderr_isatty=_isatty(sys.stderr),
            stdin_isatty=_isatty(sys.stdin),
            env=dict(os.environ),
        )

    @property
    def no_color(self) -> bool:
        return "NO_COLOR" in self.env or self.env.get("TERM") == "dumb"

    @property
    def in_ci(self) -> bool:
        return bool(self.env.get("CI")) and self.env.get("CI", "").lower() not in ("0", "false")

    def console(self, *, stderr: bool = False) -> Console:
        """A rich console on stdout or stderr: colour only on a terminal without NO_COLOR, and
        no truncation or wrapping when the output is piped."""
        from rich.console import Console

        tty = self.stderr_isatty if stderr else self.stdout_isatty
        return Console(
            file=self.stderr if stderr else self.stdout,
            force_terminal=tty and self.env.get("TERM") != "dumb",
            no_color=self.no_color or not tty,
            color_system="auto" if tty and not self.no_color else None,
            width=None if tty else 10_000,
            highlight=False,
            soft_wrap=not tty,
            emoji=False,
        )

    def print_table(self, table: Any) -> None:
        """Print a rich table on stdout: fitted to the terminal, or at its natural width (never
        truncated or padded) when stdout is a pipe or a file."""
        console = self.console()
        if not self.stdout_isatty:
            from rich.measure import Measurement

            console.width = max(20, Measurement.get(console, console.options, table).maximum)
        console.print(table)
