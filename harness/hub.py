"""Whether the Hugging Face hub can be reached, found out at once instead of after the hub client's retries.

A machine without a network (or with `HF_HUB_OFFLINE=1`) otherwise spends 25-30 s per attempt in retries and
prints pages of warnings before failing. `unreachable()` answers from the environment and a name lookup (no
connection is opened), and `advice()` says what to do instead.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

from .errors import UsageError

TRUE = ("1", "true", "yes", "on")


def offline_flag() -> bool:
    return any(os.environ.get(name, "").strip().lower() in TRUE for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def unreachable() -> str | None:
    """Why the hub cannot be reached (None: it may be). `HF_HUB_OFFLINE` does not count: with it set, the hub
    clients read their local cache, which may hold what is needed."""
    host = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").hostname or "huggingface.co"
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return f"{host} does not resolve (no network here)"
    return None


def require(what: str) -> None:
    """Raise a one-line `UsageError` naming `what` could not be fetched and what to do instead, when the hub is
    unreachable; nothing when it may be reached or `HF_HUB_OFFLINE` asks the clients for their cache."""
    why = None if offline_flag() else unreachable()
    if why:
        raise UsageError(f"{what} from the hub: {why}. Use --data-dir with a local copy of the data, a local "
                         f"pretrained= directory for a model, or HF_HUB_OFFLINE=1 to read what the hub cache holds")
