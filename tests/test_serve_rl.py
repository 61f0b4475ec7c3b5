"""The framework reward functions (harness/serve/rewards.py) against a live reward service in-process.

The must-show: TRL's own GRPOTrainer runs two steps of a tiny Qwen2 policy (built from a config, random weights)
with `trl_reward` calling `harness serve`'s app (a scripted judge) on an ephemeral port, and the rewards TRL logs
are the service's answers for the same completions, failed judgments included as NaN (never a default)."""

from __future__ import annotations

import asyncio
import hashlib
import math
import pickle
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
from PIL import Image

from harness.errors import UsageError
from harness.records import PreparedRequest
from harness.serve.app import RewardService, ServiceThread
from harness.serve.client import ItemsFailed, RewardClient
from harness.serve.rewards import (flow_grpo_reward, message_text, openrlhf_app, openrlhf_reward, trl_reward,
                                   verl_reward)
from harness.serve.templates import resolve_templates
from reward.scripted import ScriptedAdapter

NO_SCORE = "I cannot rate this image."


def judge_reply(request: PreparedRequest) -> str:
    """A deterministic judge that looks at the pixels: UnifiedReward-2.0 pointwise scores from the image's hash
    (one image in four gets an unreadable reply), and for a pair always "Image 1 is better" (the first shown)."""
    text = "".join(p for p in request.request.parts if isinstance(p, str))
    if "Alignment Score" not in text:
        return "Image 1 is better."
    digest = hashlib.sha256(request.media[0].data).digest()
    if digest[3] % 4 == 0:
        return NO_SCORE
    a, c, s = (1 + digest[k] % 5 for k in range(3))
    # Physics (the video template's second dimension) = Coherence (the image template's): one mean for both.
    return (f"Alignment Score (1-5): {a}\nCoherence Score (1-5): {c}\nPhysics Score (1-5): {c}\n"
            f"Style Score (1-5): {s}")


def expected_score(image: np.ndarray | Image.Image, image_format: str = "png") -> float | None:
    """What `judge_reply` answers for `image` as the client sends it (PNG at compress level 1, or JPEG q95)."""
    import io

    pil = image if isinstance(image, Image.Image) else Image.fromarray(image)
    buffer = io.BytesIO()
    if image_format == "png":
        pil.save(buffer, format="PNG", compress_level=1)
    else:
        pil.save(buffer, format="JPEG", quality=95)
    digest = hashlib.sha256(buffer.getvalue()).digest()
    if digest[3] % 4 == 0:
        return None
    return sum(1 + digest[k] % 5 for k in range(3)) / 3


def render(completion: str) -> np.ndarray:
    """A text policy's "image": 16x16 pixels coloured by the completion's hash (a stand-in for a renderer)."""
    digest = hashlib.sha256(completion.encode("utf-8", "surrogatepass")).digest()
    pixels = np.zeros((16, 16, 3), dtype=np.uint8)
    pixels[:8] = list(digest[:3])
    pixels[8:] = list(digest[3:6])
    return pixels


@pytest.fixture(scope="module")
def service() -> Iterator[ServiceThread]:
    adapter = ScriptedAdapter(fn=judge_reply)
    served = ServiceThread(RewardService(adapter, resolve_templates("unifiedreward-2.0"), max_wait_ms=1.0))
    with served:
        yield served
    adapter.close()


def images_with_failures(n: int = 24) -> tuple[list[np.ndarray], list[float | None]]:
    """`n` distinct images and the judge's scores for them (some None), with at least one failure and one success."""
    images = [np.full((8, 8, 3), i, dtype=np.uint8) for i in range(n)]
    expected = [expected_score(im) for im in images]
    assert any(e is None for e in expected) and any(e is not None for e in expected)
    return images, expected


# ---- TRL: the must-show -------------------------------------------------------------------------------------

