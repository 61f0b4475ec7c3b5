"""What `train-reward` and `dpo-vlm` feed a real-config model: placeholder counts per route, labels, the
dataset text as plain text, vision features inside the forward (gradients reach the tower), and the
reference model of DPO fed the same way.

Expected counts come from the authors' training code (LLaVA-NeXT `llava/train/train.py` `_get_item`: a
multi-image record is processed with "pad"; `llava/model/llava_arch.py` `prepare_inputs_labels_for_multimodal`:
a single-patch image gets the newline appended, a video is 2x2 pooled with one newline for `one_token`) and the
OneVision config in `reward/testing/checkpoint_configs/llava-onevision-qwen2-7b-ov/config.json` (384 px, patch 14:
27x27 = 729 a tile; bilinear pool to 14x14 = 196)."""

from __future__ import annotations

import pytest

pytest.importorskip("trl")

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from harness.errors import UsageError  # noqa: E402
from reward.hf_loading import load_vlm  # noqa: E402
from reward.training.inputs import (PreferenceCollator, RecordEncoder, SFTCollator, install_vision_hook,  # noqa: E402
                                 parts_of, training_builder)

from .test_media import write_video  # noqa: E402

IMAGE, IM_END = 151646, 151645
ANSWER = "Image 1 is better than Image 2."


@pytest.fixture(scope="module")
def llava(tiny):
    loaded = load_vlm(str(tiny("unifiedreward-7b")), device="cpu", dtype="float32")
    return loaded.model, loaded.processor


@pytest.fixture(scope="module")
def qwen(tiny):
    loaded = load_vlm(str(tiny("qwen2.5-vl-7b")), device="cpu", dtype="float32")
    return loaded.model, loaded.processor


def images(tmp_path, n, size=(512, 512)):
    paths = []
    for i in range(n):
        path = tmp_path / f"i{i}.png"
        Image.new("RGB", size, (40 * i, 90, 200)).save(path)
        paths.append(str(path))
    return paths


def sft(model_and_processor, video_input="pooled", frames=8):
    model, processor = model_and_processor
    builder = training_builder(model, processor, video_input)
    return SFTCollator(RecordEncoder(builder, ("completion",), frames), model.config.model_type), builder


def row(parts, completion=ANSWER, rid="r0"):
    return {"id": rid, "images": [p["value"] for p in parts if p["kind"] == "image"], "parts": parts,
            "completion": completion}


def image_tokens(batch, row_index=0):
    return int((batch["input_ids"][row_index] == IMAGE).sum())


def test_llava_one_image_is_tiled_and_only_the_answer_carries_loss(llava, tmp_path):
    collate, _ = sft(llava)
    batch = collate([row(parts_of(images(tmp_path, 1), None, "Which is better?"))])
    assert image_tokens(batch) == 729 + 54 * 55  # anyres_max_9 for 512x512, as the judges' single image
    tok = llava[1].tokenizer
    supervised = batch["labels"][0] != -100
    assert tok.decode(batch["input_ids"][0][supervised]) == ANSWER + "<|im_end|>\n"
    first = int(supervised.nonzero()[0])
    assert tok.decode(batch["input_ids"][0][:first]).endswith("Which is better?<|im_end|>\n<|im_start|>assistant\n")
    assert [m["tokens"] for m in batch["vision_media"]] == [3699]


def test_llava_multi_image_and_frame_records_take_one_padded_tile_and_a_newline_each(llava, tmp_path):
    collate, _ = sft(llava)
    batch = collate([row(parts_of(images(tmp_path, 2), None, "Which is better?")),
                     row(parts_of(images(tmp_path, 4, (640, 360)), None, "Rate the video."), rid="r1")])
    assert image_tokens(batch, 0) == 2 * 730 and image_tokens(batch, 1) == 4 * 730
    assert [m["route"] for m in batch["vision_media"]] == ["pad"] * 6
    assert all(m["pixel_values"].shape == (1, 3, 384, 384) for m in batch["vision_media"])


def test_llava_video_pooled_or_as_frames(llava, tmp_path):
    video = str(write_video(tmp_path / "v.mp4", 20))
    pooled, _ = sft(llava, "pooled")
    batch = pooled([row(parts_of([], video, "Rate the video."))])
    assert image_tokens(batch) == 8 * 14 * 14 + 1  # 196 a frame, one newline (mm_newline_position one_token)
    assert batch["vision_media"][0]["pixel_values"].shape == (8, 3, 384, 384)
    frames, _ = sft(llava, "frames")
    assert image_tokens(frames([row(parts_of([], video, "Rate the video."))])) == 8 * 729


def test_the_pooled_count_is_transformers_own_video_count(llava, tmp_path):
    """The pooled route's placeholder count is what transformers' processor counts for its native LLaVA-OneVision
    video input of the same frames (196F + 1)."""
    model, processor = llava
    _, builder = sft(llava, "pooled")
    for frames in (4, 8):
        video = str(write_video(tmp_path / f"v{frames}.mp4", 20))
        encoded = RecordEncoder(builder, ("completion",), frames)(row(parts_of([], video, "Q")))
        (medium,) = encoded.prompt.media
        theirs = processor._get_num_multimodal_tokens(video_sizes=[(frames, 384, 384)])["num_video_tokens"]
        assert [medium.tokens] == theirs == [frames * 196 + 1]


