"""Oracle: the published GenAI-Bench judge replies, replayed through the genai-arena protocol, give the
published leaderboard to the last printed digit, for every judge and split in the fixtures."""

from __future__ import annotations

import re

import pytest

from harness.runner import RunOptions, run
from reward.replay import ReplayAdapter

from .conftest import SHARED

FIXTURES = SHARED / "fixtures" / "genai-bench"
TASKS = {"Image Generation": ("genai_bench_image", "image_generation"),
         "Image Editing": ("genai_bench_edit", "image_edition"),
         "Video Generation": ("genai_bench_video", "video_generation")}


def leaderboard() -> dict[tuple[str, str], str]:
    """(judge, task) -> the accuracy as printed in leaderboard.md."""
    lines = [line for line in (FIXTURES / "leaderboard.md").read_text().splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    table = {}
    for line in lines[2:]:
        cells = dict(zip(header, (c.strip() for c in line.strip("|").split("|"))))
        for column, (task, _) in TASKS.items():
            table[(cells["Model"], task)] = cells[column]
    return table


CASES = sorted((judge, task, config) for task, config in TASKS.values()
               for judge in ("gpt4o", "gemini-1.5-pro", "llava", "idefics2", "random")
               if (FIXTURES / "responses" / f"{config}__{judge}.jsonl").exists())


@pytest.mark.skipif(not FIXTURES.exists(), reason="../shared/fixtures/genai-bench missing")
@pytest.mark.parametrize("judge, task, config", CASES)
def test_replayed_replies_reproduce_the_leaderboard(judge, task, config, tmp_path):
    published = leaderboard()[(judge, task)]
    outcome = run(RunOptions(tasks=[task], model="replay", protocol="genai-arena", data_dir=FIXTURES / "test_v1",
                             split="test_v1", output=tmp_path, bootstrap_resamples=10),
                  adapter=ReplayAdapter(str(FIXTURES / "responses" / f"{config}__{judge}.jsonl")))
    result = outcome.results["tasks"][task]
    assert result["counts"]["n_error"] == 0
    # leaderboard.md prints round(acc * 100, 2) with Python's repr: 45.59, 26.12, 37.0, 0.0
    assert str(round(result["metrics"]["accuracy"], 2)) == published
    assert re.fullmatch(r"\d+\.\d+", published)


def test_all_fifteen_cases_are_present():
    assert len(CASES) == 15
