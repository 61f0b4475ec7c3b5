"""The one interface every judge or scorer implements.

An adapter receives a *stream* of prepared requests and yields one `Reply` per request, in any order.
That single shape serves every kind we have:
- a local model pulls `batch_size` requests at a time and yields a batch of replies;
- an endpoint client keeps `concurrency` requests in flight and yields them as they complete;
- a replay or scripted judge answers one by one;
- a scalar scorer returns `Reply.score` instead of `Reply.text`.
Because the stream is lazy, media decoding for the next requests overlaps inference on the current
ones. Caching, resume and bookkeeping live in the runner, not in adapters.

Adapters are built from the CLI's `--model-args k=v,...` through `from_args`, which checks the keys
against the constructor and converts values to the annotated types. However an adapter is built (from
the CLI or in Python), its constructor's bound arguments, defaults included, are recorded in `args`
(inspect_ai's `registry_tag` idea): results.json and the run's config hash read them there, so no
subclass restates its arguments by hand and none can be left out. Recorded are the settings, the
arguments `--model-args` can set (str, int, float, bool, or None); a Python-only argument (a callable
hook, a table of scores) is not a setting, so `identity()` names it instead.
"""

from __future__ import annotations

import functools
import inspect
import re
import time
import types
import typing
from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Any, Callable, ClassVar, Iterable, Iterator, Mapping

from .errors import UsageError
from .records import Generation, PreparedRequest, Reply

#: Argument and environment names whose values are credentials (compared case-insensitively, whole names:
#: a substring rule once hid `max_new_tokens`, which is run identity, not a secret).
SECRET_NAMES = frozenset({
    "api_key", "apikey", "openai_api_key", "azure_api_key", "azure_openai_api_key", "anthropic_api_key",
    "gemini_api_key", "google_api_key", "hf_token", "huggingface_token", "hugging_face_hub_token", "token",
    "auth_token", "access_token", "bearer_token", "secret", "client_secret", "password", "authorization",
})
#: Values that look like credentials whatever their name: OpenAI/Anthropic `sk-`, Hugging Face `hf_`, GitHub,
#: Slack, AWS access key ids, Google API keys, bearer headers.
SECRET_VALUE = re.compile(r"(sk-[A-Za-z0-9_-]{16,}|hf_[A-Za-z0-9]{30,}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abprs]-\S+"
                          r"|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|Bearer\s+\S+)")


def check_family(adapter: str, family: str | None) -> str | None:
    """A `family=` model argument, validated, in the form results.json records (aliases resolved, a default mode
    dropped); None: not given."""
    if family is None:
        return None
    from reward.families import canonical  # the family registry: data only, imported when a family is named

    try:
        return canonical(family)
    except UsageError as exc:
        raise UsageError(f"model {adapter!r} argument family={family!r}: {exc}") from None


def is_secret(name: str, value: Any) -> bool:
    return name.lower() in SECRET_NAMES or (isinstance(value, str) and SECRET_VALUE.search(value) is not None)


def redact(args: Mapping[str, Any]) -> dict[str, Any]:
    """Replace the values of credentials (by name, or by a value that looks like a key), so results and logs
    never hold them; everything else, every generation setting included, is recorded in clear."""
    return {k: ("***" if is_secret(k, v) else v) for k, v in args.items()}