def test_trl_grpo_two_steps_logs_the_services_rewards(service: ServiceThread, tmp_path: Path) -> None:
    import torch
    from datasets import Dataset
    from transformers import Qwen2Config, Qwen2ForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    from reward.testing.tiny_models import build_tokenizer

    tokenizer = build_tokenizer(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    torch.manual_seed(0)
    policy = Qwen2ForCausalLM(Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=64, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id))
    reward = trl_reward(service.url, render=render)
    prompts = ["a photo of a cat on a mat", "the image shows a dog"]
    args = GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=8, num_generations=4,
                      max_completion_length=8, max_steps=2, report_to="none", save_strategy="no", use_cpu=True,
                      logging_steps=1, seed=0)
    trainer = GRPOTrainer(model=policy, reward_funcs=reward, args=args, processing_class=tokenizer,
                          train_dataset=Dataset.from_list([{"prompt": p} for p in prompts] * 8))
    trainer.train()

    # TRL called our function once per step, and each call's rewards are what the service answered.
    assert len(reward.batches) == 2 and all(len(b.rewards) == 8 for b in reward.batches)
    assert any(b.n_failed for b in reward.batches), "no judgment failed: the NaN path was not exercised"
    steps = [h for h in trainer.state.log_history if "rewards/unifiedreward/mean" in h]
    assert len(steps) == 2
    for logged, batch in zip(steps, reward.batches):
        ok = [r for r in batch.rewards if r is not None]
        assert ok, "every judgment of a step failed: the test cannot compare means"
        assert logged["rewards/unifiedreward/mean"] == pytest.approx(sum(ok) / len(ok), rel=1e-6)
        assert logged["unifiedreward/failed_frac"] == pytest.approx(batch.n_failed / 8)

    # The last step's completions, as TRL logged them, sent again to the service: the same answers, and TRL's
    # logged reward of each completion is the service's (NaN exactly where the judgment failed).
    completions = [message_text(c) for c in trainer._logs["completion"]]
    logged_prompts = [message_text(p) for p in trainer._logs["prompt"]]
    logged_rewards = list(trainer._logs["rewards"]["unifiedreward"])
    assert len(completions) == len(logged_rewards) == 8
    with RewardClient(service.url) as client:
        again = client.pointwise([(p, render(c)) for p, c in zip(logged_prompts, completions)])
    assert again.rewards() == reward.batches[-1].rewards
    for served_value, trl_value, completion in zip(again.rewards(), logged_rewards, completions):
        assert served_value == expected_score(render(completion))
        if served_value is None:
            assert math.isnan(trl_value)
        else:
            assert trl_value == pytest.approx(served_value, rel=1e-6)
    assert list(trainer._logs["extra"]["unifiedreward_ok"]) == again.mask()
    reward.close()


def test_trl_reward_with_a_dataset_image_column_and_conversational_rows(service: ServiceThread) -> None:
    images, expected = images_with_failures(6)
    extra: dict[str, list[Any]] = {}
    metrics: dict[str, float] = {}
    reward = trl_reward(service.url, image_column="image")
    got = reward(prompts=[[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "describe"}]}]] * 6,
                 completions=[[{"role": "assistant", "content": f"caption {i}"}] for i in range(6)],
                 image=[Image.fromarray(im) for im in images],
                 log_extra=lambda column, values: extra.setdefault(column, values),
                 log_metric=lambda name, value: metrics.setdefault(name, value))
    assert got == expected
    assert extra["unifiedreward_ok"] == [e is not None for e in expected] == reward.mask()
    assert metrics["unifiedreward/failed_frac"] == pytest.approx(sum(e is None for e in expected) / 6)
    with pytest.raises(UsageError, match="no column 'picture'"):
        trl_reward(service.url, image_column="picture")(prompts=["p"], completions=["c"], image=[images[0]])
    reward.close()


def test_trl_reward_passes_the_callers_failure_value_through(service: ServiceThread) -> None:
    images, expected = images_with_failures(8)
    reward = trl_reward(service.url, to_item=lambda prompt, completion, row: (prompt, row["pixels"]),
                        on_failure="value:-1")
    got = reward(prompts=["p"] * 8, completions=["c"] * 8, pixels=images)
    assert got == [-1.0 if e is None else e for e in expected]  # the caller's X, and flagged as failed
    assert reward.mask() == [e is not None for e in expected]
    assert reward.last is not None and all(reason for reason, e in zip(reward.last.reasons, expected) if e is None)
    reward.close()


