"""The user's settings, declared once, and the one way every front end reads them.

Each front end spells the same names by a rule (`Spelling`): Jupyter traitlets `gpu_layers`, LSP options
`gpuLayers`, command-line flags `--gpu-layers`, the environment `TABWISE_GPU_LAYERS` (the model path
keeps its short names, `TABWISE_MODEL` and `--model`). `read_settings` takes any of them; the
environment lies under every front end's own settings: a key a front end does not set, or sets to
null or "", has the environment's value, else the default. A bad value is reported by the key as the
user spelled it and the previous value stays, so a wrong setting never stops a front end.
`engine_settings` maps settings onto the engine's (EngineConfig field names), for the service's
`configure`. Adding a setting is one `setting(...)` line here: every spelling follows from its name.
"""

from __future__ import annotations

import argparse
import enum
import os
import types
from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import cattrs

from completion.config import EngineConfig

_ENGINE = EngineConfig()  # the engine's defaults are the user's
ALL_GPU_LAYERS = -1  # gpu_layers: every layer, when llama.cpp was built with GPU offload
ALL_CORES = 0  # threads: one per physical core


def setting(default: Any, help: str, **metadata: Any) -> Any:
    """A settings field: `help` for users (traitlets and flags show it); `engine` names the EngineConfig
    field it maps to (none: the front end's own), `minimum` the least value, `choices` the values allowed,
    `env`/`flag` a short name."""
    return field(default=default, metadata={"help": help, **metadata})


@dataclass(frozen=True)
class Settings:
    """What a user may configure, in any front end."""

    model_path: str | None = setting(
        None,
        "A GGUF file; unset: the one chosen with `tabwise model use`, else the default model.",
        engine="model_path",
        env="TABWISE_MODEL",
        flag="--model",
    )
    gpu_layers: int = setting(
        ALL_GPU_LAYERS,
        f"Layers offloaded to the GPU; {ALL_GPU_LAYERS}: all (when llama.cpp has a GPU), 0: none.",
        engine="n_gpu_layers",
        minimum=ALL_GPU_LAYERS,
    )
    threads: int = setting(
        ALL_CORES, f"CPU threads; {ALL_CORES}: one per physical core.", engine="n_threads", minimum=0
    )
    max_tokens: int = setting(
        _ENGINE.max_tokens, "Longest inline suggestion, in tokens.", engine="max_tokens", minimum=1
    )
    context_tokens: int = setting(
        _ENGINE.context_tokens, "Token budget for the code around the cursor.", engine="context_tokens", minimum=1
    )
    context_window: int = setting(
        _ENGINE.n_ctx,
        "The model's context window per KV cache, in tokens (longer answers; each cache costs more memory).",
        engine="n_ctx",
        minimum=256,
    )
    time_budget_ms: int = setting(
        _ENGINE.time_budget_ms,
        "Time budget in milliseconds: then what stands of a suggestion is shown, and the rest follows on Tab.",
        engine="time_budget_ms",
        minimum=1,
    )
    answer_tokens: int = setting(
        _ENGINE.chat_max_tokens, "Longest answer of ask and explain, in tokens.", engine="chat_max_tokens", minimum=1
    )
    # True, unlike EngineConfig's False (an engine used in-process loads on its first request anyway).
    preload: bool = setting(
        True, "Load the model when the front end starts, not on the first request.", engine="preload"
    )
    disabled_languages: tuple[str, ...] = setting((), "Language ids that get no suggestions (a front end's own).")
    backend: str = setting(
        _ENGINE.backend,
        "Where the model runs: local (in tabwise), llama-server, or openai (an OpenAI-compatible server).",
        engine="backend",
        choices=("local", "llama-server", "openai"),
    )
    backend_url: str | None = setting(
        None, "The inference server's base URL (openai: ending in /v1).", engine="backend_url"
    )
    backend_model: str | None = setting(
        None, "The model to ask the server for; unset: the one it serves first.", engine="backend_model"
    )
    api_key_file: str | None = setting(
        None, "A file holding the server's API key; unset: $TABWISE_API_KEY, else none.", engine="api_key_file"
    )
    backend_fallback: bool = setting(
        _ENGINE.backend_fallback, "Use the local model while the server cannot be reached.", engine="backend_fallback"
    )
    fim_format: str | None = setting(
        None, "The fill-in-the-middle format (qwen2.5-coder, ...); unset: detected.", engine="fim_format"
    )


class Spelling(enum.Enum):
    """How a front end spells a setting's name."""

    SNAKE = "snake"  # Jupyter traitlets: gpu_layers
    CAMEL = "camel"  # LSP options: gpuLayers
    FLAG = "flag"  # command-line flags: --gpu-layers (model_path: --model)
    ENV = "env"  # environment variables: TABWISE_GPU_LAYERS (model_path: TABWISE_MODEL); values are text


def spelled(name: str, spelling: Spelling) -> str:
    """Setting `name` as `spelling` writes it."""
    meta = _FIELDS[name].metadata
    if spelling is Spelling.CAMEL:
        head, *rest = name.split("_")
        return head + "".join(part.title() for part in rest)
    if spelling is Spelling.FLAG:
        return meta.get("flag") or "--" + name.replace("_", "-")
    if spelling is Spelling.ENV:
        return meta.get("env") or "TABWISE_" + name.upper()
    return name


