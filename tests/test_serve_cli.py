"""The reward service's clients, templates and command line (issue 17): the clients' media encoding and the async
client, template choice by name within a family, and `harness serve` as a process stopped by SIGTERM. The service
itself is tested in tests/test_serve.py, whose helpers these tests share."""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.errors import UsageError
from harness.records import PreparedRequest
from harness.serve.client import AsyncRewardClient, RewardClient, RewardServiceError, VideoFile, encode_candidate, \
    encode_image
from harness.serve.templates import resolve_templates
from reward.scripted import ScriptedAdapter

from .test_serve import brighter_wins, png, service

ROOT = Path(__file__).resolve().parents[1]


def test_the_client_encodes_pil_numpy_bytes_and_paths(tmp_path):
    pixels = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    from_array = base64.b64decode(encode_image(pixels)["b64"])
    from_pil = base64.b64decode(encode_image(Image.fromarray(pixels))["b64"])
    assert from_array == from_pil and np.array_equal(np.asarray(Image.open(io.BytesIO(from_array))), pixels)
    path = tmp_path / "x.png"
    path.write_bytes(png(7))
    assert base64.b64decode(encode_image(path)["b64"]) == png(7) == base64.b64decode(encode_image(png(7))["b64"])
    assert encode_image(str(path), send_paths=True) == {"path": str(path.resolve())}
    assert encode_candidate(VideoFile("v.mp4", 8, (64, 48))) == {"path": "v.mp4", "frames": 8, "size": [64, 48]}
    assert list(encode_candidate([png(1), png(2)])) == ["frames"]
    with pytest.raises(TypeError, match="uint8"):
        encode_image(pixels.astype(np.float32))


def test_the_async_client_gives_the_same_answers():
    async def scored(url: str) -> tuple[list, list, list]:
        async with AsyncRewardClient(url) as client:
            point = await client.pointwise([("p", png(10))])
            pair = await client.pairwise([("p", png(10), png(200))], orders="both")
            group = await client.group("p", [png(10), png(200)], mode="pairwise")
        return point.rewards(), pair.rewards(), group.rewards()

    with service(ScriptedAdapter(fn=brighter_wins)) as (served, client):
        sync = (client.pointwise([("p", png(10))]).rewards(),
                client.pairwise([("p", png(10), png(200))], orders="both").rewards(),
                client.group("p", [png(10), png(200)], mode="pairwise").rewards())
        assert asyncio.run(scored(served.url)) == sync == ([pytest.approx(1 + 40 / 255)], [0.0], [0.0, 1.0])


# ---- templates and the command line ---------------------------------------------------------------------------

def test_templates_are_chosen_by_name_within_the_family():
    think = resolve_templates("unifiedreward-think")
    assert think.get("pairwise", "image").name == "think_cot_image_generation"
    scored = resolve_templates("unifiedreward-2.0", ["ur2_pair_score_image_generation"])
    assert scored.get("pairwise", "image").name == "ur2_pair_score_image_generation"
    assert resolve_templates("llava").templates.get(("pointwise", "image")) is None  # no such prompt in 1.0
    with pytest.raises(UsageError, match="usable: .*genai_image_unifiedreward_qwen"):
        resolve_templates("unifiedreward-2.0", ["vlrewardbench_unifiedreward"])  # an understanding prompt
    with pytest.raises(UsageError, match="unknown judge family"):
        resolve_templates("unifiedreward-9")


def test_a_slot_the_family_has_no_template_for_is_a_400_and_images_are_resized_as_the_family_does():
    sizes: list[tuple[int, int]] = []

    def judge(prepared: PreparedRequest) -> str:
        sizes.extend(Image.open(io.BytesIO(m.data)).size for m in prepared.media)
        return "Image 1 is better than Image 2."

    with service(ScriptedAdapter(fn=judge), family="llava") as (_, client):
        with pytest.raises(RewardServiceError, match="no pointwise image template") as caught:
            client.pointwise([("p", png(1))])
        result = client.pairwise([("p", png(200), png(1))])  # its pairwise template serves
    assert caught.value.status == 400 and result.rewards() == [1.0]
    assert result.template["name"] == "genai_image_unifiedreward" and sizes == [(512, 512)] * 2


def test_cli_checks_its_arguments_before_loading_anything(monkeypatch):
    from harness.serve.cli import add_serve_parser, main_serve

    # Building the judge fails the test: every error below must come before it.
    monkeypatch.setattr(ScriptedAdapter, "from_args",
                        classmethod(lambda cls, *a, **k: pytest.fail("the judge was built before the check")))
    parser = argparse.ArgumentParser(prog="harness")
    add_serve_parser(parser.add_subparsers(dest="command"))
    for argv, message in ((["serve"], "needs --model"),
                          (["serve", "--model", "scripted", "--max-queue", "2", "--max-batch", "4"], "smaller"),
                          (["serve", "--model", "scripted", "--family", "qwen", "--template", "nope"], "'nope'"),
                          (["serve", "--model", "scripted", "--model-args", "colour=red"], "no argument 'colour'"),
                          (["serve", "--model", "scripted", "--model-path", "x"], "give --engine")):
        with pytest.raises(UsageError, match=message):
            main_serve(parser.parse_args(argv))


def test_concurrency_becomes_the_endpoint_adapters_own_bound_unless_given():
    from harness.serve.cli import with_concurrency
    from reward.openai_api import OpenAIAdapter

    assert with_concurrency(OpenAIAdapter, {"base_url": "u"}, 32) == {"base_url": "u", "concurrency": "32"}
    assert with_concurrency(OpenAIAdapter, {"concurrency": "4"}, 32) == {"concurrency": "4"}
    assert with_concurrency(ScriptedAdapter, {}, 32) == {}  # a local judge has no such bound


def test_harness_serve_runs_as_a_process_and_stops_on_sigterm(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HARNESS_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "harness", "serve", "--model", "scripted", "--model-args",
                             "reply=Image 1 is better.", "--port", "0", "--no-cache"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        line = proc.stdout.readline()
        assert line.startswith("reward service on http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[3].rstrip(":")
        with RewardClient(url) as client:
            result = client.pairwise([("p", png(1), png(2))], orders="both")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert result.items[0].consistent is False and result.items[0].preference == 0.5
    assert "family unifiedreward-2.0 (default: the judge names none)" in line
    assert proc.returncode == 0, err
