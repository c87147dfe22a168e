"""A fault for the Dask tests, in its own small module (worker processes import it)."""

from __future__ import annotations

import os
from typing import Any

from distributed import WorkerPlugin


class KillOnce(WorkerPlugin):
    """The first worker to start its second task exits at once (a crash in mid-run); a marker
    file makes it happen once in the whole cluster (the restarted worker carries on)."""

    name = "kill-once"

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.started = 0

    def setup(self, worker: Any) -> None:
        self.started = 0

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        if finish != "executing":
            return
        self.started += 1
        if self.started == 2:
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return
            os._exit(1)