class Adapter(ABC):
    name: ClassVar[str] = "adapter"
    #: "judge": answers a (pairwise) prompt with text in `Reply.text`. "scorer": rates one candidate
    #: (its prompt text and one image or video) with a number in `Reply.score`; pairwise tasks then
    #: send one request per candidate and compare the scores.
    kind: ClassVar[str] = "judge"
    #: False for adapters that never look at pixels (replay): media are then not even opened.
    needs_media: ClassVar[bool] = True
    #: False for adapters whose answers are free to recompute (replay): the cache is bypassed.
    cacheable: ClassVar[bool] = True
    #: Arguments the adapter resolves while it starts (`openai`'s empty `model` becomes the model the endpoint
    #: serves): `args` records the attribute of the same name once the constructor has returned.
    resolved_args: ClassVar[tuple[str, ...]] = ()

    #: The constructor's bound arguments (see `__init_subclass__`); secrets are redacted by `describe()`.
    args: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _recording_arguments(cls.__init__)  # type: ignore[method-assign]

    def __init__(self, **args: Any):
        """Nothing to call for a subclass: its arguments are recorded before its constructor runs. `args` given
        here count only for an instance made without its constructor (`cls.__new__`), which nothing recorded."""
        self.__dict__.setdefault("args", dict(args))

    @classmethod
    def from_args(cls, raw: Mapping[str, str], flag: str = "--model-args") -> "Adapter":
        return cls(**cls.check_args(raw, flag))

    @classmethod
    def check_args(cls, raw: Mapping[str, str], flag: str = "--model-args") -> dict[str, Any]:
        """`--model-args` (or the `flag` they came from, named in errors: `--judge-args`, `--policy-args`, ...)
        checked against the constructor and converted to its types, without building the adapter (so a
        misspelled argument fails before any data or weights are loaded)."""
        sig = inspect.signature(cls.__init__)
        params = {n: p for n, p in sig.parameters.items()
                  if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        unknown = sorted(set(raw) - set(params))
        if unknown:
            raise UsageError(f"{flag}: model {cls.name!r} has no argument {', '.join(map(repr, unknown))}; "
                             f"valid arguments: {', '.join(params) or '(none)'}")
        hints = typing.get_type_hints(cls.__init__)
        kwargs: dict[str, Any] = {}
        for key, value in raw.items():
            try:
                kwargs[key] = _coerce(value, hints.get(key, str))
            except ValueError as exc:
                raise UsageError(f"{flag}: model {cls.name!r} argument {key}={value!r}: {exc}") from None
        missing = [n for n, p in params.items() if p.default is p.empty and n not in kwargs]
        if missing:
            raise UsageError(f"model {cls.name!r} needs {', '.join(f'{m}=...' for m in missing)} in {flag}")
        return kwargs

    def describe(self) -> dict[str, Any]:
        """What results.json records about the judge (secrets redacted)."""
        return {"adapter": self.name, "args": redact(self.args), **self.identity()}

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Everything that changes the judge's answers besides the prompt and generation settings:
        model id, revision or weight fingerprint, adapter-specific switches. Part of the cache key."""

    def family(self) -> str | None:
        """The authors' script family of this judge ("llava", "qwen"), when known: protocols that reproduce
        per-family scripts (`Task.family_protocols`) follow it. None for judges of no known family."""
        return None

    def generation_for(self, requested: Generation) -> Generation:
        """The settings this adapter will actually use for a request (e.g. a `max_new_tokens` cap given
        in --model-args). The cache keys on these, so a capped run never reuses uncapped answers."""
        return requested

    @abstractmethod
    def generate(self, requests: Iterable[PreparedRequest]) -> Iterator[Reply]:
        """Yield exactly one Reply per request (any order, matched by `Reply.key`)."""

    def inspect(self, prepared: PreparedRequest) -> dict[str, Any]:
        """What this adapter would send for `prepared`, without sending it (`harness inspect`). The default
        lists the prompt's parts in order; adapters that build model inputs show those instead."""
        loaded = iter(prepared.media)
        parts: list[dict[str, Any]] = []
        for part in prepared.request.parts:
            if isinstance(part, str):
                parts.append({"text": part})
                continue
            item = next(loaded, None)
            if item is None:  # an adapter that never opens media (replay)
                parts.append({"media": part.label, "kind": part.kind})
            else:
                parts.append({"media": item.label, "kind": item.kind, "sha256": item.sha256[:16],
                              "frames": len(item.frames) if item.kind == "video" else None})
        return {"parts": parts}

    def close(self) -> None:
        """Release models, sessions, threads."""


def _recording_arguments(init: Callable[..., None]) -> Callable[..., None]:
    """`init`, recording its bound settings in `self.args` before it runs, when it is the constructor of the
    instance's own class (the outermost call: the arguments that rebuild this adapter), not a parent's
    constructor reached through `super().__init__`."""
    signature = inspect.signature(init)
    settings: set[str] | None = None  # found at the first call, when every annotation's name is defined

    @functools.wraps(init)
    def __init__(self: Adapter, *args: Any, **kwargs: Any) -> None:
        nonlocal settings
        cls = type(self)
        outermost = cls.__init__ is __init__
        if outermost:
            if settings is None:
                try:
                    hints = typing.get_type_hints(init)
                except NameError:  # an annotation naming a type imported for type checkers only
                    hints = {}
                settings = {name for name in signature.parameters if _is_setting(hints.get(name, Any))}
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            self.args = {}
            for name, value in list(bound.arguments.items())[1:]:  # [0] is self
                kind = signature.parameters[name].kind
                if kind is inspect.Parameter.VAR_KEYWORD:
                    self.args.update(value)  # extra --model-args a constructor passes on
                elif kind is not inspect.Parameter.VAR_POSITIONAL and name in settings:
                    self.args[name] = value
        init(self, *args, **kwargs)
        if outermost:
            self.args.update({name: getattr(self, name) for name in cls.resolved_args})

    return __init__


class SequentialAdapter(Adapter):
    """Convenience base: answer requests one at a time via `judge_one`, timing each call."""

    @abstractmethod
    def judge_one(self, request: PreparedRequest) -> Reply: ...

    def generate(self, requests: Iterable[PreparedRequest]) -> Iterator[Reply]:
        for req in requests:
            start = time.perf_counter()
            reply = self.judge_one(req)
            if reply.latency_s == 0.0:
                reply = replace(reply, latency_s=time.perf_counter() - start)
            yield reply


def _is_setting(annotation: Any) -> bool:
    """Whether `--model-args` can set a parameter of this type (what `_coerce` converts), i.e. whether it is a
    setting to record rather than a Python-only object."""
    if annotation is Any or annotation is type(None):
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return all(_is_setting(option) for option in typing.get_args(annotation))
    return annotation in (str, int, float, bool)


def _coerce(value: str, annotation: Any) -> Any:
    """Convert a CLI string to the annotated type (bool, int, float, str, or Optional of those)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value.lower() in ("none", "null", ""):
            return None
        annotation = options[0] if options else str
    if annotation is bool:
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError("expected true/false")
    if annotation is int:
        return int(value)
    if annotation is float:
        return float(value)
    return value


def parse_model_args(text: str | None, flag: str = "--model-args") -> dict[str, str]:
    """`k=v,k=v` -> dict. A value may contain commas if quoted: path="a,b.jsonl" (quote the whole
    argument for the shell: --model-args 'path="a,b.jsonl",name=x')."""
    if not text:
        return {}
    out: dict[str, str] = {}
    for item in _split_top_level(text):
        if not item.strip():
            continue
        if "=" not in item:
            raise UsageError(f"{flag} item {item!r} is not key=value")
        key, value = item.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def _split_top_level(text: str) -> list[str]:
    items: list[str] = []
    buf: list[str] = []
    quote: str | None = None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == ",":
            items.append("".join(buf))
            buf = []
            continue
        buf.append(ch)
    items.append("".join(buf))
    return items
