"""A chat answer as the engine writes it: iterate for chunks (`for` or `async for`), then read the result."""

from __future__ import annotations

from concurrent.futures import Future

from completion.schedule.worker import Job
from completion.token_stream import TokenStream
from completion.types import ChatChunk, ChatResult


class ChatStream(TokenStream[ChatChunk, ChatResult]):
    """Chunks of a streamed answer, put by the job on the worker thread; its outcome is the job's. Closing
    or cancelling the stream cancels the job."""

    def __init__(self) -> None:
        super().__init__()
        self._job: Job[ChatResult] | None = None
        self.future.add_done_callback(self._cancelled_outside)

    @property
    def job(self) -> Job[ChatResult] | None:
        """The job writing the answer; set by the engine right after submitting it."""
        return self._job

    @job.setter
    def job(self, job: Job[ChatResult]) -> None:
        self._job = job
        job.future.add_done_callback(self._settle)  # a job cancelled before it started puts no end: this ends it

    def cancel(self, why: str = "cancelled") -> None:
        """Stop the generation (its result raises Cancelled)."""
        if self._job is not None:
            self._job.cancel(why)
        else:
            super().cancel(why)

    def _settle(self, job: Future[ChatResult]) -> None:
        """The job's outcome is the stream's."""
        if job.cancelled():
            self.future.cancel()
        elif (error := job.exception()) is not None:
            self.fail(error)
        else:
            self.finish(job.result())

    def _cancelled_outside(self, future: Future[ChatResult]) -> None:
        """The stream's future was cancelled (asyncio.wrap_future does so): so is the job."""
        if future.cancelled() and self._job is not None and not self._job.future.done():
            self._job.cancel("cancelled")
