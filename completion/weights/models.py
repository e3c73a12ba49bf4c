"""Where models live: the fetched default, the user's chosen GGUF, and GGUFs found on this machine."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from completion.errors import ModelFileError
from completion.settings import Spelling, spelled
from completion.weights.gguf_file import GgufHeader, read_header

APP = "tabwise"
DEFAULT_MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


def cache_dir() -> Path:
    """tabwise's cache folder (TABWISE_CACHE_DIR overrides, e.g. for tests)."""
    return Path(os.environ.get("TABWISE_CACHE_DIR") or platformdirs.user_cache_dir(APP))


def settings_file() -> Path:
    """The JSON file that remembers `tabwise model use` (TABWISE_CONFIG_DIR overrides)."""
    folder = os.environ.get("TABWISE_CONFIG_DIR") or platformdirs.user_config_dir(APP)
    return Path(folder) / "settings.json"


def default_model_path() -> Path:
    """Where `tabwise model fetch` puts the default model."""
    return cache_dir() / "models" / DEFAULT_MODEL_FILE


def chosen_model_path() -> Path | None:
    """The GGUF picked with `tabwise model use`, if any."""
    try:
        value = json.loads(settings_file().read_text(encoding="utf-8")).get("model_path")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(value) if isinstance(value, str) else None


def resolve_model_path(explicit: Path | None = None) -> Path:
    """The model to load: `explicit`, else TABWISE_MODEL, else the chosen one, else the default (the
    environment is read here too for what does not go through completion.settings: benchmarks, tests)."""
    env = os.environ.get(spelled("model_path", Spelling.ENV))
    return explicit or (Path(env) if env else None) or chosen_model_path() or default_model_path()


def use_model(path: Path) -> GgufHeader:
    """Validate `path` as a GGUF and remember it as the model to load; nothing changes if it is bad."""
    path = path.expanduser().resolve()
    header = read_header(path)
    target = settings_file()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps({"model_path": str(path)}, indent=2), encoding="utf-8")
    os.replace(tmp, target)
    return header


def forget_chosen_model() -> None:
    """Go back to the default model."""
    settings_file().unlink(missing_ok=True)


def huggingface_cache_dirs() -> list[Path]:
    """Folders where the Hugging Face hub keeps downloads, by its own environment variables."""
    if os.environ.get("HF_HUB_CACHE"):
        return [Path(os.environ["HF_HUB_CACHE"])]
    home = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    return [home / "hub"]


@dataclass(frozen=True)
class ModelEntry:
    """One GGUF found on this machine."""

    path: Path
    size: int  # bytes
    name: str  # general.name from the header, or the file name
    error: str | None  # why it cannot be used, or None


def list_models() -> list[ModelEntry]:
    """The default model, the chosen one and every GGUF in the tabwise and Hugging Face caches."""
    candidates = [default_model_path(), *(p for p in [chosen_model_path()] if p)]
    for folder in [cache_dir() / "models", *huggingface_cache_dirs()]:
        if folder.is_dir():
            candidates.extend(sorted(folder.rglob("*.gguf")))
    seen: set[Path] = set()
    entries = []
    for path in candidates:
        resolved = path.resolve()
        if resolved in seen or not path.exists():
            continue
        seen.add(resolved)
        try:
            header = read_header(path)
            entries.append(ModelEntry(path, path.stat().st_size, str(header.get("general.name", path.name)), None))
        except ModelFileError as exc:
            entries.append(ModelEntry(path, path.stat().st_size, path.name, str(exc)))
    return entries
