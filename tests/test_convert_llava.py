"""`reward.convert_llava`: an original LLaVA-NeXT checkpoint converts to the same function in transformers' layout.

The reference is the tiny transformers LLaVA-OneVision of `reward.testing.tiny_models` (model T, tokenizer T with
`<|endoftext|> <|im_start|> <|im_end|> <image> <video>` at ids 0-4 and 315 BPE tokens at ids 5-319). The test
writes it out in the ORIGINAL LLaVA-NeXT layout with its own writer (`write_original`, built from T's submodules,
independent of the converter's prefix map): llava_qwen config.json, safetensors with original key names, and an
original-style tokenizer O WITHOUT `<image>`/`<video>`.

Token ids: O is trained on the same corpus with only the three chat specials, so it holds the same 315 BPE
tokens at ids 3-317 (T's id - 2; checked by `test_tokenizers_line_up`). The converter appends `<image>` and
`<video>` to O, at ids 318 and 319. So converted id c corresponds to T id `PERM[c]` (0-2 -> 0-2, 3-317 -> 5-319,
318 -> 3, 319 -> 4), and the writer stores T's embedding and lm_head rows in that order. Then the converted model
run on the converted processor's ids must give T's logits run on the mapped ids, columns mapped by PERM (to 1e-6;
bit-identical on CPU). Both models get the same pixel_values (the converted processor's SigLIP normalisation),
and T's own processor must produce the mapped ids (same `<image>` expansion).

Variants: the original stores all 320 rows (no growth; every logit compared); it stores only the 318 rows O
uses (the converter grows the matrices to 320, a multiple of 64, with mean rows: logits compared over the 318
shared columns, the 2 new rows checked to be the means); tied embeddings without an lm_head key (T tied first;
this variant also takes the head count from the preset table and the pinpoints in LLaVA's "(1x1),...,(1x1)" form).
The error tests each break one thing in a copy of a good original checkpoint.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from PIL import Image  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import LlavaOnevisionForConditionalGeneration  # noqa: E402

from harness.errors import UsageError  # noqa: E402
from reward import convert_llava  # noqa: E402
from reward.convert_llava import convert, grid_pinpoints, padded_rows  # noqa: E402
from reward.hf_loading import load_vlm  # noqa: E402
from reward.testing.tiny_models import build_tokenizer, tiny_llava_onevision  # noqa: E402

CHAT_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
N_ORIGINAL = 318  # tokens of O: 3 specials + 315 BPE tokens
PERM = torch.tensor([0, 1, 2, *range(5, 320), 3, 4])  # converted id -> tiny (T) id
TOWER = "tiny-org/siglip-tiny-test"  # not in VISION_HEADS
VISION_HEADS = 4  # tiny_llava_onevision's SigLIP
# Items render in their order (the scripts' prompt string is "<image>\n" + text).
MESSAGES = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Which answer is better?"}]}]
EXPECTED_PROMPT = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                   "<|im_start|>user\n<image>\nWhich answer is better?<|im_end|>\n<|im_start|>assistant\n")


def original_tokenizer():
    return build_tokenizer(CHAT_SPECIALS, vocab_size=N_ORIGINAL)


def original_state_dict(model, rows: int, tied: bool) -> dict[str, torch.Tensor]:
    """T's weights under LLaVA-NeXT names, token rows in converted-id order (first `rows` of PERM)."""
    inner = model.model
    out: dict[str, torch.Tensor] = {}

    def put(prefix: str, module) -> None:
        for name, tensor in module.state_dict().items():
            out[prefix + name] = tensor.detach().clone().contiguous()

    put("model.vision_tower.vision_tower.vision_model.", inner.vision_tower)
    put("model.mm_projector.0.", inner.multi_modal_projector.linear_1)
    put("model.mm_projector.2.", inner.multi_modal_projector.linear_2)
    put("model.", inner.language_model)  # embed_tokens, layers, norm
    out["model.image_newline"] = inner.image_newline.detach().clone()
    out["model.embed_tokens.weight"] = inner.language_model.embed_tokens.weight[PERM[:rows]].clone()
    if not tied:
        out["lm_head.weight"] = model.lm_head.weight[PERM[:rows]].detach().clone()
    out["model.layers.0.self_attn.rotary_emb.inv_freq"] = torch.ones(4)  # old LLaVA-NeXT saves: dropped
    return out


