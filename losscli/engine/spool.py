"""Keeping a once-readable input's values for the passes after the first (stdin, pipes).

A loss that needs several passes over its values (exact quantiles) re-reads a file; a stream
cannot be re-read, so the engine keeps what the loss's state was fed — in memory up to
``--memory-limit``, then in an anonymous temporary file, and says so on stderr."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO

import numpy as np


class Spool:
    """Keeps the chunks of a once-readable stream for later passes: in memory up to
    ``memory_limit`` bytes, then in an anonymous temporary file (``on_spill`` is told once).
    A chunk is a tuple of arrays (or None); :meth:`replay` yields them again, any number of
    times, in order."""

    def __init__(
        self,
        memory_limit: int,
        *,
        on_spill: Callable[[int], None] | None = None,
        directory: str | None = None,
    ) -> None:
        self.memory_limit = memory_limit
        self.on_spill = on_spill
        self.directory = directory
        self.chunks: list[tuple[Any, ...]] = []
        self.nbytes = 0
        self.file: BinaryIO | None = None
        self.count = 0

    @property
    def spilled(self) -> bool:
        return self.file is not None

    def append(self, *arrays: Any) -> None:
        size = sum(a.nbytes for a in arrays if a is not None)
        self.count += 1
        if self.file is None and self.nbytes + size <= self.memory_limit:
            self.chunks.append(tuple(None if a is None else np.array(a) for a in arrays))
            self.nbytes += size
            return
        if self.file is None:
            self._spill()
        assert self.file is not None
        self._write(arrays)
        self.nbytes += size

    def _spill(self) -> None:
        self.file = tempfile.TemporaryFile(prefix="losscli-spool-", dir=self.directory)
        if self.on_spill is not None:
            self.on_spill(self.memory_limit)
        for chunk in self.chunks:
            self._write(chunk)
        self.chunks = []

    def _write(self, arrays: Sequence[Any]) -> None:
        assert self.file is not None
        np.save(self.file, np.array([len(arrays)] + [a is None for a in arrays], dtype=np.int64))
        for a in arrays:
            if a is not None:
                np.save(self.file, np.ascontiguousarray(a), allow_pickle=False)

    def replay(self) -> Iterator[tuple[Any, ...]]:
        if self.file is None:
            yield from self.chunks
            return
        self.file.flush()
        self.file.seek(0)
        for _ in range(self.count):
            head = np.load(self.file, allow_pickle=False)
            yield tuple(
                None if missing else np.load(self.file, allow_pickle=False) for missing in head[1:]
            )
        self.file.seek(0, os.SEEK_END)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        self.chunks = []
