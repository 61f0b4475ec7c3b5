"""Diffusion-DPO (alignment/diffusion_dpo.py) and the diffusers policies (alignment/diffusion_policies.py) on tiny
models built from configs and saved as diffusers pipeline directories, so that the recipe and the policies load
them through the real `from_pretrained` code. CPU only, no downloads."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

from harness.errors import UsageError  # noqa: E402

from alignment import diffusion  # noqa: E402
from alignment import diffusion_dpo as dd  # noqa: E402
from alignment.diffusion_policies import DiffusersImagePolicy, DiffusersVideoPolicy, encode_mp4  # noqa: E402
from alignment.diffusion import diffusion_dpo_loss  # noqa: E402
from alignment.policies import POLICIES, MediaStore, PolicyInput  # noqa: E402
from reward.testing.tiny_diffusion import (RES, clip_tokenizer, ddpm, save_tiny_sd, text_config,  # noqa: E402
                                           unet_kwargs, vae)

LN2 = math.log(2.0)


# ---- tiny diffusers pipelines ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pipes(tmp_path_factory) -> dict[str, Path]:
    """SD-style, SDXL(-Turbo)-style and UNet3D text-to-video pipeline directories."""
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("pipes")
    tok = clip_tokenizer(root / "tokenizer-files")
    out = {"sd": root / "sd", "sdxl": root / "sdxl", "video": root / "video"}
    save_tiny_sd(out["sd"], tok)
    unet_xl = diffusers.UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=6 * 8 + 32,
        cross_attention_dim=64, norm_num_groups=1)
    diffusers.StableDiffusionXLPipeline(
        vae=vae(), text_encoder=CLIPTextModel(text_config()),
        text_encoder_2=CLIPTextModelWithProjection(text_config(projection_dim=32)), tokenizer=tok, tokenizer_2=tok,
        unet=unet_xl, scheduler=diffusers.EulerAncestralDiscreteScheduler(timestep_spacing="trailing"),
    ).save_pretrained(out["sdxl"])
    unet3d = diffusers.UNet3DConditionModel(**unet_kwargs("3D"), time_cond_proj_dim=16)
    diffusers.TextToVideoSDPipeline(vae=vae(), text_encoder=CLIPTextModel(text_config()), tokenizer=tok,
                                    unet=unet3d, scheduler=ddpm()).save_pretrained(out["video"])
    return out


def _write_pairs(root: Path, rows: list[dict]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "pairs.jsonl", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return root


@pytest.fixture(scope="module")
def image_pairs(tmp_path_factory) -> Path:
    """4 pairs of 40x32 RGB images (resized and centre-cropped to 32x32 by the recipe)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("image-pairs")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(4):
        for side in ("chosen", "rejected"):
            pixels = (rng.random((32, 40, 3)) * 255).astype(np.uint8)
            (root / "media").mkdir(exist_ok=True)
            Image.fromarray(pixels).save(root / "media" / f"{i}-{side}.png")
        rows.append({"id": f"p{i}", "prompt": f"a picture number {i}", "chosen": f"media/{i}-chosen.png",
                     "rejected": f"media/{i}-rejected.png"})
    return _write_pairs(root, rows)


@pytest.fixture(scope="module")
def video_pairs(tmp_path_factory) -> Path:
    """2 pairs of 3-frame 32x32 MP4 clips."""
    root = tmp_path_factory.mktemp("video-pairs")
    rng = np.random.default_rng(1)
    rows = []
    for i in range(2):
        for side in ("chosen", "rejected"):
            frames = (rng.random((3, RES, RES, 3)) * 255).astype(np.uint8)
            (root / "media").mkdir(exist_ok=True)
            (root / "media" / f"{i}-{side}.mp4").write_bytes(encode_mp4(frames))
        rows.append({"id": f"v{i}", "prompt": f"a clip number {i}", "chosen": f"media/{i}-chosen.mp4",
                     "rejected": f"media/{i}-rejected.mp4"})
    return _write_pairs(root, rows)


