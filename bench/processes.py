"""What the benchmarks that start tabwise processes share: a private runtime directory for the service,
and ending what they started (the service too), each step bounded by a timeout."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from completion.service.rundir import ENV, RunDir, read_info

STOP_WAIT_S = 15.0  # SIGTERM, then this long, then SIGKILL
IDLE_EXIT_ENV = "TABWISE_SERVICE_IDLE_EXIT_S"  # read by the service command
IDLE_EXIT_S = "120"  # a safety net: a service left behind by a killed benchmark exits soon by itself


@contextmanager
def private_runtime(prefix: str) -> Iterator[Path]:
    """A short private folder (a socket path holds at most 107 bytes) whose `run` subfolder is the tabwise
    runtime directory; afterwards the services started there are stopped and the folder removed."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        yield folder
    finally:
        stop_services(folder / "run")
        shutil.rmtree(folder, ignore_errors=True)


def free_port() -> int:
    """A free TCP port on the loopback interface (the only one the benchmarks listen on)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def runtime_env(folder: Path) -> dict[str, str]:
    """The environment that points front ends (and the service they start) at `folder`'s runtime dir."""
    return {ENV: str(folder / "run"), IDLE_EXIT_ENV: IDLE_EXIT_S}


def service_pid(runtime: Path) -> int | None:
    """The pid service.json names, if that process is alive and a tabwise service (a test may write any pid
    there; no other process is ever signalled for it)."""
    info = read_info(RunDir(runtime)) if runtime.exists() else None
    if info is None:
        return None
    try:
        command = " ".join(psutil.Process(info.pid).cmdline())
    except psutil.Error:
        return None
    return info.pid if "completion.service" in command or " serve" in command else None


def services_for(runtime: Path) -> list[psutil.Process]:
    """Service processes (`python -m completion.service`) whose runtime directory is `runtime` or inside it
    (a front end that meets a service of another protocol version starts its own in `protocol-N`)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if "completion.service" not in (process.info["cmdline"] or []):
            continue
        with contextlib.suppress(psutil.Error):
            if Path(process.environ().get(ENV) or "/nonexistent").is_relative_to(runtime):
                found.append(process)
    return found


def stop_services(runtime: Path) -> None:
    """SIGTERM the service service.json names and any other started for `runtime`, then SIGKILL."""
    pids = {p.pid for p in services_for(runtime)} | ({pid} if (pid := service_pid(runtime)) else set())
    processes = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            processes.append(psutil.Process(pid))
    stop(processes)


def stop(processes: list[psutil.Process]) -> None:
    """SIGTERM each, wait, SIGKILL what is left (only processes this benchmark started)."""
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(processes, STOP_WAIT_S)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, STOP_WAIT_S)


def end(process: subprocess.Popen[bytes]) -> None:
    """A process this benchmark started: terminated and waited for (killed if it does not go)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_WAIT_S)
