"""What the training recipes share: the typed config loader (`harness.config`), the VLM recipes' config checks and
the one resume rule (`reward.training.common`). No torch: plain files and dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.config import load_yaml_config, typed_config
from harness.errors import UsageError
from reward.training.common import STATE_FILE, checkpoints, resume_point
from reward.training.sft import load_config


@dataclass
class Toy:
    size: list[int] | None = None
    names: list[str] = field(default_factory=list)
    rate: float = 0.5


def _checkpoint(root: Path, step: int, complete: bool = True) -> Path:
    path = root / f"checkpoint-{step}"
    path.mkdir(parents=True)
    if complete:
        (path / STATE_FILE).write_text("{}")
    return path


def test_typed_config_keeps_int_lists_and_names_the_bad_key():
    toy = typed_config({"size": [512, 320], "names": "a", "rate": 1}, Toy, "c.yaml")
    assert (toy.size, toy.names, toy.rate) == ([512, 320], ["a"], 1.0)
    assert typed_config({"names": ["x", 2]}, Toy, "c.yaml").names == ["x", "2"]
    with pytest.raises(UsageError, match=r"c.yaml: key 'size' must be"):
        typed_config({"size": [512, "320"]}, Toy, "c.yaml")
    with pytest.raises(UsageError, match=r"c.yaml: key 'size' must be"):
        typed_config({"size": [True, 1]}, Toy, "c.yaml")
    with pytest.raises(UsageError, match=r"c.yaml: unknown key\(s\) sise; valid keys: size, names, rate"):
        typed_config({"sise": [1]}, Toy, "c.yaml")


def test_yaml_overrides_win_and_errors_name_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("size: [8, 16]\nrate: 2\n")
    assert load_yaml_config(path, Toy, {"rate": 3}) == Toy(size=[8, 16], rate=3.0)
    path.write_text("model: m\ndata: [d]\ndtype: fp8\n")
    with pytest.raises(UsageError, match=f"{path}: dtype 'fp8'; valid: bfloat16, float16, float32"):
        load_config(path)
    path.write_text("model: m\ndata: [d]\nvideo_input: clips\n")
    with pytest.raises(UsageError, match="video_input 'clips'; valid: pooled, frames"):
        load_config(path)


def test_resume_auto_takes_the_newest_complete_checkpoint(tmp_path):
    assert resume_point("auto", tmp_path / "absent") is None
    assert resume_point("auto", tmp_path) is None
    _checkpoint(tmp_path, 2)
    newest = _checkpoint(tmp_path, 10)
    _checkpoint(tmp_path, 12, complete=False)  # cut off while being saved
    (tmp_path / "checkpoint-final").mkdir()
    assert checkpoints(tmp_path) == [tmp_path / "checkpoint-2", newest]  # by step, not by name
    assert resume_point("auto", tmp_path) == newest
    assert resume_point("never", tmp_path) is None


def test_an_explicit_checkpoint_must_be_complete(tmp_path):
    done = _checkpoint(tmp_path, 4)
    assert resume_point(str(done), tmp_path / "elsewhere") == done
    cut = _checkpoint(tmp_path, 6, complete=False)
    with pytest.raises(UsageError, match=f"resume: {cut} is not a complete checkpoint \\(no {STATE_FILE}\\)"):
        resume_point(str(cut), tmp_path)
    with pytest.raises(UsageError, match="not a complete checkpoint"):
        resume_point(str(tmp_path / "missing"), tmp_path)