def original_config(model, rows: int, tied: bool, tower: str = TOWER, pinpoints=None) -> dict:
    text = model.config.text_config
    return {
        "architectures": ["LlavaQwenForCausalLM"], "model_type": "llava_qwen",
        "vocab_size": rows, "hidden_size": text.hidden_size, "intermediate_size": text.intermediate_size,
        "num_hidden_layers": text.num_hidden_layers, "num_attention_heads": text.num_attention_heads,
        "num_key_value_heads": text.num_key_value_heads, "max_position_embeddings": text.max_position_embeddings,
        "rope_theta": text.rope_parameters["rope_theta"], "rope_scaling": None, "rms_norm_eps": text.rms_norm_eps,
        "hidden_act": "silu", "tie_word_embeddings": tied, "use_sliding_window": False, "bos_token_id": None,
        "eos_token_id": 2, "torch_dtype": "float32",
        "mm_vision_tower": tower, "mm_projector_type": "mlp2x_gelu", "mm_vision_select_layer": -2,
        "mm_vision_select_feature": "patch", "mm_patch_merge_type": "spatial_unpad", "mm_hidden_size": 32,
        "image_aspect_ratio": "anyres_max_9", "image_grid_pinpoints": pinpoints or [[16, 16]],
        "mm_newline_position": "one_token", "mm_spatial_pool_mode": "bilinear",
    }


def write_original(model, root: Path, *, rows: int = 320, tied: bool = False, **config_kwargs) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps(original_config(model, rows, tied, **config_kwargs)))
    state = original_state_dict(model, rows, tied)
    keys = sorted(state)
    half = len(keys) // 2  # two shards, as real checkpoints come
    save_file({k: state[k] for k in keys[:half]}, str(root / "model-00001-of-00002.safetensors"))
    save_file({k: state[k] for k in keys[half:]}, str(root / "model-00002-of-00002.safetensors"))
    original_tokenizer().save_pretrained(root)
    return root


@pytest.fixture(scope="module")
def tiny():
    return tiny_llava_onevision(seed=3)


@pytest.fixture(scope="module")
def image():
    return Image.frombytes("RGB", (24, 12), bytes((i * 37) % 256 for i in range(24 * 12 * 3)))


def tied_tiny():
    """T (same seed) with tied embeddings (lm_head = embed_tokens), for the tied-checkpoint variant."""
    model, _ = tiny_llava_onevision(seed=3)
    model.config.tie_word_embeddings = model.config.text_config.tie_word_embeddings = True
    model.lm_head.weight = model.model.language_model.embed_tokens.weight
    return model


def test_tokenizers_line_up(tiny):
    """The premise of PERM: O's tokens are T's tokens, shifted past <image>/<video>."""
    _, processor = tiny
    t_vocab, o_vocab = processor.tokenizer.get_vocab(), original_tokenizer().get_vocab()
    assert len(o_vocab) == N_ORIGINAL and "<image>" not in o_vocab and "<video>" not in o_vocab
    for token, o_id in o_vocab.items():
        assert t_vocab[token] == PERM[o_id].item(), token


