"""TokenStream: what a producer thread writes (a chat answer's chunks), read as it comes, then its outcome.

The one way a blocking producer (the engine's worker, the service link's reader thread) reaches sync and
asyncio readers alike. A sync reader waits on a Condition; an async reader awaits a future on its own
loop, which the producer wakes with `loop.call_soon_threadsafe`: no polling, no thread per reader. A
reader that stops before the end cancels the producer.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future, InvalidStateError
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class TokenStream(Generic[T, R]):
    """Items as a producer thread puts them, for one reader (`for` or `async for`), then `result()`."""

    def __init__(self) -> None:
        self.future: Future[R] = Future()  # the outcome; once it is in, no more items come
        self._items: deque[T] = deque()  # put, not read yet
        self._ended = False  # no more items will be put
        self._ready = threading.Condition()  # guards the two above and the waiters; sync readers wait on it
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []  # async readers
        self.future.add_done_callback(lambda _: self.end())

    # -- the producer, on its own thread ------------------------------------------------------------

    def put(self, item: T) -> None:
        """Hand one item to the reader."""
        with self._ready:
            self._items.append(item)
        self._wake()

    def end(self) -> None:
        """No more items will come (the outcome may come later)."""
        with self._ready:
            self._ended = True
        self._wake()

    def finish(self, value: R) -> None:
        """The producer is done: `value` is the outcome (nothing, if the stream was cancelled meanwhile)."""
        with contextlib.suppress(InvalidStateError):
            self.future.set_result(value)

    def fail(self, error: BaseException) -> None:
        """The producer failed: no more items, and `result()` raises `error`."""
        with contextlib.suppress(InvalidStateError):
            self.future.set_exception(error)

    # -- the reader ---------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[T]:
        ended = False
        try:
            while True:
                with self._ready:
                    self._ready.wait_for(lambda: self._items or self._ended)
                    if not self._items:
                        ended = True
                        return
                    item = self._items.popleft()
                yield item
        finally:
            if not ended:
                self.cancel("the reader stopped reading")  # a reader that stops early stops the producer

    async def __aiter__(self) -> AsyncIterator[T]:
        loop, ended = asyncio.get_running_loop(), False
        try:
            while True:
                waiter: asyncio.Future[None] = loop.create_future()
                with self._ready:
                    got = bool(self._items)
                    if got:
                        item = self._items.popleft()
                    elif self._ended:
                        ended = True
                        return
                    else:
                        self._waiters.append((loop, waiter))  # woken by the producer, through its loop
                if got:
                    yield item
                else:
                    await waiter
        finally:
            if not ended:
                self.cancel("the reader stopped reading")

    def result(self, timeout: float | None = None) -> R:
        """The outcome (waits); raises the producer's error, or CancelledError once cancelled."""
        return self.future.result(timeout)

    def cancel(self, why: str = "cancelled") -> None:
        """Stop the producer: the outcome ends cancelled (a no-op once it is in); `why`, for a producer
        that can say it."""
        self.future.cancel()

    def _wake(self) -> None:
        with self._ready:
            self._ready.notify_all()
            waiters, self._waiters = self._waiters, []
        for loop, waiter in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed: its reader is gone
                loop.call_soon_threadsafe(_release, waiter)


def _release(waiter: asyncio.Future[None]) -> None:
    """Wake an async reader (on its loop)."""
    if not waiter.done():
        waiter.set_result(None)
