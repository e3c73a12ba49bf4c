"""What a remote backend holds that no message, status or log may show: the API key and a URL's userinfo.

The key is the first line of its file (or $TABWISE_API_KEY), read with a byte cap from a regular file only,
and must be a token an HTTP header can carry; every problem names the file, never what it holds. `scrub`
takes the key and any `user:password@` out of a text built from an exception or a server's answer before
it is stored, shown or logged; httpx, which logs every request's URL with its userinfo at INFO, is kept to
warnings, and what it still logs is scrubbed.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote

from completion.errors import BackendUnavailable

KEY_ENV = "TABWISE_API_KEY"  # the key itself, where no key file is set (read by the process that connects)
KEY_FILE_MAX_BYTES = 4096  # a key is tens of bytes: a bigger file is not a key file (or is endless)
MASK = "***"  # what a secret is replaced with
TOKEN = re.compile(r"[\x21-\x7e]+")  # visible ASCII, no spaces: what a bearer token in a header can be
USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s]*@")  # the `user:password@` of a URL
HTTP_LOGGERS = ("httpx", "httpcore")


def read_key(key_file: Path | None) -> str | None:
    """The API key: the first line of `key_file`, else $TABWISE_API_KEY, else none."""
    if key_file is None:
        return _checked(os.environ.get(KEY_ENV, "").strip(), f"${KEY_ENV}") or None
    path = key_file.expanduser()
    first, _, rest = _key_file_text(path).replace("\r", "\n").partition("\n")
    key = first.strip()
    if not key and rest.strip():
        raise BackendUnavailable(f"the first line of the API key file {path} is empty: the key goes there")
    return _checked(key, f"the API key file {path}") or None


def _key_file_text(path: Path) -> str:
    """What `path` holds, if it is a regular file of at most KEY_FILE_MAX_BYTES (a FIFO or a device, which
    may never end, is refused before a byte is read)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO opens without waiting
    except OSError as exc:
        raise BackendUnavailable(f"cannot read the API key file {path}: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise BackendUnavailable(f"the API key file {path} is not a regular file")
        data = b""
        while len(data) <= KEY_FILE_MAX_BYTES and (chunk := os.read(fd, KEY_FILE_MAX_BYTES + 1 - len(data))):
            data += chunk
    except OSError as exc:
        raise BackendUnavailable(f"cannot read the API key file {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > KEY_FILE_MAX_BYTES:
        raise BackendUnavailable(f"the API key file {path} is over {KEY_FILE_MAX_BYTES:,} bytes: it holds a key alone")
    return data.decode("utf-8", errors="replace")


def _checked(key: str, source: str) -> str:
    """`key` if a header can carry it; the error names `source`, never the key."""
    if key and not TOKEN.fullmatch(key):
        raise BackendUnavailable(
            f"the key in {source} is not a valid API key: only letters, digits and punctuation, with no spaces"
        )
    return key


def public_url(url: str) -> str:
    """`url` without its `user:password@`, for messages, status and logs."""
    return USERINFO.sub(r"\1", url)


def secrets_of(url: str, key: str | None) -> tuple[str, ...]:
    """What `scrub` must take out of messages about the server at `url`: the key and the URL's userinfo."""
    found = [key or ""]
    if match := USERINFO.search(url):
        userinfo = match.group()[len(match.group(1)) : -1]
        user, _, password = userinfo.partition(":")
        basic = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()  # as httpx sends it
        found += [userinfo, password, unquote(password), basic]
    kept = {secret for secret in found if len(secret) >= 3}  # shorter ones would mask ordinary words
    return tuple(sorted(kept, key=len, reverse=True))  # the longest first: none is masked half


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without `secrets` (as written or as repr() escapes them) and without any URL's userinfo."""
    for secret in secrets:
        for form in (secret, repr(secret)[1:-1]):
            text = text.replace(form, MASK)
    return public_url(text)


class ScrubLog(logging.Filter):
    """Takes URL userinfo out of a log record before any handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if USERINFO.search(message):
            record.msg, record.args = public_url(message), ()
        return True


def quiet_http_logs() -> None:
    """Keep httpx and httpcore to warnings (httpx logs every request's URL at INFO), and scrub what httpx,
    the one that names URLs, still logs."""
    for name in HTTP_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(max(logger.level, logging.WARNING))
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(existing, ScrubLog) for existing in httpx_log.filters):
        httpx_log.addFilter(ScrubLog())
