"""JupyterLab in Debian's Chromium: ghost text in a notebook cell and a %%ask answer, from the real default
model that the server extension hosts (the kernel, started by the server, finds it). Screenshots go to
test-output/<test>/."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import nbformat
import pytest

from completion.weights.models import default_model_path
from tests.editors.conftest import LABEXTENSION, NODE24, ROOT, require
from tests.jupyter.server import jupyter_server

pytestmark = [pytest.mark.real_model, pytest.mark.timeout(900)]

SOURCE = 'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n    if n < 2:\n        return n\n'
TYPED = "    return fibonacci(n - 1) + "
QUESTION = "%%ask\nIn one sentence: what does Python's `enumerate` return?"


def test_ghost_text_and_ask_in_jupyterlab(tmp_path: Path, output_dir: Path) -> None:
    if not default_model_path().exists():
        pytest.fail("the default model is missing: run `tabwise model fetch` (make test does)")
    require(LABEXTENSION)
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(src) for src in ("%load_ext jupyter_ext", QUESTION, SOURCE)]
    )
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "demo.ipynb"
    nbformat.write(notebook, path)
    with jupyter_server(tmp_path, "--TabwiseExtension.threads=2", app="jupyterlab") as server:
        drive = subprocess.run(
            [str(NODE24), "jupyterlab_drive.mjs", f"{server.url}lab/tree/demo.ipynb?token={server.token}", TYPED,
             str(output_dir)],
            capture_output=True, timeout=700, cwd=ROOT / "tests" / "editors",
        )  # fmt: skip
    seen = json.loads(drive.stdout.decode().strip().splitlines()[-1]) if drive.stdout.strip() else {}
    assert "error" not in seen and drive.returncode == 0, (seen.get("error"), seen, drive.stderr.decode()[-3000:])
    ghost = seen["ghost"].strip()
    assert ghost, seen
    assert (SOURCE + TYPED).rstrip() in seen["cell"] and ghost.splitlines()[0].strip() in seen["cell"], seen
    saved = nbformat.read(path, as_version=4)
    assert ghost.splitlines()[0].strip() in saved.cells[2].source
    assert "enumerate" in seen["answer"].lower() or "index" in seen["answer"].lower(), seen["answer"]
    assert (output_dir / "jupyterlab-ghost-text.png").exists()


CSV = "region,zebra_quota,unit_price\nnorth,3,1.5\nsouth,4,2.25\neast,5,0.75\n"
COLUMNS = ("region", "zebra_quota", "unit_price")  # only in the CSV file, never in the notebook


def test_ghost_text_knows_the_columns_of_a_csv_the_kernel_read(tmp_path: Path, output_dir: Path) -> None:
    if not default_model_path().exists():
        pytest.fail("the default model is missing: run `tabwise model fetch` (make test does)")
    require(LABEXTENSION)
    (tmp_path / "sales.csv").write_text(CSV)
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell('import pandas as pd\n\ndf = pd.read_csv("sales.csv")'),
               nbformat.v4.new_code_cell("")]
    )  # fmt: skip
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, tmp_path / "sales.ipynb")
    with jupyter_server(tmp_path, "--TabwiseExtension.threads=2", app="jupyterlab") as server:
        drive = subprocess.run(
            [str(NODE24), "jupyterlab_kernel_drive.mjs", f"{server.url}lab/tree/sales.ipynb?token={server.token}",
             'df["', str(output_dir)],
            capture_output=True, timeout=600, cwd=ROOT / "tests" / "editors",
        )  # fmt: skip
    seen = json.loads(drive.stdout.decode().strip().splitlines()[-1]) if drive.stdout.strip() else {}
    assert "error" not in seen and drive.returncode == 0, (seen.get("error"), seen, drive.stderr.decode()[-3000:])
    assert seen["ghost"].strip().startswith(COLUMNS), seen
    assert (output_dir / "jupyterlab-kernel-ghost-text.png").exists()
