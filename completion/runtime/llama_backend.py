"""The in-process backend: a GGUF run by llama-cpp-python. The only module that imports llama_cpp."""

from __future__ import annotations

import contextlib
import ctypes
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from completion.config import EngineConfig, physical_cores
from completion.errors import Cancelled, ModelLoadError, RequestError
from completion.runtime import Generation, ModelInfo, SamplingParams, TokenLogprob
from completion.runtime.buffers import (
    WeightBuffers,
    choose_weight_buffers,
    cpu_flags,
    uses_amx,
    weight_buffers_in_log,
)
from completion.runtime.kv_slots import KvSlots
from completion.types import ChatMessage, StopReason
from completion.weights.gguf_file import read_header

PREFILL_BATCH = 32  # tokens per step of a warm-up: about 0.4 s on 2 cores, the longest a live request waits
# Tokens of a generation's prompt evaluated between two looks at whether it is still wanted: evaluated as fast
# as in one batch of 512 on 2 cores (32 a step: -10%), and a live request waits at most ~1 s behind a
# speculation whose prompt is long, not all of it (the replay's fourth file: 4 s).
PROMPT_STEP = 128


class LlamaGeneration(Generation):
    """A streaming llama-cpp-python completion on one KV slot, with its token counters. Other generations
    may run between two of its pieces (a live suggestion while an answer streams): each piece first puts
    its own slot back, so it goes on where it was without evaluating its prompt again."""

    def __init__(self, slots: KvSlots, tokens: list[int], reused: int, params: SamplingParams) -> None:
        self._slots = slots
        self._slot = slots.active
        self._slot.busy = True  # until this generation ends, no other may take its slot
        self._llm = slots.llm
        self.logprobs = []
        self._noting = params.logprobs  # a softmax and a detokenize a token: only when asked
        self._written = b""  # the generated tokens' bytes, for where each ends in the text
        self.prompt_tokens = len(tokens)
        self.reused_tokens = reused
        self._chunks = self._llm.create_completion(
            tokens,
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            top_k=0 if params.temperature > 0 else 40,  # 0 = no top-k cut when sampling
            min_p=0.0,
            repeat_penalty=1.0,  # code repeats itself legitimately
            stop=list(params.stop) or None,
            seed=params.seed,
            stream=True,
        )

    def __next__(self) -> str:
        self._slots.activate(self._slot)
        try:
            with self._noting_logprobs():
                chunk = next(self._chunks)
        except StopIteration:
            self._end()
            raise
        self.generated_tokens = max(0, int(self._llm.n_tokens) - self.prompt_tokens)  # a shown part's cost
        choice = chunk["choices"][0]
        if choice.get("finish_reason") == "length":
            self.stop_reason = StopReason.LENGTH
        return str(choice["text"])

    @contextlib.contextmanager
    def _noting_logprobs(self) -> Iterator[None]:
        """While this generation's next piece is computed, each token llama-cpp-python samples (`Llama.generate`
        calls `self.sample`) is noted with its log-probability, if asked. Its `logprobs` option would need
        `logits_all`, which keeps every prompt position's logits (n_ctx x 152k floats); this reads the one row
        sampled from."""
        if not self._noting:
            yield
            return
        self._llm.sample = self._sample
        try:
            yield
        finally:
            del self._llm.sample  # the class's own again, for whatever runs next on this model

    def _sample(self, *args: Any, **kwargs: Any) -> int:
        import llama_cpp

        token = int(type(self._llm).sample(self._llm, *args, **kwargs))
        row = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self._llm.ctx, -1), shape=(self._llm.n_vocab(),))
        top = float(row.max())
        logprob = float(row[token]) - top - float(np.log(np.exp(row - top).sum()))  # log-softmax: ~0.2 ms
        self._written += self._llm.detokenize([token])
        self.logprobs.append(TokenLogprob(len(self._written.decode("utf-8", "ignore")), logprob))
        return token

    def close(self) -> None:
        self._slots.activate(self._slot)
        self._chunks.close()
        self._end()

    def _end(self) -> None:
        self.generated_tokens = max(0, int(self._llm.n_tokens) - self.prompt_tokens)
        self._slot.busy = False