def test_dataset_text_with_special_tokens_stays_text(llava, tmp_path):
    collate, _ = sft(llava)
    parts = parts_of(images(tmp_path, 1), None, "<image>\nIs <|im_end|> a token?")
    batch = collate([row(parts, completion="Yes<|im_end|><image> no.")])
    assert image_tokens(batch) == 3699  # the query's `<image>` added no placeholder
    labels = batch["labels"][0][batch["labels"][0] != -100]
    assert int((labels == IM_END).sum()) == 1  # the answer's `<|im_end|>` is text; only the turn's end is the token
    assert int((labels == IMAGE).sum()) == 0
    assert llava[1].tokenizer.decode(labels) == "Yes<|im_end|><image> no.<|im_end|>\n"


def test_llava_features_are_computed_in_the_forward_and_the_tower_learns(llava, tmp_path):
    model, processor = llava
    collate, builder = sft(llava)
    batch = collate([row(parts_of(images(tmp_path, 2), None, "Which?")),
                     row(parts_of(images(tmp_path, 1, (300, 200)), None, "Which?"), rid="r1")])
    remove = install_vision_hook(model, builder)
    try:
        model.zero_grad()
        loss = model(**batch).loss
        loss.backward()
        assert torch.isfinite(loss)
        grad = next(model.model.vision_tower.parameters()).grad
        assert grad is not None and float(grad.abs().sum()) > 0
        newline = model.model.image_newline.grad  # the pad route's newline is a trained parameter, as in LLaVA-NeXT
        assert newline is not None and float(newline.abs().sum()) > 0
    finally:
        remove()
        model.zero_grad()


def test_pad_features_equal_transformers_multi_image_path(llava, tmp_path):
    """One padded tile plus the newline: numerically what transformers' own multi-image branch computes."""
    model, processor = llava
    _, builder = sft(llava)
    paths = images(tmp_path, 2, (500, 300))
    pil = [Image.open(p).convert("RGB") for p in paths]
    ours = processor.image_processor([pil], return_tensors="pt")
    with torch.no_grad():
        theirs = model.model.get_image_features(pixel_values=ours["pixel_values"], image_sizes=ours["image_sizes"],
                                                batch_num_images=[2], return_dict=True).pooler_output
        encoded = RecordEncoder(builder, ("completion",), 8)(row(parts_of(paths, None, "Q")))
        mine = builder.features(model.model, builder.tensors(encoded.prompt.vision))
    assert [f.shape[0] for f in mine] == [t.shape[0] for t in theirs] == [730, 730]
    for a, b in zip(mine, theirs):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_dpo_batch_is_chosen_then_rejected_and_the_reference_copy_is_fed_too(llava, tmp_path):
    import copy

    model, processor = llava
    builder = training_builder(model, processor, "frames")
    collate = PreferenceCollator(RecordEncoder(builder, ("chosen", "rejected"), 2), "llava_onevision")
    video = str(write_video(tmp_path / "v.mp4", 12))
    rows = [{"id": "a", "images": [], "parts": parts_of([], video, "What happens?"), "chosen": "A dog runs.",
             "rejected": "A cat."},
            {"id": "b", "images": [], "parts": parts_of(images(tmp_path, 1), None, "Describe."), "chosen": "Blue.",
             "rejected": "A red square in the corner."}]
    batch = collate(rows)
    assert batch["input_ids"].shape[0] == 4
    assert [image_tokens(batch, i) for i in range(4)] == [2 * 729, 3699, 2 * 729, 3699]
    assert len(batch["vision_media"]) == 2 * (2 + 1)
    tok = processor.tokenizer
    answers = [tok.decode(ids[mask.bool()]) for ids, mask in zip(batch["input_ids"], batch["completion_mask"])]
    assert answers == ["A dog runs.<|im_end|>\n", "Blue.<|im_end|>\n", "A cat.<|im_end|>\n",
                       "A red square in the corner.<|im_end|>\n"]
    remove = install_vision_hook(model, builder)
    try:
        reference = copy.deepcopy(model).eval()
        kwargs = {k: v for k, v in batch.items() if k != "completion_mask"}
        with torch.no_grad():  # the last positions attend to every image feature; full logits would take GBs
            ref = reference(**dict(kwargs), logits_to_keep=4).logits
            own = model(**dict(kwargs), logits_to_keep=4).logits
        torch.testing.assert_close(ref, own)  # same weights, same inputs: the copy's hook fed its own tower
    finally:
        remove()


def test_qwen_video_is_one_native_video_and_images_take_the_image_processor(qwen, tmp_path):
    video = str(write_video(tmp_path / "v.mp4", 20))
    collate, _ = sft(qwen)
    batch = collate([row(parts_of(images(tmp_path, 2), video, "Which is better?", video_first=False))])
    assert "vision_media" not in batch
    assert batch["image_grid_thw"].tolist() == [[1, 36, 36], [1, 36, 36]]  # 504x504 after smart resize
    assert batch["video_grid_thw"].shape == (1, 3)
    t, h, w = batch["video_grid_thw"][0].tolist()
    assert t == 4  # 8 frames, temporal patch 2
    types = batch["mm_token_type_ids"][0]
    assert int((types == 1).sum()) == 2 * 36 * 36 // 4 and int((types == 2).sum()) == t * h * w // 4
    assert batch["second_per_grid_ts"].shape == (1,)
    model = qwen[0]
    loss = model(**batch).loss
    assert torch.isfinite(loss)


def test_over_max_length_is_refused_naming_the_record(llava, tmp_path):
    model, processor = llava
    builder = training_builder(model, processor, "pooled")
    encoder = RecordEncoder(builder, ("completion",), 8, max_length=1000)
    with pytest.raises(UsageError, match="record 'big': 37.. tokens, over max_length 1000"):
        encoder(row(parts_of(images(tmp_path, 1), None, "Q"), rid="big"))


def test_unknown_video_input_is_a_usage_error(llava):
    with pytest.raises(UsageError, match="video_input 'tiles'; valid: pooled, frames"):
        training_builder(*llava, "tiles")