def test_trl_reward_refuses_unclear_wiring(service: ServiceThread) -> None:
    with pytest.raises(UsageError, match="exactly one of render="):
        trl_reward(service.url)
    with pytest.raises(UsageError, match="use 'pointwise'"):
        trl_reward(service.url, kind="group", image_column="image")
    with pytest.raises(UsageError, match="on_failure='zero'"):
        trl_reward(service.url, render=render, on_failure="zero")


def test_a_used_reward_function_pickles_without_its_client(service: ServiceThread) -> None:
    reward = trl_reward(service.url, render=render)
    first = reward(prompts=["a cat"], completions=["xyz"])
    copy = pickle.loads(pickle.dumps(reward))
    assert copy(prompts=["a cat"], completions=["xyz"]) == first
    copy.close()
    reward.close()


# ---- Flow-GRPO ------------------------------------------------------------------------------------------------

def test_flow_grpo_score_takes_an_nchw_float_tensor_and_reports_failures_as_nan(service: ServiceThread) -> None:
    import torch

    images, expected = images_with_failures(12)
    # Flow-GRPO's pipeline output: NCHW floats in [0, 1]; the function rounds them back exactly as Flow-GRPO does.
    tensor = torch.tensor(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0
    score = flow_grpo_reward(service.url)
    rewards, info = score(tensor, ["a cat"] * 12, [{}] * 12, only_strict=True)
    assert rewards.dtype == np.float32 and rewards.shape == (12,)
    for value, want in zip(rewards, expected):
        assert math.isnan(value) if want is None else value == pytest.approx(want)
    assert info["mask"].tolist() == [e is not None for e in expected]
    assert info["n_failed"] == sum(e is None for e in expected)
    assert all("no 'Alignment Score" in r for r, e in zip(info["reasons"], expected) if e is None)
    # The baselines' default (Flow-GRPO's regex miss -> 0.0) never appears: no failed item reads 0.
    assert not np.any(rewards[~info["mask"]] == 0.0)
    score.close()


def test_flow_grpo_score_takes_nhwc_uint8_arrays_and_value_x(service: ServiceThread) -> None:
    images, expected = images_with_failures(6)
    score = flow_grpo_reward(service.url, on_failure="value:0.25")
    rewards, info = score(np.stack(images), ["a cat"] * 6, None)
    assert rewards.tolist() == pytest.approx([0.25 if e is None else e for e in expected])
    assert info["mask"].tolist() == [e is not None for e in expected]
    score.close()


def test_flow_grpo_score_sends_jpeg_when_asked_and_videos_as_frames(service: ServiceThread) -> None:
    import torch

    images, _ = images_with_failures(6)
    score = flow_grpo_reward(service.url, image_format="jpeg")
    rewards, info = score(np.stack(images), ["a cat"] * 6)
    want = [expected_score(im, "jpeg") for im in images]
    assert [None if math.isnan(r) else pytest.approx(r) for r in rewards] == want
    assert info["mask"].tolist() == [w is not None for w in want]
    # A B,F,C,H,W float tensor: each video sent as its frames; the judge reads the first frame's pixels.
    videos = torch.tensor(np.stack([np.stack(images[i:i + 3]) for i in range(3)])).permute(0, 1, 4, 2, 3) / 255.0
    video_score = flow_grpo_reward(service.url)
    rewards, info = video_score(videos, ["a cat running"] * 3)
    want = [expected_score(images[i]) for i in range(3)]
    assert [None if math.isnan(r) else pytest.approx(r) for r in rewards] == want
    with pytest.raises(UsageError, match="image_format='webp'"):
        flow_grpo_reward(service.url, image_format="webp")
    score.close()
    video_score.close()


def test_flow_grpo_group_both_orders_with_a_first_preferring_judge_is_a_tie(service: ServiceThread) -> None:
    """Pref-GRPO style: the judge always says "Image 1 is better"; judged in both orders every pair is 0.5 and
    flagged inconsistent, so every image's win rate is 0.5: the position bias is visible, not a reward."""
    images = [np.full((8, 8, 3), 40 * i, dtype=np.uint8) for i in range(4)]
    score = flow_grpo_reward(service.url, kind="group", mode="pairwise", orders="both")
    rewards, info = score(np.stack(images + images), ["a cat"] * 4 + ["a dog"] * 4)
    assert rewards.tolist() == [0.5] * 8 and info["mask"].all()
    with RewardClient(service.url) as client:
        result = client.group("a cat", images, mode="pairwise", orders="both")
    assert {item.consistent for item in result.items} == {False}
    assert {item.preference for item in result.items} == {0.5}
    one_order = flow_grpo_reward(service.url, kind="group", mode="pairwise", orders="one")
    rewards, _ = one_order(np.stack(images), ["a cat"] * 4)
    assert rewards.tolist() == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0])  # one order: the bias becomes the reward
    score.close()
    one_order.close()