class LlamaBackend:
    """A loaded llama.cpp model; use from one thread at a time (the engine's worker)."""

    def __init__(self, llm: Any, info: ModelInfo, kv_slots: int = 1) -> None:
        self._llm = llm
        self.info = info
        self._formatter: Any = None  # built on first chat
        self._last_prompt: tuple[str, list[int]] = ("", [])  # asked what of a prompt is cached, then generated
        self._slots = KvSlots(llm, self._new_context, kv_slots)  # one KV cache per client, up to kv_slots

    def _new_context(self) -> Any:
        """Another llama.cpp context over the loaded weights (a KV cache of its own), closed with the model."""
        from llama_cpp import _internals

        context = _internals.LlamaContext(model=self._llm._model, params=self._llm.context_params, verbose=False)
        return self._llm._stack.enter_context(contextlib.closing(context))

    def kv_held(self) -> list[tuple[str, int]]:
        """(sequence, tokens held) per KV slot, from any thread."""
        return self._slots.held()

    def kv_slots(self) -> list[tuple[str, int, int]]:
        """Per KV slot: the sequence that used it last, the tokens it holds, and the prompt tokens llama.cpp
        evaluated on it so far (its own performance counter)."""
        import llama_cpp

        return [
            (slot.sequence, slot.n_tokens, int(llama_cpp.llama_perf_context(slot.context.ctx).n_p_eval))
            for slot in self._slots.slots()
        ]

    @classmethod
    def load(cls, config: EngineConfig, path: Path) -> LlamaBackend:
        """Load `path`: ModelFileError for a bad file, ModelLoadError if llama.cpp refuses it."""
        header = read_header(path)
        import llama_cpp

        gpu = bool(llama_cpp.llama_supports_gpu_offload())
        gpu_layers = config.n_gpu_layers if config.n_gpu_layers is not None else (-1 if gpu else 0)
        threads = config.n_threads or physical_cores()
        threads_batch = config.n_threads_batch or threads
        options = dict(  # llama_cpp.Llama's; an option given twice is a TypeError, as in a call
            n_ctx=config.n_ctx,
            n_batch=config.n_batch,
            n_gpu_layers=gpu_layers,
            n_threads=threads,
            n_threads_batch=threads_batch,
            **config.runtime_options,
        )
        system_info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
        choice = choose_weight_buffers(cpu_flags(), system_info, config.extra_buffers)
        started = time.perf_counter()
        llm, buffers, reason = _load_placed(path, options, choice)
        info = ModelInfo(
            path=str(path),
            name=str(header.get("general.name", path.stem)),
            architecture=str(header.get("general.architecture", "unknown")),
            n_ctx=int(llm.n_ctx()),
            gpu_layers=gpu_layers if gpu else 0,
            gpu_offload_supported=gpu,
            threads=threads,
            threads_batch=threads_batch,
            chat_template=llm.metadata.get("tokenizer.chat_template"),
            load_ms=(time.perf_counter() - started) * 1000,
            weight_buffers=tuple(buffers.items()),
            weight_buffers_reason=reason,
        )
        return cls(llm, info, config.kv_slots)

    def _tokenize(self, text: str, *, add_bos: bool) -> list[int]:
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True))

    def token_count(self, text: str) -> int:
        """Tokens in `text` (no BOS)."""
        return len(self._tokenize(text, add_bos=False)) if text else 0

    def is_special_token(self, text: str) -> bool:
        """True if `text` is a single token (FIM and chat markers are)."""
        return len(self._tokenize(text, add_bos=False)) == 1

    def render_chat(self, messages: Sequence[ChatMessage]) -> str:
        """The prompt in the GGUF's own Jinja chat template."""
        if not self.info.chat_template:
            raise RequestError(f"{self.info.name} has no chat template; use an instruct or chat model")
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            vocab = self._llm._model
            self._formatter = Jinja2ChatFormatter(
                template=self.info.chat_template,
                eos_token=vocab.token_get_text(self._llm.token_eos()),
                bos_token=vocab.token_get_text(self._llm.token_bos()),
                add_generation_prompt=True,
            )
        rendered = self._formatter(messages=[{"role": m.role, "content": m.content} for m in messages])
        return str(rendered.prompt)

    def _prompt_tokens(self, prompt: str) -> list[int]:
        """The prompt's tokens (a copy: callers keep them); the last prompt's are kept, as the pipeline asks
        what of a prompt is cached just before it generates from it."""
        last, kept = self._last_prompt
        if prompt and prompt == last:
            return list(kept)
        tokens = self._tokenize(prompt, add_bos=True)  # the model's own add_bos_token decides
        bos = self._llm.token_bos()
        if len(tokens) > 1 and tokens[0] == tokens[1] == bos:  # the template wrote BOS itself
            tokens = tokens[1:]
        if len(tokens) >= self.info.n_ctx:
            raise RequestError(f"prompt of {len(tokens)} tokens does not fit the {self.info.n_ctx}-token window")
        self._last_prompt = (prompt, tokens)
        return list(tokens)

    def generate(
        self, prompt: str, params: SamplingParams, sequence: str = "", keep_going: Callable[[], bool] | None = None
    ) -> LlamaGeneration:
        """Stream a completion of `prompt` on the KV slot that holds most of it (or `sequence`'s own). It runs
        in this thread: a cancel is seen between tokens, and `keep_going` is looked at while the prompt is
        evaluated (Cancelled once it is False)."""
        tokens = self._prompt_tokens(prompt)
        held = min(self._slots.take(tokens, sequence), len(tokens) - 1)
        if keep_going is not None and self._evaluate(tokens[:-1], held, keep_going, PROMPT_STEP) < len(tokens) - 1:
            raise Cancelled("no longer wanted while its prompt was evaluated")
        return LlamaGeneration(self._slots, tokens, held, params)

    def uncached_tokens(self, prompt: str, sequence: str = "") -> int:
        """Tokens of `prompt` that no KV slot holds yet (`generate` takes the slot that holds the most)."""
        tokens = self._prompt_tokens(prompt)
        return len(tokens) - min(self._slots.longest_prefix(tokens), len(tokens) - 1)

    def prefill(self, prompt: str, keep_going: Callable[[], bool], sequence: str = "") -> int:
        """Evaluate all but the prompt's last token (generation evaluates that one itself), in small
        batches so that a live request waits at most one batch."""
        tokens = self._prompt_tokens(prompt)[:-1]
        start = self._slots.take(tokens, sequence)
        return self._evaluate(tokens, start, keep_going, PREFILL_BATCH) - start

    def _evaluate(self, tokens: list[int], start: int, keep_going: Callable[[], bool], step: int) -> int:
        """Evaluate `tokens` from `start` on (the active slot holds those before), `step` at a time while
        `keep_going()`; returns how many of them the slot then holds."""
        self._llm.n_tokens = start  # eval() drops the KV cells past this point first
        for begin in range(start, len(tokens), step):
            if not keep_going():
                return begin
            self._llm.eval(tokens[begin : begin + step])
        return len(tokens)


