"""What a loaded model can do, read from its vocabulary, chat template and name."""

from __future__ import annotations

from dataclasses import dataclass

from completion.errors import RequestError
from completion.runtime import Backend
from prompts import FimFormat, fim_format, fim_formats


@dataclass(frozen=True)
class ModelTraits:
    """How to prompt one model."""

    fim: FimFormat | None  # None: the model was not trained to fill in the middle
    reasoning: bool  # answers start with a <think>...</think> block
    system_prompt: bool  # False: instructions go into the user turn (DeepSeek-R1 advice)
    temperature: float | None  # recommended chat sampling, None = the engine's default
    top_p: float | None


def is_reasoning_template(chat_template: str | None) -> bool:
    """Reasoning models' templates strip </think> blocks from earlier turns, so they name the tag."""
    return bool(chat_template) and "</think>" in (chat_template or "")


def detect_traits(
    backend: Backend, *, reasoning_temperature: float, reasoning_top_p: float, fim_name: str | None = None
) -> ModelTraits:
    """Traits of the backend's model: FIM format by `fim_name` if given, else by vocabulary, else by the
    model's name (a server that cannot tokenize); reasoning by chat template."""
    info = backend.info
    if is_reasoning_template(info.chat_template):
        # R1 distills keep the Qwen2.5 vocabulary, FIM tokens included, but were never trained on FIM.
        return ModelTraits(None, True, False, reasoning_temperature, reasoning_top_p)
    if fim_name:
        try:
            return ModelTraits(fim_format(fim_name), False, True, None, None)
        except KeyError as exc:
            raise RequestError(f"setting fim_format: {exc.args[0]}") from None
    fim = next((f for f in fim_formats() if all(backend.is_special_token(m) for m in f.markers)), None)
    return ModelTraits(fim or fim_by_name(info.name), False, True, None, None)


def fim_by_name(model: str) -> FimFormat | None:
    """The FIM format whose family the model's name says (Qwen/Qwen2.5-Coder-7B -> qwen2.5-coder); None if
    no family is named. Letters and digits only, so "Qwen2.5 Coder" and "qwen2_5-coder" match alike."""
    plain = _letters_digits(model)
    return next((f for f in fim_formats() if _letters_digits(f.name) in plain), None)


def _letters_digits(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum())
