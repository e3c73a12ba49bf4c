"""The settings declared once (completion/settings.py): every spelling, bad values, the environment beneath."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from completion.config import EngineConfig
from completion.settings import (
    Settings,
    Spelling,
    add_flags,
    engine_settings,
    flag_values,
    read_settings,
    spelled,
)

CAMEL, SNAKE, FLAG, ENV = Spelling.CAMEL, Spelling.SNAKE, Spelling.FLAG, Spelling.ENV


@pytest.fixture(autouse=True)
def no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TABWISE_* setting from the machine running the tests."""
    for spec in fields(Settings):
        monkeypatch.delenv(spelled(spec.name, ENV), raising=False)


# (source, spelling, environment, the settings that differ from the defaults, problems naming these keys)
CASES: list[tuple[dict[str, Any], Spelling, dict[str, str], dict[str, Any], list[str]]] = [
    ({}, CAMEL, {}, {}, []),
    ({"gpuLayers": 8, "maxTokens": 32, "timeBudgetMs": 500, "disabledLanguages": ["markdown"]}, CAMEL, {},
     {"gpu_layers": 8, "max_tokens": 32, "time_budget_ms": 500, "disabled_languages": ("markdown",)}, []),
    ({"modelPath": "/m.gguf", "answerTokens": 99, "preload": False}, CAMEL, {},
     {"model_path": "/m.gguf", "answer_tokens": 99, "preload": False}, []),
    ({"model_path": "/m.gguf", "gpu_layers": 0, "threads": 2}, SNAKE, {},
     {"model_path": "/m.gguf", "gpu_layers": 0, "threads": 2}, []),
    ({"--model": "/m.gguf", "--gpu-layers": 4, "--threads": None}, FLAG, {},
     {"model_path": "/m.gguf", "gpu_layers": 4}, []),
    # the environment, in text, under every spelling; the model path keeps its short name
    ({"TABWISE_MODEL": "/e.gguf", "TABWISE_THREADS": " 3 ", "TABWISE_PRELOAD": "off", "TABWISE_RUNTIME_DIR": "/r"},
     ENV, {}, {"model_path": "/e.gguf", "threads": 3, "preload": False}, []),
    ({}, CAMEL, {"TABWISE_MODEL": "/e.gguf", "TABWISE_THREADS": "3", "TABWISE_PRELOAD": "no"},
     {"model_path": "/e.gguf", "threads": 3, "preload": False}, []),
    ({}, SNAKE, {"TABWISE_DISABLED_LANGUAGES": "markdown, text", "TABWISE_ANSWER_TOKENS": "100"},
     {"disabled_languages": ("markdown", "text"), "answer_tokens": 100}, []),
    # a front end's own settings win over the environment; null or "" leaves the environment's
    ({"threads": 1, "modelPath": None, "gpuLayers": ""}, CAMEL, {"TABWISE_THREADS": "3", "TABWISE_MODEL": "/e.gguf"},
     {"threads": 1, "model_path": "/e.gguf"}, []),
    ({"--threads": 2}, FLAG, {"TABWISE_THREADS": "3", "TABWISE_GPU_LAYERS": "0"}, {"threads": 2, "gpu_layers": 0}, []),
    # bad types: strict JSON (no "4" for 4, no true for 1), and text that is no number or no yes/no
    ({"maxTokens": "many", "contextTokens": True, "preload": 1, "modelPath": 5, "disabledLanguages": "python"},
     CAMEL, {}, {}, ["maxTokens", "contextTokens", "preload", "modelPath", "disabledLanguages"]),
    ({"threads": "4", "disabled_languages": [1]}, SNAKE, {}, {}, ["threads", "disabled_languages"]),
    ({}, CAMEL, {"TABWISE_THREADS": "four", "TABWISE_PRELOAD": "maybe"}, {}, ["TABWISE_THREADS", "TABWISE_PRELOAD"]),
    # negative numbers: -1 GPU layers is "all", anything lower is an error; no negative threads or budgets
    ({"gpuLayers": -1, "threads": 0}, CAMEL, {}, {}, []),
    ({"gpuLayers": -2, "threads": -1, "maxTokens": 0, "timeBudgetMs": -5}, CAMEL, {},
     {}, ["gpuLayers", "threads", "maxTokens", "timeBudgetMs"]),
    ({"--gpu-layers": -3}, FLAG, {"TABWISE_CONTEXT_TOKENS": "-1"}, {}, ["TABWISE_CONTEXT_TOKENS", "--gpu-layers"]),
    # unknown keys are other things' (the VS Code extension's own tabwise.python, other variables): ignored
    ({"python": "/usr/bin/python3", "max_tokens": 5, "gpu-layers": 2}, CAMEL, {"TABWISE_CACHE_DIR": "/tmp"}, {}, []),
    ({"maxTokens": 5, "model": "/m.gguf"}, SNAKE, {}, {}, []),
]  # fmt: skip