@pytest.mark.parametrize("variant", ["full_vocab", "grown_vocab", "tied"])
def test_converted_logits_equal_original(tmp_path, tiny, image, variant, monkeypatch):
    model, t_processor = tiny
    rows = N_ORIGINAL if variant == "grown_vocab" else 320
    kwargs: dict = {}
    if variant == "tied":
        model = tied_tiny()
        # the head count from the preset table (by the tower's last path component), pinpoints as LLaVA shorthand
        monkeypatch.setitem(convert_llava.VISION_HEADS, "siglip-tiny-test", VISION_HEADS)
        kwargs = {"pinpoints": "(1x1),...,(1x1)"}
    src = write_original(model, tmp_path / "original", rows=rows, tied=variant == "tied", **kwargs)
    dst = convert(src, tmp_path / "converted", vision_num_heads=None if variant == "tied" else VISION_HEADS)
    loaded = load_vlm(str(dst), device="cpu")
    config = loaded.model.config
    assert loaded.model_type == "llava_onevision"
    assert (config.image_token_index, config.video_token_index) == (318, 319)
    assert config.vision_feature_select_strategy == "full" and config.vision_feature_layer == -1
    assert config.vision_config.num_attention_heads == VISION_HEADS and config.vision_config.image_size == 16
    assert config.image_grid_pinpoints == [[16, 16]] and config.vision_aspect_ratio == "anyres_max_9"
    assert loaded.model.dtype == torch.float32

    prompt = loaded.processor.apply_chat_template(MESSAGES, add_generation_prompt=True)
    assert prompt == EXPECTED_PROMPT
    inputs = loaded.processor(images=[image], text=[prompt], return_tensors="pt")
    # T's own processor expands <image> to as many tokens: the ids agree through PERM
    t_ids = t_processor(images=[image], text=[prompt], return_tensors="pt")["input_ids"]
    torch.testing.assert_close(PERM[inputs["input_ids"]], t_ids, rtol=0, atol=0)

    with torch.no_grad():
        converted = loaded.model(**inputs).logits
        reference = model(**{**inputs, "input_ids": t_ids}).logits
    shared = N_ORIGINAL if variant == "grown_vocab" else 320
    assert converted.shape[-1] == 320
    torch.testing.assert_close(converted[..., :shared], reference[..., PERM[:shared]], rtol=1e-6, atol=1e-6)

    embed = loaded.model.get_input_embeddings().weight
    head = loaded.model.lm_head.weight
    if variant == "grown_vocab":
        torch.testing.assert_close(embed[318:], embed[:318].mean(0).expand(2, -1))
        torch.testing.assert_close(head[318:], head[:318].mean(0).expand(2, -1))
    if variant == "tied":
        assert config.tie_word_embeddings and head.data_ptr() == embed.data_ptr()


def test_dtype_argument_casts_weights(tmp_path, tiny):
    model, _ = tiny
    src = write_original(model, tmp_path / "original")
    dst = convert(src, tmp_path / "converted", vision_num_heads=VISION_HEADS, dtype="bfloat16")
    weights = {}
    for shard in dst.glob("*.safetensors"):
        weights.update(load_file(shard))
    assert {t.dtype for t in weights.values()} == {torch.bfloat16}
    assert not any(k.endswith("inv_freq") for k in weights)
    assert load_vlm(str(dst), device="cpu").model.dtype == torch.bfloat16


def test_saved_checkpoint_loads_without_missing_keys(tmp_path, tiny):
    """Every parameter comes from the file, also those the logits cannot see (e.g. the unused post_layernorm)."""
    src = write_original(tiny[0], tmp_path / "original")
    dst = convert(src, tmp_path / "converted", vision_num_heads=VISION_HEADS)
    model, info = LlavaOnevisionForConditionalGeneration.from_pretrained(dst, output_loading_info=True)
    assert not any(info.values()), info
    torch.testing.assert_close(model.model.vision_tower.post_layernorm.weight,
                               tiny[0].model.vision_tower.post_layernorm.weight, rtol=0, atol=0)


@pytest.fixture(scope="module")
def original_dir(tmp_path_factory, tiny):
    return write_original(tiny[0], tmp_path_factory.mktemp("convert") / "original")


def variant_of(original: Path, target: Path, config: dict | None = None, extra: dict | None = None,
               drop: str | None = None) -> Path:
    """A copy of the original checkpoint with config fields replaced, tensors added or one removed."""
    shutil.copytree(original, target)
    if config is not None:
        data = json.loads((target / "config.json").read_text())
        data.update(config)
        (target / "config.json").write_text(json.dumps(data))
    if extra or drop:
        shard = target / "model-00001-of-00002.safetensors"
        state = load_file(shard)
        state.update(extra or {})
        state.pop(drop, None)
        save_file(state, str(shard))
    return target


