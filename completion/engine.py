"""The one public entry point of tabwise: complete(), explain(), ask(), for every front end.

A facade over parts, each a file of its own, wired here: the model host (completion/runtime/host.py), the
documents store (completion/context/documents.py), the fill-in-the-middle pipeline
(completion/fim/pipeline.py), chat (completion/chat/answers.py), and the scheduler: one worker thread
(completion/schedule/worker.py) and the warm-up policy (completion/schedule/warmup.py). The model is
loaded lazily on the worker thread (or at start with `preload`). Front ends submit requests from any
thread and wait on the returned job, or iterate a ChatStream; asyncio code awaits complete_async().

Its public surface is all a front end (or the engine service) uses: document_opened / document_edited /
document_closed, submit_complete / complete / complete_async, warm, explain / ask / chat, load, traits,
status, reconfigure, close, and `config` to read.
"""

from __future__ import annotations

import asyncio

from completion.chat.answers import Chat
from completion.chat.stream import ChatStream
from completion.config import EngineConfig
from completion.context.documents import Documents
from completion.context.workspace import Workspace
from completion.fim.pipeline import FimPipeline
from completion.runtime import ModelInfo
from completion.runtime.host import BackendFactory, ModelHost
from completion.runtime.traits import ModelTraits
from completion.schedule.warmup import WarmupPolicy
from completion.schedule.worker import PRIORITY_LOAD, Job, Worker
from completion.status import EngineStatus
from completion.types import ChatRequest, FimRequest, Suggestion


