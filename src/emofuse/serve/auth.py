"""The service's optional API key: read from a file at start-up, sent by clients in a header, compared in
constant time.

Clients send ``X-API-Key: <key>`` (or ``Authorization: Bearer <key>``); the web page asks for the key once and
keeps it in the browser's local storage. Only ``POST /predict`` needs it; the page, its static files, the docs
and a bare ``/health`` do not (``/health`` leaves out the model's description without a key).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from pathlib import Path

from emofuse.errors import ConfigError

API_KEY_HEADER = "x-api-key"
MIN_KEY_CHARS = 16
MAX_KEY_CHARS = 4096


def load_api_key(path: str | os.PathLike[str]) -> str:
    """The key in ``path`` (its first line, stripped).

    Raises:
        ConfigError: the file is missing, unreadable, empty, shorter than :data:`MIN_KEY_CHARS` or not ASCII.
    """
    p = Path(path).expanduser()
    try:
        raw = p.read_bytes()[: MAX_KEY_CHARS + 2]
    except OSError as exc:
        raise ConfigError(
            f"--api-key-file {p}: cannot read it ({exc.strerror}); give a file holding the key"
        ) from None
    try:
        lines = raw.decode("ascii").strip().splitlines()
    except UnicodeDecodeError:
        raise ConfigError(
            f"--api-key-file {p}: the key must be ASCII text (e.g. `openssl rand -hex 32`)"
        ) from None
    key = lines[0].strip() if lines else ""
    if len(key) < MIN_KEY_CHARS or len(key) > MAX_KEY_CHARS:
        raise ConfigError(
            f"--api-key-file {p}: the key must be {MIN_KEY_CHARS} to {MAX_KEY_CHARS} characters on the first line; "
            "make one with `openssl rand -hex 32 > key.txt`"
        )
    return key


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request carries in ``X-API-Key`` or ``Authorization: Bearer``; None when it carries none."""
    key = headers.get(API_KEY_HEADER)
    if key is None:
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        key = value.strip() if scheme.lower() == "bearer" else None
    return key


def key_matches(presented: str | None, expected: str) -> bool:
    """Constant-time comparison of the presented key with the expected one (False when none was presented)."""
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode("utf-8", "replace"), expected.encode("utf-8"))
