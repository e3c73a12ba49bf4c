"""A chat answer as it is written: iterate for chunks, then read the whole result."""

from __future__ import annotations

import queue
from collections.abc import Iterator

from completion.schedule.worker import Job
from completion.types import ChatChunk, ChatResult

_END = None


class ChatStream:
    """Chunks of a streamed answer; closing or cancelling it stops the generation."""

    def __init__(self) -> None:
        self._chunks: queue.Queue[ChatChunk | None] = queue.Queue()
        self.job: Job[ChatResult] | None = None  # set by the engine right after submitting

    # Producer side, called on the worker thread.
    def put(self, chunk: ChatChunk) -> None:
        """Hand one chunk to the reader."""
        self._chunks.put(chunk)

    def end(self) -> None:
        """No more chunks will come."""
        self._chunks.put(_END)

    # Reader side.
    def __iter__(self) -> Iterator[ChatChunk]:
        try:
            while (chunk := self._next()) is not _END:
                yield chunk
        finally:
            if self.job is not None and not self.job.future.done():
                self.job.cancel("the reader stopped reading")

    def _next(self) -> ChatChunk | None:
        while True:
            try:
                return self._chunks.get(timeout=0.1)
            except queue.Empty:
                if self.job is not None and self.job.future.done() and self._chunks.empty():
                    return _END  # cancelled before it started, or failed: no end marker will come

    def result(self, timeout: float | None = None) -> ChatResult:
        """The finished answer (waits); raises the job's error, Cancelled if it was cancelled."""
        assert self.job is not None
        return self.job.result(timeout)

    def cancel(self) -> None:
        """Stop the generation."""
        if self.job is not None:
            self.job.cancel()