class Engine:
    """Completion and chat on one model; thread-safe."""

    def __init__(
        self,
        config: EngineConfig | None = None,
        backend_factory: BackendFactory | None = None,
        workspace: Workspace | None = None,
    ) -> None:
        self._worker = Worker()  # runs every model job, one at a time, most urgent first
        self._host = ModelHost(config or EngineConfig(), backend_factory)  # the model, on the worker thread
        self._documents = Documents(workspace)  # what the editors show; "" root: `workspace`
        self._fim = FimPipeline(self._host, self._documents, self._worker)
        self._chat = Chat(self._host, self._worker)
        self._warmup = WarmupPolicy(self.warm)  # when to warm: on open, at a new place, after a pause
        if self.config.preload:
            self._preload()

    # -- the model ------------------------------------------------------------------------------------

    def load(self, timeout: float | None = None) -> ModelInfo:
        """Load the model now (waits); raises ModelFileError or ModelLoadError with a one-line message."""
        job: Job[ModelInfo] = Job(lambda job: self._host.ensure()[0].info, PRIORITY_LOAD)
        return self._worker.submit(job).result(timeout)

    def traits(self, timeout: float | None = None) -> ModelTraits:
        """What the loaded model can do (loads it if needed)."""
        job: Job[ModelTraits] = Job(lambda job: self._host.ensure()[1], PRIORITY_LOAD)
        return self._worker.submit(job).result(timeout)

    def reconfigure(self, config: EngineConfig) -> Job[None]:
        """Use new settings from the next request on (queued before it, not waited for: the worker may
        be generating); the model is reloaded on next use if a load setting changed, at once with `preload`."""

        def swap(job: Job[None]) -> None:
            if self._host.reconfigure(config):
                self._fim.model_changed()

        swapped = self._worker.submit(Job(swap, PRIORITY_LOAD))
        if config.preload:
            self._preload()
        return swapped

    def _preload(self) -> None:
        """Queue the model's load (not waited for: a failure is the state, and the next request's error)."""
        self._worker.submit(Job(lambda job: self._host.ensure(), PRIORITY_LOAD))

    def status(self) -> EngineStatus:
        """The engine's state now, without waiting for the worker."""
        host = self._host.snapshot()
        backend, error = host.backend, host.error
        if backend is not None and backend.info.backend != "local":
            from completion.runtime.remote_backends import problem

            error = error or problem(backend)  # the server went away after connecting: why nothing comes
        latency_ms, evaluated = self._fim.last.read()
        return EngineStatus(
            host.state,
            backend.info if backend else None,
            error,
            self._worker.pending(),
            self._worker.busy(),
            self._worker.last_outcome,
            latency_ms,
            evaluated,
            self._documents.rhythm.debounce_ms(),
            tuple(backend.kv_held()) if backend else (),
            host.loads,
        )

    @property
    def config(self) -> EngineConfig:
        """The settings in use (frozen; change them with reconfigure())."""
        return self._host.config

    def close(self) -> None:
        """Cancel all work and stop the worker and warm-up threads."""
        self._warmup.stop()
        self._worker.stop()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- documents: what the editor shows (completion/context/documents.py) -------------------------------

    def document_opened(
        self,
        document: str,
        path: str,
        text: str,
        language: str = "",
        warm: bool = True,
        root: str = "",
        context_tokens: int | None = None,
    ) -> None:
        """The editor opened `document`: its text is context from now on (over the file on disk, saved or
        not), and its end, where code is most often added, is warmed at once unless `warm` is False
        (completions are off there). `language`, `root` and `context_tokens` as in FimRequest ("": from
        the path; None: the setting)."""
        self._documents.opened(path, text, root)
        at = FimRequest(
            text, "", path=path, root=root, language=language, document=document, context_tokens=context_tokens
        )
        self._warmup.opened(document, at if warm else None)

    def document_edited(
        self, document: str, path: str, text: str, line: int | None, at: FimRequest | None = None, root: str = ""
    ) -> None:
        """`document` now reads `text` after an edit at `line` (0-based; None when unknown, as for a full
        change). `at` is the completion request at the cursor after the edit, built as a live request there
        would be (so the warmed prompt is the one the next request reuses); the warm-up policy warms it at
        once when the edit is somewhere new, else after a pause. None: nothing to warm."""
        self._documents.edited(path, text, line, root)
        self._fim.running.edited(at)  # a generation off the edit's path writes what will not be wanted
        self._warmup.edited(document, line, at)

    def document_closed(self, document: str, path: str, root: str = "") -> None:
        """The editor closed `document`: the file on disk is context again, and what was kept for the
        document (pending warm-ups, suggestions, parse trees) is dropped."""
        self._warmup.closed(document)
        self._fim.forget(document)
        self._documents.closed(document, path, root)

    # -- fill in the middle (completion/fim/pipeline.py) -----------------------------------------------

    def submit_complete(self, request: FimRequest) -> Job[Suggestion]:
        """Queue a completion; a newer one for the same document supersedes it. Where nothing fits (text
        follows the cursor, a comment) the job is finished at once, without waiting for the model."""
        self._warmup.live(request.document or request.path)  # this request evaluates its place itself
        return self._fim.submit(request)

    def complete(self, request: FimRequest, timeout: float | None = None) -> Suggestion:
        """The suggestion for `request` (waits)."""
        return self.submit_complete(request).result(timeout)

    async def complete_async(self, request: FimRequest) -> Suggestion:
        """The suggestion for `request`, for asyncio code; cancelling the awaiting task cancels the job."""
        job = self.submit_complete(request)
        try:
            return await asyncio.wrap_future(job.future)
        except asyncio.CancelledError:
            job.cancel("the caller went away")
            raise

    def warm(self, request: FimRequest) -> Job[int] | None:
        """Evaluate the prompt for `request` ahead of time, without generating (a document was opened,
        the user paused), so that the first suggestion there does not pay for the whole file."""
        return self._fim.warm(request)

    # -- chat: ask and explain (completion/chat/answers.py) --------------------------------------------

    def chat(self, request: ChatRequest) -> ChatStream:
        """Stream the answer to a conversation."""
        return self._chat.chat(request)

    def explain(
        self, code: str, language: str = "", path: str = "untitled", max_tokens: int | None = None
    ) -> ChatStream:
        """Stream an explanation of `code`, at most `max_tokens` long (None: the setting)."""
        return self._chat.explain(code, language, path, max_tokens)

    def ask(self, question: str, context: str = "", max_tokens: int | None = None) -> ChatStream:
        """Stream the answer to a question, with optional context (code, an error) before it, at most
        `max_tokens` long (None: the setting)."""
        return self._chat.ask(question, context, max_tokens)