def _load_placed(path: Path, options: dict[str, Any], choice: WeightBuffers) -> tuple[Any, dict[str, float], str]:
    """The model loaded with extra weight buffers or not, as `choice` says; where its weights went (buffer ->
    MiB) and why. Weights that went to an AMX buffer all the same are loaded again without: never decode on
    one."""
    llm, buffers = _load_once(path, options, choice.extra)
    if choice.extra and uses_amx(buffers):  # the decision missed an AMX buffer
        llm.close()
        reason = f"weights went to an AMX buffer ({', '.join(buffers)}); reloaded without"
        return (*_load_once(path, options, False), reason)
    return llm, buffers, choice.reason


def _load_once(path: Path, options: dict[str, Any], extra: bool) -> tuple[Any, dict[str, float]]:
    """llama_cpp.Llama over `path`, with or without extra weight buffers, and where its weights went (from
    llama.cpp's log); ModelLoadError if llama.cpp refuses the file."""
    import llama_cpp

    log: list[str] = []
    try:
        with _model_params(use_extra_bufts=extra), _captured_log(log):
            llm = llama_cpp.Llama(model_path=str(path), verbose=False, **options)
    except (ValueError, RuntimeError, OSError) as exc:
        raise ModelLoadError(
            f"llama.cpp could not load {path} ({exc}); it may be damaged or of an unknown architecture"
        ) from exc
    return llm, weight_buffers_in_log(log)


@contextlib.contextmanager
def _model_params(*, use_extra_bufts: bool) -> Iterator[None]:
    """Load with `use_extra_bufts` set: `Llama(...)` takes no such argument in llama-cpp-python 0.3.36, but
    builds its model parameters from `llama_model_default_params()`, so that is wrapped for this load only
    (loads run on the engine's one worker thread)."""
    import llama_cpp.llama_cpp as native

    original = native.llama_model_default_params

    def with_choice() -> Any:
        params = original()
        params.use_extra_bufts = use_extra_bufts
        return params

    native.llama_model_default_params = with_choice
    try:
        yield
    finally:
        native.llama_model_default_params = original


@contextlib.contextmanager
def _captured_log(lines: list[str]) -> Iterator[None]:
    """Collect llama.cpp's log during a load (it names the buffers the weights went to), then give the log
    back to llama-cpp-python's own handler."""
    import llama_cpp._logger as own_logger
    import llama_cpp.llama_cpp as native

    @native.llama_log_callback
    def collect(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        lines.append(text.decode("utf-8", "replace"))

    native.llama_log_set(collect, ctypes.c_void_p(0))
    try:
        yield
    finally:
        native.llama_log_set(own_logger.llama_log_callback, ctypes.c_void_p(0))