def _config(tmp_path: Path, pipe: Path, data: Path, **overrides) -> dd.DiffusionDPOConfig:
    raw = {"pretrained_model": str(pipe), "model_type": "sd", "data": [str(data)], "output_dir": str(tmp_path / "out"),
           "resolution": RES, "train_batch_size": 2, "gradient_accumulation_steps": 1, "max_steps": 2,
           "learning_rate": 1e-3, "scale_lr": False, "lr_warmup_steps": 0, "mixed_precision": "no",
           "save_steps": 100, "use_cpu": True, "seed": 7, **overrides}
    return dd.config_from_dict(raw)


def _assert_starts_at_ln2(output_dir: Path) -> None:
    """Step 1's loss is ln 2: the policy equals the reference, so Δ = 0 (the reference runs in the policy's
    train mode, see `diffusion_dpo.reference_mode`, so that even the last bits agree)."""
    first = json.loads((output_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["step"] == 1
    assert first["loss"] == pytest.approx(LN2, abs=1e-6)
    assert first["delta"] == 0.0


def _losses(output_dir: Path) -> list[float]:
    lines = (output_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["loss"] for line in lines]


def _weights(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().float() for k, v in module.state_dict().items()}


def _changed(before: dict, after: dict) -> bool:
    return any(not torch.equal(before[k], after[k]) for k in before)


# ---- the loss --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(4, 4, 8, 8), (4, 4, 2, 8, 8)])
def test_loss_is_ln2_when_policy_equals_reference(shape):
    pred = torch.randn(shape)
    noise = torch.randn(shape[0] // 2, *shape[1:]).repeat(2, *[1] * (len(shape) - 1))
    loss, metrics = diffusion_dpo_loss(pred, pred.clone(), noise, beta=5000.0)
    torch.testing.assert_close(loss, torch.tensor(LN2))
    assert metrics["delta"] == 0.0


@pytest.mark.parametrize("dims", [(2, 2), (1, 2, 2)])
def test_loss_hand_derived_two_pairs(dims):
    """Two pairs, every element of a sample equal, ε = 0.5 everywhere, β = 25. With ε_θ − ε = v, a sample's
    MSE is v²:

        pair 1: policy winner v = 0.1 (mse 0.01), reference winner v = 0.3 (0.09), both losers v = 0.2 (0.04)
                Δ₁ = (0.01 − 0.04) − (0.09 − 0.04) = −0.08     (policy lowered the winner's error)
                −½·β·Δ₁ = 1.0   →  −log σ(1.0)  = log(1 + e^{−1})  = 0.313262
        pair 2: policy winner v = 0.2 (0.04), reference winner v = 0 (0), both losers v = 0 (0)
                Δ₂ = (0.04 − 0) − (0 − 0) = 0.04                 (policy raised the winner's error)
                −½·β·Δ₂ = −0.5  →  −log σ(−0.5) = log(1 + e^{0.5}) = 0.974077
        L = (0.313262 + 0.974077) / 2 = 0.643669;  implicit accuracy 1/2; mean Δ = −0.02.

    Pair 1 alone (the policy lowered the winner's error relative to the reference) gives 0.313262 < ln 2."""
    def batch(values):  # rows: winner 1, winner 2, loser 1, loser 2
        return torch.stack([torch.full((1, *dims), 0.5 + v) for v in values])

    noise = torch.full((4, 1, *dims), 0.5)
    policy, reference = batch([0.1, 0.2, 0.2, 0.0]), batch([0.3, 0.0, 0.2, 0.0])
    loss, metrics = diffusion_dpo_loss(policy, reference, noise, beta=25.0)
    expected = (math.log1p(math.exp(-1.0)) + math.log1p(math.exp(0.5))) / 2
    torch.testing.assert_close(loss, torch.tensor(expected, dtype=torch.float32))
    assert metrics["implicit_accuracy"] == 0.5
    assert metrics["delta"] == pytest.approx(-0.02, abs=1e-6)
    first = [0, 2]  # pair 1 only: winner 1 and loser 1
    loss1, _ = diffusion_dpo_loss(policy[first], reference[first], noise[first], beta=25.0)
    torch.testing.assert_close(loss1, torch.tensor(math.log1p(math.exp(-1.0)), dtype=torch.float32))
    assert loss1.item() < LN2


def test_loss_refuses_unshared_noise():
    pred = torch.randn(4, 4, 8, 8)
    with pytest.raises(ValueError, match="share one noise"):
        diffusion_dpo_loss(pred, pred, torch.randn(4, 4, 8, 8))
    with pytest.raises(ValueError, match="even number"):
        diffusion_dpo_loss(pred[:3], pred[:3], pred[:3])


# ---- batch builder and timesteps -------------------------------------------------------------------------

@pytest.mark.parametrize("rule", ["uniform", "turbo", "grid"])
def test_pair_batch_shares_noise_and_timestep(rule):
    scheduler = ddpm()
    g = torch.Generator().manual_seed(0)
    lat_w, lat_l = torch.randn(3, 4, 2, 8, 8), torch.randn(3, 4, 2, 8, 8)  # 5-D: video latents
    batch = diffusion.noisy_pair_batch(lat_w, lat_l, scheduler, rule, g, grid_steps=50)
    assert torch.equal(batch.noise[:3], batch.noise[3:])
    assert torch.equal(batch.timesteps[:3], batch.timesteps[3:])
    expected = scheduler.add_noise(torch.cat([lat_w, lat_l]), batch.noise, batch.timesteps)
    torch.testing.assert_close(batch.noisy, expected)
    t = diffusion.sample_timesteps(4000, rule, 1000, torch.Generator().manual_seed(1), grid_steps=50)
    allowed = {"uniform": set(range(1000)), "turbo": {249, 499, 749, 999},
               "grid": {20 * k - 1 for k in range(1, 51)}}[rule]
    assert set(t.tolist()) <= allowed
    if rule == "turbo":
        assert set(t.tolist()) == {249, 499, 749, 999}


def test_zero_terminal_snr_and_guidance_embedding():
    scheduler = ddpm()
    diffusion.rescale_zero_terminal_snr(scheduler)
    assert scheduler.alphas_cumprod[-1].item() == pytest.approx(0.0, abs=1e-12)
    first = (1 - ddpm().betas).cumprod(0)[0]
    assert scheduler.alphas_cumprod[0].item() == pytest.approx(first.item(), rel=1e-5)
    emb = diffusion.guidance_embedding(torch.tensor([7.5, 1.0]), 16)
    assert emb.shape == (2, 16)
    torch.testing.assert_close(emb[0, 0], torch.sin(torch.tensor(7500.0)))


# ---- training on the tiny pipelines ----------------------------------------------------------------------

def test_sd_dpo_steps_start_at_ln2_and_change_the_unet(tmp_path, pipes, image_pairs):
    config = _config(tmp_path, pipes["sd"], image_pairs, max_steps=2, save_pipeline=True, random_flip=True)
    before = _weights(diffusers.UNet2DConditionModel.from_pretrained(pipes["sd"], subfolder="unet"))
    out = dd.train(config)
    losses = _losses(out)
    assert len(losses) == 2
    _assert_starts_at_ln2(out)
    after = _weights(diffusers.UNet2DConditionModel.from_pretrained(out, subfolder="unet"))
    assert _changed(before, after)
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(out)  # save_pipeline: a loadable pipeline
    torch.testing.assert_close(_weights(pipe.unet), after)
    assert (out / "checkpoint-2" / dd.STATE_FILE).is_file()


def test_sdxl_turbo_dpo_with_time_ids_and_pooled_embeds(tmp_path, pipes, image_pairs):
    config = _config(tmp_path, pipes["sdxl"], image_pairs, model_type="sdxl", timestep_rule="turbo",
                     zero_terminal_snr=True, optimizer="adafactor", gradient_checkpointing=True)
    recipe = dd.DiffusionDPORecipe(config)
    try:
        recipe.setup()
        assert recipe.scheduler.alphas_cumprod[-1].item() == pytest.approx(0.0, abs=1e-12)
        cond = recipe.encode_prompts(["a", "b"])
        assert cond.encoder_hidden_states.shape == (4, 16, 64)  # both encoders' hidden states, concatenated
        assert cond.added_cond_kwargs["text_embeds"].shape == (4, 32)
        assert cond.added_cond_kwargs["time_ids"].tolist() == [[RES, RES, 0, 0, RES, RES]] * 4
        before = _weights(recipe.accelerator.unwrap_model(recipe.unet))
        recipe.train()
        recipe.save_final()
        assert _changed(before, _weights(recipe.accelerator.unwrap_model(recipe.unet)))
    finally:
        recipe.cleanup()
    _assert_starts_at_ln2(Path(config.output_dir))
    assert (Path(config.output_dir) / "unet" / "config.json").is_file()


def test_video_dpo_on_unet3d_with_guidance_embedding(tmp_path, pipes, video_pairs):
    config = _config(tmp_path, pipes["video"], video_pairs, model_type="video", frames=2, frame_size=[RES, RES],
                     train_batch_size=1, gradient_accumulation_steps=2, max_steps=1, timestep_rule="grid")
    recipe = dd.DiffusionDPORecipe(config)
    try:
        recipe.setup()
        winners, losers, prompts = recipe._load_pixels([0], epoch=0)
        assert winners.shape == (1, 2, 3, RES, RES)  # (B, F, 3, H, W)
        assert recipe.encode_latents(winners).shape == (1, 4, 2, 16, 16)  # (B, C, F, h, w)
        assert recipe.encode_prompts(prompts).timestep_cond.shape == (2, 16)
        before = _weights(recipe.accelerator.unwrap_model(recipe.unet))
        recipe.train()
        assert _changed(before, _weights(recipe.accelerator.unwrap_model(recipe.unet)))
    finally:
        recipe.cleanup()
    _assert_starts_at_ln2(Path(config.output_dir))


def test_lora_dpo_trains_the_adapter_and_keeps_the_reference(tmp_path, pipes, image_pairs):
    config = _config(tmp_path, pipes["sd"], image_pairs, use_lora=True, lora_rank=4, learning_rate=1e-2)
    base = diffusers.UNet2DConditionModel.from_pretrained(pipes["sd"], subfolder="unet").eval()
    x, t, ctx = torch.randn(1, 4, 16, 16), torch.tensor([500]), torch.randn(1, 16, 32)
    with torch.no_grad():
        base_out = base(x, t, ctx).sample
    recipe = dd.DiffusionDPORecipe(config)
    try:
        recipe.setup()
        assert recipe.ref_unet is None  # no second copy: the reference is the adapter-less UNet
        recipe.train()
        unet = recipe.accelerator.unwrap_model(recipe.unet).eval()
        with torch.no_grad():
            with dd.adapter_disabled(unet):
                ref_out = unet(x, t, ctx).sample
            tuned_out = unet(x, t, ctx).sample
        recipe.save_final()
    finally:
        recipe.cleanup()
    torch.testing.assert_close(ref_out, base_out)  # the reference did not move
    assert not torch.allclose(tuned_out, base_out)  # the adapter did
    _assert_starts_at_ln2(Path(config.output_dir))
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(pipes["sd"])
    pipe.load_lora_weights(config.output_dir)  # the saved adapter is what a diffusers pipeline loads
    with torch.no_grad():
        torch.testing.assert_close(pipe.unet(x, t, ctx).sample, tuned_out, rtol=1e-4, atol=1e-5)


def test_video_lora_saves_a_merged_unet(tmp_path, pipes, video_pairs):
    """UNet3DConditionModel has no diffusers LoRA loader: the adapter goes in through peft and the final save is
    the UNet with the adapter merged, which the text-to-video pipeline loads as its `unet`."""
    config = _config(tmp_path, pipes["video"], video_pairs, model_type="video", frames=2, train_batch_size=1,
                     use_lora=True, learning_rate=1e-2, guidance_scale=None)
    x, t, ctx = torch.randn(1, 4, 2, 16, 16), torch.tensor([500]), torch.randn(1, 16, 32)
    recipe = dd.DiffusionDPORecipe(config)
    try:
        recipe.setup()
        recipe.train()
        unet = recipe.accelerator.unwrap_model(recipe.unet).eval()
        with torch.no_grad():
            tuned_out = unet(x, t, ctx).sample
        recipe.save_final()
    finally:
        recipe.cleanup()
    _assert_starts_at_ln2(Path(config.output_dir))
    merged = diffusers.UNet3DConditionModel.from_pretrained(config.output_dir, subfolder="unet")
    pipe = diffusers.TextToVideoSDPipeline.from_pretrained(pipes["video"], unet=merged)
    with torch.no_grad():
        torch.testing.assert_close(pipe.unet(x, t, ctx).sample, tuned_out, rtol=1e-4, atol=1e-5)


def test_resume_gives_the_same_losses_as_an_uninterrupted_run(tmp_path, pipes, image_pairs):
    common = dict(max_steps=4, save_steps=2, lr_scheduler="cosine", lr_warmup_steps=1, train_batch_size=1,
                  gradient_accumulation_steps=2, random_flip=True, proportion_empty_prompts=0.5)
    straight = _config(tmp_path / "a", pipes["sd"], image_pairs, **common)
    dd.train(straight)
    interrupted = _config(tmp_path / "b", pipes["sd"], image_pairs, **common)
    recipe = dd.DiffusionDPORecipe(interrupted)
    try:
        recipe.setup()
        recipe.train(stop_after=3)  # killed after step 3: the newest checkpoint is step 2
    finally:
        recipe.cleanup()
    assert len(_losses(Path(interrupted.output_dir))) == 3
    dd.train(interrupted)  # resume: auto
    a, b = _losses(Path(straight.output_dir)), _losses(Path(interrupted.output_dir))
    assert len(a) == len(b) == 4
    assert a == b
    ua = _weights(diffusers.UNet2DConditionModel.from_pretrained(straight.output_dir, subfolder="unet"))
    ub = _weights(diffusers.UNet2DConditionModel.from_pretrained(interrupted.output_dir, subfolder="unet"))
    assert not _changed(ua, ub)


# ---- configuration and data errors -----------------------------------------------------------------------

def test_config_rejects_unknown_keys_and_bad_values(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("pretrained_model: x\ndata: [d]\nbeta_dpo: 5000\n", encoding="utf-8")
    with pytest.raises(UsageError, match="beta_dpo"):
        dd.load_config(path)
    path.write_text("pretrained_model: x\ndata: [d]\ntimestep_rule: lcm\n", encoding="utf-8")
    with pytest.raises(UsageError, match="timestep_rule"):
        dd.load_config(path)
    path.write_text("pretrained_model: x\ndata: d\nbeta: many\n", encoding="utf-8")
    with pytest.raises(UsageError, match="'beta'"):
        dd.load_config(path)
    config = dd.load_config(path, {"beta": 100})
    assert config.beta == 100.0 and config.data == ["d"]


def test_shipped_configs_load():
    root = Path(__file__).resolve().parents[1] / "configs" / "dpo_diffusion"
    turbo = dd.load_config(root / "sdxl_turbo.yaml")
    assert (turbo.model_type, turbo.timestep_rule, turbo.beta, turbo.train_batch_size) == ("sdxl", "turbo", 5000, 32)
    video = dd.load_config(root / "t2v_turbo_unet3d.yaml")
    assert (video.model_type, video.beta, video.train_batch_size) == ("video", 5000, 16)


def test_pairs_errors_name_the_row_and_field(tmp_path, image_pairs):
    rows = [json.loads(line) for line in (image_pairs / "pairs.jsonl").read_text().splitlines()]
    bad = dict(rows[1])
    del bad["rejected"]
    root = tmp_path / "bad"
    (root / "media").mkdir(parents=True)
    for file in (image_pairs / "media").iterdir():
        (root / "media" / file.name).write_bytes(file.read_bytes())
    _write_pairs(root, [rows[0], bad])
    with pytest.raises(UsageError, match=r"line 2 \(id 'p1'\): field 'rejected' is missing"):
        dd.read_pairs(root, "image")
    _write_pairs(root, [dict(rows[0], chosen="media/none.png")])
    with pytest.raises(UsageError, match="field 'chosen': file .*none.png not found"):
        dd.read_pairs(root, "image")
    with pytest.raises(UsageError, match="video"):
        dd.read_pairs(image_pairs, "video")
    with pytest.raises(UsageError, match="no pairs.jsonl"):
        dd.read_pairs(tmp_path, "image")


# ---- policies --------------------------------------------------------------------------------------------

class _FailOn:
    """Wraps a pipeline so that one prompt raises (a generator failing for that prompt)."""

    def __init__(self, pipe, prompt: str):
        self.pipe, self.prompt = pipe, prompt

    def __call__(self, *args, **kwargs):
        if self.prompt in kwargs["prompt"]:
            raise RuntimeError("CUDA out of memory (simulated)")
        return self.pipe(*args, **kwargs)


def _check_policy(policy, tmp_path: Path, ext: str) -> None:
    store = MediaStore(tmp_path / "store")
    items = [PolicyInput("a", "a red cube"), PolicyInput("b", "a blue sphere")]
    first = policy.candidates(items, n=4, seed=100, store=store)
    assert [len(c) for c in first] == [4, 4] and policy.errors == {}
    assert [c.seed for c in first[0]] == [100, 101, 102, 103] and [c.index for c in first[0]] == [0, 1, 2, 3]
    for cands in first:
        assert len({c.media for c in cands}) == 4  # distinct seeds, distinct files
        assert all(Path(c.media).is_file() and c.media.endswith(ext) for c in cands)
    again = policy.candidates(items, n=4, seed=100, store=store)
    assert [[c.media for c in cands] for cands in again] == [[c.media for c in cands] for cands in first]
    policy._pipe = _FailOn(policy.pipeline, "a red cube")
    failed = policy.candidates(items, n=4, seed=100, store=store)
    assert failed[0] == [] and "RuntimeError: CUDA out of memory" in policy.errors["a"]
    assert [c.media for c in failed[1]] == [c.media for c in first[1]]
    assert "b" not in policy.errors


def test_image_policy_candidates_seeds_and_errors(tmp_path, pipes):
    assert POLICIES.get("diffusers-image") is DiffusersImagePolicy
    policy = DiffusersImagePolicy.from_args({"model": str(pipes["sdxl"]), "steps": "1", "guidance_scale": "0",
                                             "height": str(RES), "width": str(RES), "device": "cpu"})
    identity = policy.identity()
    assert identity["steps"] == 1 and identity["guidance_scale"] == 0.0 and identity["height"] == RES
    assert identity["model"] == str(pipes["sdxl"]) and identity["generator_device"] == "cpu"
    _check_policy(policy, tmp_path, ".png")


def test_video_policy_writes_mp4_candidates(tmp_path, pipes):
    from harness.media import load_media
    from harness.records import MediaRef

    assert POLICIES.get("diffusers-video") is DiffusersVideoPolicy
    policy = DiffusersVideoPolicy(model=str(pipes["video"]), steps=1, height=RES, width=RES, num_frames=2,
                                  device="cpu")
    _check_policy(policy, tmp_path, ".mp4")
    video = next((tmp_path / "store").rglob("*.mp4"))
    loaded = load_media(MediaRef("video", "candidate", path=video, frames=2, sampling="linspace"))
    assert len(loaded.frames) == 2