@pytest.mark.parametrize(("source", "spelling", "environment", "changed", "bad_keys"), CASES)
def test_read_settings(
    monkeypatch: pytest.MonkeyPatch,
    source: dict[str, Any],
    spelling: Spelling,
    environment: dict[str, str],
    changed: dict[str, Any],
    bad_keys: list[str],
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings, problems = read_settings(source, spelling)
    assert settings == Settings(**changed)
    assert len(problems) == len(bad_keys)
    for key, problem in zip(bad_keys, problems, strict=True):
        assert problem.startswith(f"setting {key}=") and "ignored" in problem


def test_a_bad_value_keeps_the_previous_one() -> None:
    current, _ = read_settings({"maxTokens": 10, "threads": 2}, CAMEL)
    settings, problems = read_settings({"maxTokens": "many", "contextTokens": -5, "threads": 4}, CAMEL, current)
    assert (settings.max_tokens, settings.context_tokens, settings.threads) == (10, Settings().context_tokens, 4)
    assert [p.split("=")[0] for p in problems] == ["setting maxTokens", "setting contextTokens"]


def test_null_unsets_to_the_environment_not_to_the_previous_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABWISE_THREADS", "3")
    current, _ = read_settings({"threads": 1}, CAMEL)
    assert read_settings({"threads": None}, CAMEL, current)[0].threads == 3


def test_environment_problems_come_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABWISE_MAX_TOKENS", "x")
    settings, problems = read_settings({}, CAMEL)
    assert problems == ["setting TABWISE_MAX_TOKENS='x' ignored: expected an integer"]
    assert read_settings({}, CAMEL, settings)[1] == []  # a configuration change: not again


@pytest.mark.parametrize(
    ("settings", "gpu", "threads"),
    [(Settings(), None, None), (Settings(gpu_layers=0, threads=2), 0, 2), (Settings(gpu_layers=12), 12, None)],
)
def test_all_gpu_layers_and_all_cores_are_the_engines_none(
    settings: Settings, gpu: int | None, threads: int | None
) -> None:
    mapped = engine_settings(settings)
    assert (mapped["n_gpu_layers"], mapped["n_threads"]) == (gpu, threads)


def test_engine_settings_are_engine_config_fields() -> None:
    mapped = engine_settings(Settings(model_path="~/m.gguf", answer_tokens=5))
    config = EngineConfig(**mapped)  # a renamed EngineConfig field fails here
    assert config.model_path == Path.home() / "m.gguf" and config.chat_max_tokens == 5
    assert "disabled_languages" not in mapped  # a front end's own


def test_flags_are_generated_and_read_back() -> None:
    parser = argparse.ArgumentParser()
    add_flags(parser, "model_path", "threads", "gpu_layers")
    args = parser.parse_args(["--model", "/m.gguf", "--gpu-layers", "-1"])
    assert flag_values(args) == {"--model": "/m.gguf", "--threads": None, "--gpu-layers": -1}
    assert read_settings(flag_values(args), FLAG)[0] == Settings(model_path="/m.gguf")
