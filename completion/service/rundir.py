"""The runtime directory: the service's socket, its file (service.json), its log and its locks; the
language server's TCP tokens.

Only the user may reach any of it: the directory is created with mode 0700, and one that others can
read or write, or that another user owns, is refused. The socket, service.json and the tokens are mode
0600. A token proves that a client can read this directory, so that it is the user's.
"""

from __future__ import annotations

import contextlib
import fcntl
import hmac
import json
import os
import secrets
import stat
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from completion.errors import TabwiseError
from completion.service.errors import ServiceStartError

ENV = "TABWISE_RUNTIME_DIR"  # overrides the platform's runtime directory (tests, private services)
SOCKET_PATH_MAX = 107  # bytes in sockaddr_un.sun_path, less the terminating NUL
LOG_KEPT_BYTES = 10 * 2**20  # a longer log is moved to service.log.1 when a service starts


@dataclass(frozen=True)
class RunDir:
    """The paths in one runtime directory."""

    path: Path

    @property
    def socket(self) -> Path:
        return self.path / "service.sock"

    @property
    def info(self) -> Path:
        return self.path / "service.json"

    @property
    def log(self) -> Path:
        return self.path / "service.log"

    @property
    def start_lock(self) -> Path:
        """Held by a client while it starts a service, so that two front ends starting at once get one."""
        return self.path / "start.lock"

    @property
    def service_lock(self) -> Path:
        """Held by a running service for its whole life: one service per directory, released on any death."""
        return self.path / "service.lock"

    def lsp_token(self, port: int) -> Path:
        """The token a client of `tabwise lsp --tcp` on `port` must present (see lsp_server/tcp.py)."""
        return self.path / f"lsp-{port}.token"


@dataclass(frozen=True)
class ServiceInfo:
    """What service.json tells clients: how to reach the service and prove they are its user."""

    version: int  # protocol version
    socket: str
    token: str
    pid: int
    log: str


def runtime_dir(override: Path | str | None = None) -> RunDir:
    """The runtime directory (created 0700 if missing), from `override`, $TABWISE_RUNTIME_DIR or the platform."""
    if override is None:
        override = os.environ.get(ENV) or None
    if override is None:
        import platformdirs

        override = platformdirs.user_runtime_dir("tabwise")
    path = Path(override).absolute()
    secure_dir(path)
    if len(os.fsencode(path / "service.sock")) > SOCKET_PATH_MAX:
        raise TabwiseError(f"the runtime directory path is too long for a socket ({path}); set {ENV} to a shorter one")
    return RunDir(path)


def secure_dir(path: Path) -> None:
    """Create `path` with mode 0700, or check that an existing one is the user's alone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _check_parent(path.parent)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
        os.chmod(path, 0o700)  # mkdir's mode is cut by the umask, never widened: make it exact
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise TabwiseError(f"{path} must be a directory (it is not, or is a symbolic link); remove it or set {ENV}")
    if info.st_uid != os.getuid():
        raise TabwiseError(f"{path} belongs to another user (uid {info.st_uid}); set {ENV} to a directory of yours")
    if info.st_mode & 0o077:
        raise TabwiseError(
            f"{path} can be reached by other users (mode {stat.S_IMODE(info.st_mode):o}); run `chmod 700 {path}`"
        )


def _check_parent(parent: Path) -> None:
    """Refuse a parent where another user could swap the directory for their own (not /tmp: it is sticky)."""
    info = os.stat(parent)
    shared = info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX
    if info.st_uid not in (os.getuid(), 0) or shared:
        raise TabwiseError(f"{parent} can be changed by other users, so {ENV} must not point inside it")


def new_token() -> str:
    """A fresh secret for clients to present (256 bits, URL-safe text)."""
    return secrets.token_urlsafe(32)


def token_matches(given: object, token: str) -> bool:
    """Whether a client sent `token`, compared in constant time (a timing says nothing of its prefix)."""
    return isinstance(given, str) and hmac.compare_digest(given.encode(), token.encode())


def write_private(path: Path, text: str) -> None:
    """Write `path` atomically with mode 0600: a reader never sees half of it, nor a moment of wider mode."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    os.replace(temporary, path)


def write_info(rundir: RunDir, info: ServiceInfo) -> None:
    """Write service.json (0600, atomically): how to reach the service, and its token."""
    write_private(rundir.info, json.dumps(asdict(info)))


def read_info(rundir: RunDir) -> ServiceInfo | None:
    """service.json, or None when it is missing or unreadable; fields a newer version adds are ignored."""
    try:
        data = json.loads(rundir.info.read_text())
        version, pid = int(data["version"]), int(data["pid"])
        return ServiceInfo(version, str(data["socket"]), str(data["token"]), pid, str(data["log"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_if_ours(rundir: RunDir, pid: int, socket_inode: int) -> None:
    """Remove service.json and the socket, unless a newer service has replaced them already."""
    info = read_info(rundir)
    if info is not None and info.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            rundir.info.unlink()
    with contextlib.suppress(FileNotFoundError):
        if os.lstat(rundir.socket).st_ino == socket_inode:
            rundir.socket.unlink()


def try_hold(path: Path) -> int | None:
    """An exclusive lock on `path` held for as long as the returned descriptor stays open; None if taken."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@contextlib.contextmanager
def locked(path: Path, timeout_s: float) -> Iterator[None]:
    """Hold an exclusive lock on `path` for the `with` block, waiting at most `timeout_s` for it."""
    deadline = time.monotonic() + timeout_s
    while (fd := try_hold(path)) is None:
        if time.monotonic() > deadline:
            raise ServiceStartError(f"another tabwise front end held {path} for {timeout_s:.0f} s (starting)")
        time.sleep(0.05)
    try:
        yield
    finally:
        os.close(fd)


def open_log(rundir: RunDir) -> int:
    """The log's descriptor for appending (mode 0600); a log grown past LOG_KEPT_BYTES is moved aside first."""
    with contextlib.suppress(FileNotFoundError):
        if rundir.log.stat().st_size > LOG_KEPT_BYTES:
            os.replace(rundir.log, rundir.log.with_name("service.log.1"))
    return os.open(rundir.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
