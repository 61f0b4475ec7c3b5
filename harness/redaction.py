"""Credentials at any depth of a JSON document: found (`harness push` refuses to share such a file) or masked
(`--log-to` sends a configuration to a third-party service). Both judge a value the way
`harness.adapters.redact` does when run.json and results.json are written: by its key's name or by a value
that looks like a key."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from .adapters import is_secret

#: What redaction writes in place of a credential.
REDACTED = "***"


def in_clear(name: str, value: Any) -> bool:
    """A credential that is still readable: empty and already-redacted values are not."""
    return isinstance(value, str) and value not in ("", REDACTED) and is_secret(name, value)


def secret_fields(obj: Any, where: str = "", name: str = "") -> Iterator[str]:
    """The dotted path (`model.args.api_key`, `headers[0].authorization`) of every credential in clear."""
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from secret_fields(value, f"{where}.{key}" if where else str(key), str(key))
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from secret_fields(value, f"{where}[{i}]", name)
    elif in_clear(name, obj):
        yield where


def redact_deep(obj: Any, name: str = "") -> Any:
    """`obj` with every credential in clear replaced by REDACTED, at every depth (a list item is judged by
    the key that holds the list)."""
    if isinstance(obj, Mapping):
        return {k: redact_deep(v, str(k)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_deep(v, name) for v in obj]
    return REDACTED if in_clear(name, obj) else obj
