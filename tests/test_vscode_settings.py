"""The VS Code extension's settings: a workspace (a cloned repository's .vscode/settings.json) cannot set
what runs, what is loaded or read, or where code is sent.

VS Code ignores a "machine"-scoped setting in workspace and folder settings: only the user's own settings
(or, in a remote window, the remote machine's) set it.
"""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

from completion.config import MODEL_FIELDS
from completion.settings import Settings, Spelling, engine_names, spelled

PACKAGE = Path(__file__).resolve().parents[1] / "editors" / "vscode" / "package.json"
EXTENSION = PACKAGE.parent / "src" / "extension.ts"
OWN_EXECUTABLE = "python"  # the extension's own setting: the interpreter it runs the server with
# Words in a setting's description that say it names an executable, a file or a place code is sent to.
NAMES_A_PLACE = re.compile(r"\b(file|path|url|interpreter|executable|server|folder|directory)\b", re.IGNORECASE)


def properties() -> dict[str, dict[str, Any]]:
    """The extension's settings, without the "tabwise." prefix."""
    contributed = json.loads(PACKAGE.read_text())["contributes"]["configuration"]["properties"]
    return {key.removeprefix("tabwise."): spec for key, spec in contributed.items()}


def model_settings() -> set[str]:
    """The settings, as the extension spells them, that pick and load the model (a file, a URL, a key file...)."""
    engine = {f.name: f.metadata["engine"] for f in fields(Settings) if "engine" in f.metadata}
    return {spelled(name, Spelling.CAMEL) for name in engine_names() if engine[name] in MODEL_FIELDS}


def test_settings_that_name_a_program_a_file_or_a_url_are_the_machines() -> None:
    settings = properties()
    must = model_settings() | {OWN_EXECUTABLE}
    assert {"python", "modelPath", "backendUrl", "apiKeyFile", "backend"} <= must
    assert must <= settings.keys()  # every one of them is a setting of the extension
    described = {
        name
        for name, spec in settings.items()
        if NAMES_A_PLACE.search(spec.get("markdownDescription", spec.get("description", "")))
    }
    workspace_may_set = {name for name, spec in settings.items() if spec.get("scope") != "machine"}
    assert sorted((must | described) & workspace_may_set) == []


def test_the_extension_reads_settings_through_vscode_which_honours_the_scope() -> None:
    source = EXTENSION.read_text()
    assert "process.env.TABWISE" not in source  # no second way in beside the settings
    reads = re.findall(r"getConfiguration\(([^)]*)\)", source)
    assert reads and all(argument.strip() == '"tabwise"' for argument in reads)
    assert "inspect(" not in source  # inspect() would see the workspace's value of a machine setting
