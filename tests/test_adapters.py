"""Adapter construction from --model-args, and secret redaction."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_redaction_is_by_name_or_key_looking_value_never_by_substring():
    # generation settings and other identity are recorded in clear, whatever their names contain
    clear = {"max_new_tokens": 8, "max_tokens": 16, "tokenizer": "t", "api_key_env": "OPENAI_API_KEY",
             "keyframes": 4, "monkey": "x"}
    assert redact(clear) == clear
    # a credential under an unlisted name is still caught by its shape
    leaked = {"extra": "sk-abcdefghijklmnopqrstuvwx", "hub": "hf_" + "a" * 34, "header": "Bearer abc.def"}
    assert redact(leaked) == {"extra": "***", "hub": "***", "header": "***"}
    assert redact({"OPENAI_API_KEY": "x", "HF_TOKEN": "y", "password": "z"}) == {
        "OPENAI_API_KEY": "***", "HF_TOKEN": "***", "password": "***"}


def test_max_new_tokens_is_run_identity(tmp_path, capsys):
    """max_new_tokens=8 and =64 are two configurations (config hash and run id differ), each recorded in clear."""
    pytest.importorskip("transformers")
    from harness.cli import main
    from reward.testing.tiny_models import save_tiny

    from .conftest import make_data_dir, row

    judge = save_tiny("qwen2_vl", tmp_path / "judge")
    data = make_data_dir(tmp_path / "d", [row(f"RLAIF-V-{i}", "rlaif-v") for i in range(5)])
    base = ["run", "--tasks", "vlrewardbench", "--model", "hf", "--data-dir", str(data),
            "--output", str(tmp_path / "runs"), "--no-cache"]
    assert main(base + ["--model-args", f"pretrained={judge},max_new_tokens=8"]) == 0
    first = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads((Path(first) / "results.json").read_text())["model"]["args"]["max_new_tokens"] == 8
    assert main(base + ["--model-args", f"pretrained={judge},max_new_tokens=64"]) == 0
    second = capsys.readouterr().out.strip().splitlines()[-1]
    one, other = (json.loads((Path(d) / "results.json").read_text()) for d in (first, second))
    assert other["model"]["args"]["max_new_tokens"] == 64 and one["config_hash"] != other["config_hash"]
    assert Path(first).name.split("-")[-1] != Path(second).name.split("-")[-1]  # another run id
