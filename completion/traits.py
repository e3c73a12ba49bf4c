"""What a loaded model can do, read from its vocabulary, chat template and name."""

from __future__ import annotations

from dataclasses import dataclass

from completion.runtime import Backend
from prompts import FimFormat, fim_formats


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


def detect_traits(backend: Backend, *, reasoning_temperature: float, reasoning_top_p: float) -> ModelTraits:
    """Traits of the backend's model: FIM format by vocabulary, reasoning by chat template."""
    info = backend.info
    if is_reasoning_template(info.chat_template):
        # R1 distills keep the Qwen2.5 vocabulary, FIM tokens included, but were never trained on FIM.
        return ModelTraits(None, True, False, reasoning_temperature, reasoning_top_p)
    fim = next((f for f in fim_formats() if all(backend.is_special_token(m) for m in f.markers)), None)
    return ModelTraits(fim, False, True, None, None)
