"""The worker's queue discipline with plain Python jobs: order, cancellation, survival."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from completion.errors import Cancelled
from completion.schedule.worker import PRIORITY_BACKGROUND, PRIORITY_CHAT, PRIORITY_INLINE, Job, Worker


@pytest.fixture
def worker() -> Iterator[Worker]:
    worker = Worker()
    yield worker
    worker.stop()


def blocker(worker: Worker) -> tuple[threading.Event, Job[None]]:
    """A running job that holds the worker until the event is set."""
    release, started = threading.Event(), threading.Event()

    def run(job: Job[None]) -> None:
        started.set()
        release.wait(30)

    job = worker.submit(Job(run, PRIORITY_INLINE))
    assert started.wait(30)
    return release, job


def test_priority_then_arrival_order(worker: Worker) -> None:
    release, _ = blocker(worker)
    order: list[str] = []
    jobs = [
        worker.submit(Job(lambda job, name=name: order.append(name), priority))
        for name, priority in [("chat1", PRIORITY_CHAT), ("inline1", PRIORITY_INLINE), ("inline2", PRIORITY_INLINE)]
    ]
    release.set()
    for job in jobs:
        job.result(30)
    assert order == ["inline1", "inline2", "chat1"]


def test_cancel_before_start_finishes_at_once(worker: Worker) -> None:
    release, _ = blocker(worker)
    ran = threading.Event()
    job = worker.submit(Job(lambda job: ran.set(), PRIORITY_INLINE))
    job.cancel("not needed")
    with pytest.raises(Cancelled, match="not needed"):
        job.result(0)  # no waiting for the worker
    release.set()
    worker.submit(Job(lambda job: None, PRIORITY_INLINE)).result(30)
    assert not ran.is_set()


def test_cancelling_the_future_itself_skips_the_job_and_the_worker_survives(worker: Worker) -> None:
    release, _ = blocker(worker)
    ran = threading.Event()
    job = worker.submit(Job(lambda job: ran.set(), PRIORITY_INLINE))
    assert job.future.cancel()
    assert job.cancelled
    release.set()
    assert worker.submit(Job(lambda job: "alive", PRIORITY_INLINE)).result(30) == "alive"
    assert not ran.is_set()


def test_a_failing_job_reports_to_its_caller_only(worker: Worker) -> None:
    def boom(job: Job[None]) -> None:
        raise ValueError("bad job")

    with pytest.raises(ValueError, match="bad job"):
        worker.submit(Job(boom, PRIORITY_INLINE)).result(30)
    assert worker.submit(Job(lambda job: 7, PRIORITY_INLINE)).result(30) == 7


def test_supersession_only_within_a_document(worker: Worker) -> None:
    release, _ = blocker(worker)
    old = worker.submit(Job(lambda job: "old", PRIORITY_INLINE, document="a"))
    other = worker.submit(Job(lambda job: "other", PRIORITY_INLINE, document="b"))
    new = worker.submit(Job(lambda job: "new", PRIORITY_INLINE, document="a"))
    release.set()
    with pytest.raises(Cancelled, match="superseded"):
        old.result(30)
    assert (other.result(30), new.result(30)) == ("other", "new")


def test_a_live_request_stops_a_running_warm_up(worker: Worker) -> None:
    started = threading.Event()

    def warm_up(job: Job[int]) -> int:
        started.set()
        batches = 0
        while not job.cancelled and batches < 3000:  # checks between batches, as prefill does
            batches += 1
            threading.Event().wait(0.01)
        return batches

    warming = worker.submit(Job(warm_up, PRIORITY_BACKGROUND))
    assert started.wait(30)
    inline = worker.submit(Job(lambda job: "suggestion", PRIORITY_INLINE))
    assert inline.result(30) == "suggestion"
    assert warming.result(0) < 3000  # it yielded, it did not run to its end
    chat = worker.submit(Job(lambda job: "answer", PRIORITY_CHAT))  # only live requests preempt a warm-up
    assert chat.result(30) == "answer"