# ---- verl -------------------------------------------------------------------------------------------------------

def test_verl_batch_and_single_forms(service: ServiceThread, tmp_path: Path) -> None:
    images, expected = images_with_failures(6)
    paths = []
    for i, image in enumerate(images):
        Image.fromarray(image).save(tmp_path / f"{i}.png", compress_level=1)
        paths.append(tmp_path / f"{i}.png")
    compute_score = verl_reward(service.url, on_failure="value:0")
    extras = [{"image": Image.open(p)} for p in paths]
    got = compute_score.batch(["t2i"] * 6, [f"caption {i}" for i in range(6)], [None] * 6, extras)
    assert [g["score"] for g in got] == pytest.approx([0.0 if e is None else e for e in expected])
    assert [g["reward_ok"] for g in got] == [e is not None for e in expected]
    assert all(g["reward_reason"] for g, e in zip(got, expected) if e is None)
    single = compute_score("t2i", "caption 0", None, {"image": Image.open(paths[0])})
    assert single == got[0]
    with pytest.raises(UsageError, match="extra_info has no 'image'"):
        compute_score("t2i", "caption", None, {"question": "?"})
    compute_score.close()


def test_verl_refuses_a_policy_without_a_number_and_error_names_the_items(service: ServiceThread) -> None:
    with pytest.raises(UsageError, match="puts every reward in a tensor"):
        verl_reward(service.url, on_failure="report")
    images, expected = images_with_failures(6)
    strict = verl_reward(service.url, on_failure="error")
    with pytest.raises(ItemsFailed) as caught:
        strict.batch(["t2i"] * 6, ["c"] * 6, [None] * 6, [{"image": im} for im in images])
    assert caught.value.failed == [i for i, e in enumerate(expected) if e is None]
    strict.close()


# ---- OpenRLHF ---------------------------------------------------------------------------------------------------

def test_openrlhf_reward_func_and_its_http_bridge(service: ServiceThread, tmp_path: Path) -> None:
    import torch

    images, expected = images_with_failures(5)
    labels = []
    for i, image in enumerate(images):
        Image.fromarray(image).save(tmp_path / f"{i}.png", compress_level=1)
        labels.append(str(tmp_path / f"{i}.png"))
    prompts = [f"<user>describe {i}</user>" for i in range(5)]
    queries = [f"{p}a caption" for p in prompts]
    reward_func = openrlhf_reward(service.url, on_failure="value:-1")
    out = reward_func(queries, prompts, labels)
    want = torch.tensor([-1.0 if e is None else e for e in expected])
    assert torch.allclose(out["rewards"], want) and torch.allclose(out["scores"], want)
    assert out["extra_logs"]["reward_ok"].tolist() == [float(e is not None) for e in expected]

    async def post(body: Any) -> tuple[int, Any]:
        from aiohttp.test_utils import TestClient, TestServer

        async with TestClient(TestServer(openrlhf_app(reward_func))) as http:
            resp = await http.post("/get_reward", json=body)
            return resp.status, await resp.json()

    status, answer = asyncio.run(post({"query": queries, "prompts": prompts, "labels": labels}))
    assert status == 200
    assert answer["rewards"] == pytest.approx([-1.0 if e is None else e for e in expected])
    assert answer["ok"] == [e is not None for e in expected]
    status, answer = asyncio.run(post({"prompts": prompts}))
    assert status == 400 and "query" in answer["error"]
    with pytest.raises(UsageError, match="puts every reward in a tensor"):
        openrlhf_reward(service.url, on_failure="skip")
    reward_func.close()
