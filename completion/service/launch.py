"""Find the running service through service.json, or start one: two front ends starting at once get one.

Starting happens under a lock on start.lock in the runtime directory; the service is a new session
(it outlives the front end that started it), its output goes to the log. A service that runs but does
not answer (stopped, swapping, stuck) holds the service lock, so a new one could never start beside it:
it is killed first, if it is this user's process that service.json names, and then replaced.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

from completion.errors import TabwiseError
from completion.service import rundir as rundirs
from completion.service.connection import HUNG_AFTER_S, Link
from completion.service.errors import ServiceHung, ServiceStartError, ServiceVersionError
from completion.service.protocol import PROTOCOL_VERSION

log = logging.getLogger(__name__)
START_TIMEOUT_S = 30.0  # a service that has not answered by then is reported, with its log
LOG_TAIL_LINES = 5  # lines of the log shown when a service dies at start
KILL_WAIT_S = 10.0  # how long a hung service killed with SIGKILL may take to die


def connect_or_start(
    client: str,
    rundir: rundirs.RunDir,
    serve_args: Sequence[str] = (),
    timeout_s: float = START_TIMEOUT_S,
    hung: int | None = None,
    hung_after_s: float = HUNG_AFTER_S,
) -> tuple[Link, subprocess.Popen[bytes] | None]:
    """A link to the running service, or to one started now (then also its process, for its exit status).

    `hung` is the pid of a service found not answering: it is killed and replaced (see `end_hung`),
    as is one that does not answer the handshake within `hung_after_s`."""
    if hung is None:
        try:
            link = try_connect(client, rundir, hung_after_s)
        except ServiceHung as exc:
            hung = exc.pid
        else:
            if link is not None:
                return link, None
    with rundirs.locked(rundir.start_lock, timeout_s):
        link = connect_replacing(client, rundir, hung, hung_after_s)  # another front end may have started one
        if link is not None:
            return link, None
        process = spawn(rundir, serve_args)
        return wait_until_ready(client, rundir, process, time.monotonic() + timeout_s), process


def connect_replacing(client: str, rundir: rundirs.RunDir, hung: int | None, hung_after_s: float) -> Link | None:
    """A link to the service service.json names, once `hung` (and any found hung now) is killed; None: none runs."""
    if hung is not None:
        end_hung(rundir, hung)
    try:
        return try_connect(client, rundir, hung_after_s)
    except ServiceHung as exc:
        end_hung(rundir, exc.pid)
        return None


def end_hung(rundir: rundirs.RunDir, pid: int) -> None:
    """Kill (SIGKILL: a stopped process takes nothing else) the service `pid` that does not answer, if
    service.json still names it and it is this user's process started before service.json was written
    (not a process that took the pid later); ServiceStartError when it may not or cannot be killed."""
    info = rundirs.read_info(rundir)
    if info is None or info.pid != pid:
        return  # gone, or another front end replaced it already
    try:
        process = psutil.Process(pid)
        written = rundir.info.stat().st_mtime
        if process.uids().real != os.getuid() or process.create_time() > written + 1:
            raise ServiceStartError(
                f"{rundir.info} names pid {pid}, which does not answer and is not this user's tabwise service; "
                f"stop that process or remove the file"
            )
        process.kill()
    except (psutil.NoSuchProcess, FileNotFoundError):
        return
    except psutil.AccessDenied as exc:
        raise ServiceStartError(
            f"the tabwise service (pid {pid}) does not answer and may not be killed: {exc}"
        ) from None
    log.warning("killed the tabwise service (pid %d): it did not answer", pid)
    deadline = time.monotonic() + KILL_WAIT_S
    while pid_alive(pid):  # its lock on service.lock goes with it; a new service can start then
        if time.monotonic() > deadline:
            raise ServiceStartError(f"the tabwise service (pid {pid}) was killed, as it did not answer, but lives on")
        time.sleep(0.05)


def try_connect(client: str, rundir: rundirs.RunDir, hung_after_s: float = HUNG_AFTER_S) -> Link | None:
    """A link to the service service.json names, or None when there is none (or only a dead one's file);
    ServiceHung when it runs but takes no connection, or does not answer the handshake, in `hung_after_s`."""
    info = rundirs.read_info(rundir)
    if info is None or not pid_alive(info.pid):
        return None
    if info.version != PROTOCOL_VERSION:
        raise ServiceVersionError(
            f"the tabwise service (pid {info.pid}, {info.socket}) speaks protocol version {info.version} and "
            f"this front end version {PROTOCOL_VERSION}: stop it (kill {info.pid}) or give this front end a "
            f"private runtime directory ({rundirs.ENV})"
        )
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(hung_after_s)
    try:
        sock.connect(info.socket)
        return Link(sock, info, client, hung_after_s)
    except (TimeoutError, BlockingIOError):  # BlockingIOError: its queue of connections it never took is full
        sock.close()
        raise ServiceHung(
            f"the tabwise service (pid {info.pid}) runs but did not answer within {hung_after_s:.0f} s", info.pid
        ) from None
    except OSError:
        sock.close()
        return None  # its file outlived it, or it is stopping
    except TabwiseError:
        sock.close()
        raise


def spawn(rundir: rundirs.RunDir, serve_args: Sequence[str]) -> subprocess.Popen[bytes]:
    """Start `python -m completion.service` in its own session, output to the log."""
    package_root = str(Path(__file__).resolve().parents[2])  # so it imports this tabwise, from any folder
    env = {**os.environ, rundirs.ENV: str(rundir.path)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    log = rundirs.open_log(rundir)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "completion.service", *serve_args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=rundir.path,  # not the front end's folder: a `completion` package there must not shadow ours
            env=env,
            start_new_session=True,  # Ctrl-C in the front end's terminal does not reach it
        )
    finally:
        os.close(log)


def wait_until_ready(client: str, rundir: rundirs.RunDir, process: subprocess.Popen[bytes], deadline: float) -> Link:
    """Wait until the started service answers; ServiceStartError with its log's last lines if it dies first."""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceStartError(
                f"the tabwise service {describe_exit(process.returncode)} as it started; its log {rundir.log} "
                f"ends with:\n{log_tail(rundir.log)}"
            )
        info = rundirs.read_info(rundir)
        if info is not None and info.pid == process.pid and (link := try_connect(client, rundir)) is not None:
            return link
        time.sleep(0.05)
    raise ServiceStartError(
        f"the tabwise service (pid {process.pid}) did not answer within {START_TIMEOUT_S:.0f} s; "
        f"see its log {rundir.log}"
    )


def pid_alive(pid: int) -> bool:
    """True if `pid` runs (a zombie, dead but not yet waited for, does not count)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def describe_exit(returncode: int | None) -> str:
    """An exit status in words: "was killed by SIGSEGV", "exited with status 1"."""
    if returncode is None:
        return "is still running"
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of the log, for an error message."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
