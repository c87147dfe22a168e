"""Ordered, bounded pipelining of decode work onto threads.

Decoding (Parquet pages, CSV blocks, gzip) runs in pyarrow / zlib code that releases the GIL,
so a couple of threads keep both cores busy while the caller computes losses. Results come
back in submission order, and at most ``ahead`` jobs are queued or running at any time, so
memory stays bounded by ``ahead`` job results, never by the input size.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def cores() -> int:
    """Cores worth giving to decoding: all of them, at most two (more only adds memory)."""
    return max(1, min(2, os.cpu_count() or 1))


def ordered_map(
    jobs: Iterable[Callable[[], list[T]]], *, workers: int, ahead: int
) -> Generator[T, None, None]:
    """Run each job on a pool of ``workers`` threads and yield the items of their results in
    job order. The ``jobs`` iterable itself is drained by a feeder thread, so producing a job
    (reading and inflating the next bytes, say) also happens off the caller's thread.

    An exception raised by a job (or by the iterable) surfaces in the caller when its place in
    the order comes. Closing the generator early stops the feeder and joins every thread:
    pyarrow objects must not be torn down by a thread that outlives the interpreter.
    """
    pending: queue.Queue[object] = queue.Queue(maxsize=max(1, ahead))
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="losscli-decode")

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                pending.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def feed() -> None:
        source = iter(jobs)
        try:
            for job in source:
                if not put(pool.submit(job)):
                    return
        except BaseException as exc:  # handed over in order, raised by the consumer
            failed: Future[list[T]] = Future()
            failed.set_exception(exc)
            put(failed)
        finally:
            close = getattr(source, "close", None)
            if close is not None:  # a generator's pyarrow readers die on this thread
                close()
        put(_DONE)

    feeder = threading.Thread(target=feed, name="losscli-feed", daemon=True)
    feeder.start()
    try:
        while True:
            item = pending.get()
            if item is _DONE:
                return
            assert isinstance(item, Future)
            result: list[T] = item.result()
            result.reverse()
            while result:  # drop each item as soon as it is consumed
                yield result.pop()
    finally:
        stop.set()
        while True:  # let the feeder see a free slot or the stop flag, and drop queued work
            try:
                item = pending.get_nowait()
            except queue.Empty:
                if not feeder.is_alive():
                    break
                feeder.join(0.01)
                continue
            if isinstance(item, Future):
                item.cancel()
        feeder.join()
        pool.shutdown(wait=True, cancel_futures=True)
