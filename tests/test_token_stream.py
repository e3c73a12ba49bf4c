"""TokenStream, the one way a producer thread's items reach sync and asyncio readers, and the engine's
ChatStream on it, with the real worker thread and plain Python jobs."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import CancelledError

import pytest

from completion.chat.stream import ChatStream
from completion.errors import Cancelled, RequestError
from completion.schedule.worker import PRIORITY_CHAT, Job, Worker
from completion.token_stream import TokenStream
from completion.types import ChatChunk, ChatResult, ChunkKind, StopReason
from tests.test_service import wait_until
from tests.test_worker import blocker

WAIT_S = 30.0


@pytest.fixture
def worker() -> Iterator[Worker]:
    worker = Worker()
    yield worker
    worker.stop()


def produce(stream: TokenStream[str, int], items: list[str], gate: threading.Event | None = None) -> threading.Thread:
    """A producer thread: each item (after `gate`, if given), then the end, then the outcome (how many)."""

    def run() -> None:
        if gate is not None:
            assert gate.wait(WAIT_S)
        for item in items:
            stream.put(item)
        stream.end()
        stream.finish(len(items))

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_sync_reader_gets_every_item_then_the_outcome() -> None:
    stream: TokenStream[str, int] = TokenStream()
    produce(stream, ["a", "b", "c"]).join(WAIT_S)
    assert list(stream) == ["a", "b", "c"]
    assert stream.result(WAIT_S) == 3


def test_async_readers_on_two_loops_are_woken_by_the_producer_without_a_thread_of_their_own() -> None:
    async def read(stream: TokenStream[str, int]) -> list[str]:
        return [item async for item in stream]

    streams: list[TokenStream[str, int]] = [TokenStream(), TokenStream()]
    gate = threading.Event()
    producers = [produce(stream, ["x", str(i)], gate) for i, stream in enumerate(streams)]
    threads_before = threading.active_count()
    got: list[list[str]] = [[], []]

    def reader(i: int) -> None:
        got[i] = asyncio.run(read(streams[i]))

    readers = [threading.Thread(target=reader, args=(i,)) for i in range(2)]
    for thread in readers:
        thread.start()
    wait_until(lambda: all(stream._waiters for stream in streams), "both readers wait, before anything was put")
    assert threading.active_count() == threads_before + 2  # the two loops' own threads, nothing else
    gate.set()
    for thread in readers + producers:
        thread.join(WAIT_S)
    assert got == [["x", "0"], ["x", "1"]]


def test_a_reader_that_stops_early_cancels_the_producer() -> None:
    stream: TokenStream[str, int] = TokenStream()
    stream.put("a")
    stream.put("b")
    for _item in stream:
        break
    assert stream.future.cancelled()

    async def leave_early(stream: TokenStream[str, int]) -> None:
        async for _item in stream:
            break

    other: TokenStream[str, int] = TokenStream()
    other.put("a")
    asyncio.run(leave_early(other))
    assert other.future.cancelled()


def test_an_async_reader_cancelled_while_waiting_cancels_the_producer() -> None:
    async def scenario(stream: TokenStream[str, int]) -> None:
        reading = asyncio.ensure_future(anext(aiter(stream)))
        await asyncio.sleep(0.05)
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading

    stream: TokenStream[str, int] = TokenStream()
    asyncio.run(scenario(stream))
    assert stream.future.cancelled()
    with pytest.raises(CancelledError):
        stream.result(0)


def test_a_failed_producer_ends_the_items_and_its_error_is_the_result() -> None:
    stream: TokenStream[str, int] = TokenStream()
    stream.put("a")
    stream.fail(RequestError("bad"))
    assert list(stream) == ["a"]  # the items put before the failure, then the end
    with pytest.raises(RequestError, match="bad"):
        stream.result(0)


def test_the_end_of_the_items_comes_before_the_outcome() -> None:
    stream: TokenStream[str, int] = TokenStream()
    stream.put("a")
    stream.end()
    assert list(stream) == ["a"]
    assert not stream.future.done()  # reading to the end cancels nothing
    stream.finish(1)
    assert stream.result(0) == 1


def chat_job(stream: ChatStream, chunks: list[str], error: Exception | None = None) -> Job[ChatResult]:
    """A chat job as the engine runs one: chunks put on the worker thread, then the end, then the result."""

    def run(job: Job[ChatResult]) -> ChatResult:
        try:
            for text in chunks:
                job.raise_if_cancelled()
                stream.put(ChatChunk(ChunkKind.ANSWER, text))
            if error is not None:
                raise error
            return ChatResult("".join(chunks), "", StopReason.END)
        finally:
            stream.end()

    return Job(run, PRIORITY_CHAT)


def test_a_chat_stream_reads_what_its_job_writes(worker: Worker) -> None:
    stream = ChatStream()
    stream.job = worker.submit(chat_job(stream, ["It ", "adds."]))
    assert [(chunk.text, chunk.kind) for chunk in stream] == [("It ", ChunkKind.ANSWER), ("adds.", ChunkKind.ANSWER)]
    assert stream.result(WAIT_S).answer == "It adds."


def test_a_chat_job_cancelled_before_it_started_ends_the_stream(worker: Worker) -> None:
    release, _ = blocker(worker)
    stream = ChatStream()
    stream.job = worker.submit(chat_job(stream, ["never"]))
    stream.cancel("superseded")  # the job never runs, so no end is ever put
    assert list(stream) == []
    with pytest.raises(Cancelled, match="superseded"):
        stream.result(WAIT_S)
    release.set()


def test_a_chat_job_that_fails_gives_its_error(worker: Worker) -> None:
    stream = ChatStream()
    stream.job = worker.submit(chat_job(stream, ["part"], RequestError("too long")))
    assert [chunk.text for chunk in stream] == ["part"]
    with pytest.raises(RequestError, match="too long"):
        stream.result(WAIT_S)


def test_leaving_a_chat_stream_or_cancelling_its_future_cancels_the_job(worker: Worker) -> None:
    release, _ = blocker(worker)
    left, dropped = ChatStream(), ChatStream()
    left.job = worker.submit(chat_job(left, ["a"]))
    dropped.job = worker.submit(chat_job(dropped, ["a"]))
    left.put(ChatChunk(ChunkKind.ANSWER, "first"))  # as if written already
    for _chunk in left:
        break
    with pytest.raises(Cancelled, match="the reader stopped reading"):
        left.result(WAIT_S)
    dropped.future.cancel()  # as asyncio.wrap_future does when its awaiting task is cancelled
    with pytest.raises(Cancelled):
        dropped.job.result(WAIT_S)  # type: ignore[union-attr]
    release.set()
