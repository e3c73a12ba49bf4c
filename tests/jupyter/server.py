"""A real `jupyter server` process with the extension, for kernels to find as they would in use, and the
private tabwise service runtime directory every Jupyter test gives the service it starts."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient

from tests.processes import free_port, private_service, running, service_env, wait_for_http


@dataclass(frozen=True)
class RunningServer:
    url: str
    token: str
    pid: int
    runtime_dir: Path  # Jupyter's (kernel connection files)
    service_dir: Path  # the tabwise service's, private to this server

    def get(self, path: str) -> Any:
        return self.call(path, None)

    def call(self, path: str, body: dict[str, Any] | None) -> Any:
        """GET (no body) or POST to the server's API with its token."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def start_kernel(self, name: str = "python3") -> ServerKernel:
        """A kernel (python3 unless named) started by the server, as JupyterLab starts one for a notebook."""
        return ServerKernel(self, self.call("api/kernels", {"name": name})["id"])


@dataclass
class ServerKernel:
    """A kernel the server started (so it sees what such kernels see), as nbclient's kernel manager."""

    server: RunningServer
    kernel_id: str
    has_kernel: bool = True

    def client(self) -> AsyncKernelClient:
        client = AsyncKernelClient()
        client.load_connection_file(str(self.server.runtime_dir / f"kernel-{self.kernel_id}.json"))
        return client

    async def interrupt_kernel(self) -> None:
        """Through the server, as JupyterLab's stop button does."""
        self.server.call(f"api/kernels/{self.kernel_id}/interrupt", {})

    async def is_alive(self) -> bool:
        return True


@contextmanager
def jupyter_server(
    root: Path, *options: str, app: str = "jupyter_server", service: Path | None = None
) -> Iterator[RunningServer]:
    """`jupyter server` (or `app="jupyterlab"`) on a free loopback port with private config/data/runtime
    dirs and a private tabwise service (or the one whose runtime directory is `service`), all ended
    afterwards."""
    port, token = free_port(), secrets.token_hex(16)
    dirs = {name: root / name.lower() for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR")}
    for folder in dirs.values():
        folder.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", app, "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--ServerApp.jpserver_extensions={'jupyter_ext': True}", *options,
    ]  # fmt: skip
    log = (root / "server.log").open("wb")
    with private_service() if service is None else nullcontext(service) as service_dir:
        env = os.environ | {name: str(folder) for name, folder in dirs.items()} | service_env(service_dir)
        with running(command, env=env, stdout=log, stderr=subprocess.STDOUT) as process:
            url = f"http://127.0.0.1:{port}/"
            server = RunningServer(url, token, process.pid, dirs["JUPYTER_RUNTIME_DIR"], service_dir)
            wait_for_http(server.url + "api", process, 60)  # /api answers without a token
            yield server