def test_missing_source(tmp_path):
    with pytest.raises(UsageError, match="no such directory"):
        convert(tmp_path / "nowhere", tmp_path / "out")


def test_source_without_config(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no config.json"):
        convert(tmp_path / "empty", tmp_path / "out")


def test_not_a_llava_config(tmp_path, original_dir):
    src = variant_of(original_dir, tmp_path / "src", config={"model_type": "qwen2"})
    with pytest.raises(UsageError, match="model_type 'qwen2'"):
        convert(src, tmp_path / "out", vision_num_heads=VISION_HEADS)


def test_already_converted_config(tmp_path, original_dir):
    src = variant_of(original_dir, tmp_path / "src", config={"model_type": "llava"})
    data = json.loads((src / "config.json").read_text())
    del data["mm_vision_tower"]  # a transformers `llava` config has no mm_* fields
    (src / "config.json").write_text(json.dumps(data))
    with pytest.raises(UsageError, match="without mm_vision_tower"):
        convert(src, tmp_path / "out", vision_num_heads=VISION_HEADS)


def test_unknown_key(tmp_path, original_dir):
    src = variant_of(original_dir, tmp_path / "src", extra={"model.vision_resampler.proj.weight": torch.ones(2)})
    with pytest.raises(UsageError, match=r"unknown keys.*model\.vision_resampler\.proj\.weight"):
        convert(src, tmp_path / "out", vision_num_heads=VISION_HEADS)


def test_missing_key_is_named(tmp_path, original_dir):
    src = variant_of(original_dir, tmp_path / "src", drop="model.layers.1.mlp.up_proj.weight")
    with pytest.raises(UsageError, match=r"missing: model\.language_model\.layers\.1\.mlp\.up_proj\.weight"):
        convert(src, tmp_path / "out", vision_num_heads=VISION_HEADS)


def test_unknown_tower_needs_vision_num_heads(tmp_path, original_dir):
    with pytest.raises(UsageError, match=r"unknown vision tower.*tiny-org/siglip-tiny-test.*vision_num_heads"):
        convert(original_dir, tmp_path / "out")


def test_unsupported_projector(tmp_path, original_dir):
    src = variant_of(original_dir, tmp_path / "src", config={"mm_projector_type": "linear"})
    with pytest.raises(UsageError, match="mm_projector_type='linear'"):
        convert(src, tmp_path / "out", vision_num_heads=VISION_HEADS)


def test_no_weights(tmp_path, original_dir):
    src = variant_of(original_dir, tmp_path / "src")
    for shard in src.glob("*.safetensors"):
        shard.unlink()
    with pytest.raises(UsageError, match="no .*safetensors"):
        convert(src, tmp_path / "out", vision_num_heads=VISION_HEADS)


def test_refuses_non_empty_destination(tmp_path, original_dir):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    with pytest.raises(UsageError, match="not empty.*overwrite"):
        convert(original_dir, tmp_path / "out", vision_num_heads=VISION_HEADS)
    assert (tmp_path / "out" / "keep.txt").read_text() == "x"


def test_grid_pinpoints_and_padding():
    assert grid_pinpoints("(1x1),...,(2x3)", 384) == [[384, 384], [384, 768], [384, 1152],
                                                      [768, 384], [768, 768], [768, 1152]]
    assert grid_pinpoints([[384, 768]], 384) == [[384, 768]]
    with pytest.raises(UsageError, match="image_grid_pinpoints"):
        grid_pinpoints("anything", 384)
    assert [padded_rows(n) for n in (64, 65, 151648, 152064)] == [64, 128, 151680, 152064]


def test_cli_converts_and_names_the_output(tmp_path, capsys):
    """`python -m harness convert-llava SRC DST` as wired in harness/cli.py."""
    from harness.cli import main

    assert main(["convert-llava", str(tmp_path / "missing"), str(tmp_path / "out")]) == 2
    assert "missing" in capsys.readouterr().err
