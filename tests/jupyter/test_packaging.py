"""`pip install` is the only step: the wheel enables the server extension and carries the labextension."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(600)
def test_the_wheel_enables_the_extension_and_ships_the_labextension(tmp_path: Path) -> None:
    if not (ROOT / "build" / "labextension" / "package.json").exists():
        pytest.fail("build/labextension is missing: run `make labextension` (make test does)")
    build = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path), str(ROOT)]
    subprocess.run(build, check=True, capture_output=True, timeout=500)
    (wheel,) = tmp_path.glob("tabwise-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        config = next(name for name in names if name.endswith("jupyter_server_config.d/jupyter_ext.json"))
        assert json.loads(archive.read(config)) == {"ServerApp": {"jpserver_extensions": {"jupyter_ext": True}}}
        lab = [name for name in names if "/share/jupyter/labextensions/tabwise-jupyterlab/" in name]
        assert any(name.endswith("/package.json") for name in lab)
        assert any("/static/remoteEntry." in name for name in lab)