def read_settings(
    source: Mapping[str, object], spelling: Spelling, current: Settings | None = None
) -> tuple[Settings, list[str]]:
    """`current` (None: the defaults under the environment) with the settings in `source`, and one problem
    per bad value, which leaves that setting as it was. Keys that are not settings are ignored (other
    variables, other extensions' options); null or "" unsets a key: the environment's value, else the
    default. Values are JSON values (ENV: text, such as "4", "false", "python,markdown")."""
    beneath, problems = (Settings(), []) if spelling is Spelling.ENV else read_settings(os.environ, Spelling.ENV)
    if current is not None:
        problems = []  # the environment's were reported when it was read first
    names = {spelled(name, spelling): name for name in _FIELDS}
    converter = _TEXT if spelling is Spelling.ENV else _JSON
    changes: dict[str, Any] = {}
    for key, value in source.items():
        if (name := names.get(key)) is None:
            continue
        if value is None or value == "":
            changes[name] = getattr(beneath, name)
            continue
        try:
            changes[name] = _checked(name, converter.structure(value, _TYPES[name]))
        except (TypeError, ValueError, cattrs.BaseValidationError) as exc:
            problems.append(f"setting {key}={value!r} ignored: {exc}")
    return replace(beneath if current is None else current, **changes), problems


def engine_settings(settings: Settings) -> dict[str, Any]:
    """The engine settings (EngineConfig field names) `settings` map to, for the service's `configure`:
    paths absolute (the service runs elsewhere); all GPU layers and all cores are None, the engine's way."""
    mapped = {_FIELDS[name].metadata["engine"]: getattr(settings, name) for name in engine_names()}
    return {
        **mapped,
        "model_path": Path(settings.model_path).expanduser().absolute() if settings.model_path else None,
        "api_key_file": Path(settings.api_key_file).expanduser().absolute() if settings.api_key_file else None,
        "n_gpu_layers": None if settings.gpu_layers == ALL_GPU_LAYERS else settings.gpu_layers,
        "n_threads": None if settings.threads == ALL_CORES else settings.threads,
    }


def engine_names() -> list[str]:
    """The settings that reach the engine (the rest are front ends' own, like disabled_languages)."""
    return [name for name, spec in _FIELDS.items() if "engine" in spec.metadata]


def setting_name(engine_field: str) -> str:
    """The setting an EngineConfig field is set by, as users call it (the field's own name if none is)."""
    return next((name for name, spec in _FIELDS.items() if spec.metadata.get("engine") == engine_field), engine_field)


def help_text(name: str) -> str:
    """What setting `name` does, for users, with its default and environment variable."""
    default = getattr(Settings(), name)
    shown = "unset" if default is None else repr(default)
    return f"{_FIELDS[name].metadata['help']} Default: ${spelled(name, Spelling.ENV)}, else {shown}."


def value_type(name: str) -> type:
    """The type of setting `name`'s values (str for an optional str)."""
    kind = _TYPES[name]
    if isinstance(kind, types.UnionType):
        return next(arg for arg in get_args(kind) if arg is not type(None))
    return get_origin(kind) or kind


def add_flags(parser: argparse.ArgumentParser, *names: str) -> None:
    """Command-line flags for some settings; read them back with `flag_values`."""
    for name in names:
        parser.add_argument(spelled(name, Spelling.FLAG), dest=name, type=value_type(name), help=help_text(name))


def flag_values(args: argparse.Namespace) -> dict[str, object]:
    """The settings flags in `args` (None where not given), keyed as the user typed them, for read_settings."""
    given = vars(args)
    return {spelled(name, Spelling.FLAG): given[name] for name in _FIELDS if name in given}


_FIELDS: dict[str, Field[Any]] = {spec.name: spec for spec in fields(Settings)}
_TYPES: dict[str, Any] = {name: kind for name, kind in get_type_hints(Settings).items() if name in _FIELDS}
_KIND_NAMES = {str: "text", int: "an integer", bool: "true or false"}


def _checked(name: str, value: Any) -> Any:
    """`value`, if it is at least the setting's minimum; ValueError otherwise."""
    minimum = _FIELDS[name].metadata.get("minimum")
    if minimum is not None and value < minimum:
        raise ValueError(f"must be {minimum} or more")
    choices = _FIELDS[name].metadata.get("choices")
    if choices is not None and value not in choices:
        raise ValueError(f"must be one of {', '.join(choices)}")
    return value


def _json_value(kind: type) -> Any:
    """A hook that takes a JSON value of `kind` as it is (true is not 1, "4" is not 4)."""

    def structure(value: Any, _: Any) -> Any:
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise TypeError(f"expected {_KIND_NAMES[kind]}")
        return value

    return structure


def _json_names(value: Any, _: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise TypeError("expected a list of names")
    return tuple(value)


def _text_int(value: str, _: Any) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ValueError("expected an integer") from None


def _text_bool(value: str, _: Any) -> bool:
    words = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
    if value.strip().lower() not in words:
        raise ValueError("expected true or false")
    return words[value.strip().lower()]


def _text_names(value: str, _: Any) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _converter(text: bool) -> cattrs.Converter:
    """Settings values from JSON values (`text`: from environment text)."""
    converter = cattrs.Converter()
    names = tuple[str, ...]
    if text:
        converter.register_structure_hook(str, lambda value, _: value)
        converter.register_structure_hook(int, _text_int)
        converter.register_structure_hook(bool, _text_bool)
        converter.register_structure_hook_func(lambda kind: kind == names, _text_names)
    else:
        for kind in (str, int, bool):
            converter.register_structure_hook(kind, _json_value(kind))
        converter.register_structure_hook_func(lambda kind: kind == names, _json_names)
    return converter


_JSON, _TEXT = _converter(text=False), _converter(text=True)
