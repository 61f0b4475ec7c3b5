"""Adapter construction from --model-args, and secret redaction."""

from __future__ import annotations

import pytest

from harness.adapters import parse_model_args, redact
from harness.errors import UsageError
from reward.scripted import ScriptedAdapter


def test_model_args_parsing_with_quotes():
    assert parse_model_args('path="a,b.jsonl",delay=0.5, needs_media=false') == {
        "path": "a,b.jsonl", "delay": "0.5", "needs_media": "false"}
    assert parse_model_args("") == {}
    with pytest.raises(UsageError, match="is not key=value"):
        parse_model_args("oops")


def test_from_args_coerces_to_annotated_types():
    adapter = ScriptedAdapter.from_args({"delay": "0.25", "needs_media": "no", "model_id": "m"})
    assert adapter.delay == 0.25 and adapter.needs_media is False and adapter.model_id == "m"
    with pytest.raises(UsageError, match="delay='fast'"):
        ScriptedAdapter.from_args({"delay": "fast"})
    with pytest.raises(UsageError, match="expected true/false"):
        ScriptedAdapter.from_args({"needs_media": "maybe"})


def test_secrets_are_redacted():
    assert redact({"api_key": "sk-123", "model": "m", "auth_token": "t"}) == {
        "api_key": "***", "model": "m", "auth_token": "***"}


def test_optional_arguments_are_coerced():
    from harness.adapters import _coerce

    assert _coerce("8", int | None) == 8
    assert _coerce("none", int | None) is None
