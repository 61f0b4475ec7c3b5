"""Tiny VLM judges built from configs with a locally trained tokenizer: no download, < 1 s to build.

Used by the tests, the benchmarks and smoke runs of the `hf` path on machines without weights:

    python -m reward.testing.tiny_models llava_onevision /tmp/tiny-llava
    python -m harness run --tasks vlrewardbench --model hf --model-args pretrained=/tmp/tiny-llava,max_new_tokens=8

The weights are random: such a judge answers gibberish (counted as invalid), which is what tests of the
machinery need. The saved directories load with `reward.hf_loading.load_vlm` exactly like a real
checkpoint (config.json, safetensors, tokenizer, processor with its chat template).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration, PreTrainedTokenizerFast,
                          Qwen2VLConfig, Qwen2VLForConditionalGeneration)
from transformers.models.llava_onevision.image_processing_pil_llava_onevision import LlavaOnevisionImageProcessorPil
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from reward.hf_loading import ImageOnlyLlavaOnevisionProcessor, ImageOnlyQwen2VLProcessor

CORPUS = ["Answer 1 is better", "Answer 2 is better", "Overall Judgment: Answer 1 is better.",
          "Image 1 is better than Image 2", "a photo of a cat on a mat", "the image shows a dog",
          "score: 4", "user assistant system describe the picture question response"] * 20

LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<image>\n{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")

QWEN_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def build_tokenizer(specials: list[str], vocab_size: int = 320, **extra: object) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", **extra)


def tiny_llava_onevision(seed: int = 0, image_size: int = 16, patch: int = 8, hidden: int = 32):
    """(model, processor) of a LLaVA-OneVision with a 2-layer SigLIP and a 2-layer Qwen2."""
    tok = build_tokenizer(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"],
                          extra_special_tokens={"image_token": "<image>", "video_token": "<video>"})
    image_processor = LlavaOnevisionImageProcessorPil(size={"height": image_size, "width": image_size},
                                                      image_grid_pinpoints=[[image_size, image_size]], do_pad=True)
    processor = ImageOnlyLlavaOnevisionProcessor(image_processor=image_processor, tokenizer=tok,
                                                 num_image_tokens=(image_size // patch) ** 2,
                                                 vision_feature_select_strategy="full",
                                                 chat_template=LLAVA_CHAT_TEMPLATE)
    config = LlavaOnevisionConfig(
        text_config=dict(model_type="qwen2", vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, intermediate_size=64,
                         max_position_embeddings=4096, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                         tie_word_embeddings=False),
        vision_config=dict(model_type="siglip_vision_model", image_size=image_size, patch_size=patch,
                           hidden_size=hidden, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           vision_use_head=False),
        image_token_index=tok.convert_tokens_to_ids("<image>"), video_token_index=tok.convert_tokens_to_ids("<video>"),
        vision_feature_select_strategy="full", vision_feature_layer=-1, image_grid_pinpoints=[[image_size, image_size]])
    torch.manual_seed(seed)
    model = LlavaOnevisionForConditionalGeneration(config).eval()
    model.generation_config.pad_token_id = tok.pad_token_id
    return model, processor


def tiny_qwen2_vl(seed: int = 0, hidden: int = 32):
    """(model, processor) of a Qwen2-VL with a 2-layer vision tower and a 2-layer LM."""
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>"]
    tok = build_tokenizer(specials)
    image_processor = Qwen2VLImageProcessorPil(min_pixels=28 * 28, max_pixels=56 * 56, patch_size=14, merge_size=2,
                                               temporal_patch_size=2)
    processor = ImageOnlyQwen2VLProcessor(image_processor=image_processor, tokenizer=tok,
                                          chat_template=QWEN_CHAT_TEMPLATE)
    ids = {name: tok.convert_tokens_to_ids(token) for name, token in [
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>")]}
    config = Qwen2VLConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=hidden, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, pad_token_id=tok.pad_token_id,
                         eos_token_id=tok.eos_token_id, bos_token_id=None, max_position_embeddings=4096,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [1, 1, 2]}),
        vision_config=dict(depth=2, embed_dim=hidden, hidden_size=hidden, num_heads=4, mlp_ratio=2, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2), **ids)
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config).eval()
    model.generation_config.pad_token_id = tok.pad_token_id
    return model, processor


def save_tiny_clip(directory: Path, seed: int = 0) -> tuple[Path, Path]:
    """(checkpoint dir, processor dir) of a random 2-layer CLIP for the `pickscore` scorer: the processor
    dir holds a locally trained tokenizer and a preprocessor config in the legacy format of the LAION
    CLIP-H repository (which PickScore's processor comes from)."""
    import json

    from tokenizers import processors
    from transformers import CLIPConfig, CLIPModel

    directory = Path(directory)
    tok = build_tokenizer(["<|endoftext|>", "<|startoftext|>", "<|unused|>", "<|im_end|>"])
    bos, eos = tok.convert_tokens_to_ids("<|startoftext|>"), tok.convert_tokens_to_ids("<|im_end|>")
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|im_end|>", special_tokens=[("<|startoftext|>", bos), ("<|im_end|>", eos)])
    tok.save_pretrained(directory / "processor")
    (directory / "processor" / "preprocessor_config.json").write_text(json.dumps({
        "crop_size": 16, "do_center_crop": True, "do_normalize": True, "do_resize": True, "resample": 3,
        "feature_extractor_type": "CLIPFeatureExtractor", "size": 16,
        "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711]}))
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=77, bos_token_id=bos, eos_token_id=eos,
                         pad_token_id=tok.pad_token_id),
        vision_config=dict(image_size=16, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=4),
        projection_dim=24, logit_scale_init_value=4.6)
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(directory / "model")
    return directory / "model", directory / "processor"


BUILDERS = {"llava_onevision": tiny_llava_onevision, "qwen2_vl": tiny_qwen2_vl}


def save_tiny(kind: str, directory: Path, seed: int = 0) -> Path:
    model, processor = BUILDERS[kind](seed=seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in BUILDERS:
        raise SystemExit(f"usage: python -m reward.testing.tiny_models {{{'|'.join(BUILDERS)}}} OUTPUT_DIR")
    print(save_tiny(sys.argv[1], Path(sys.argv[2])))
