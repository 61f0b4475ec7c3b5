"""Loading transformers VLM judges without torchvision (extra `hf`).

transformers 5.x processors of LLaVA-OneVision and Qwen-VL declare a `video_processor`, which needs
torchvision; beside the CPU torch wheel torchvision cannot be installed (docs/install.md). The
`ImageOnly*` subclasses declare only the image processor and the tokenizer, so construction,
`save_pretrained` and `from_pretrained` work, and video frames go through the image path.

Supported families (by `config.model_type`):
- `llava_onevision`: UnifiedReward-7b family (after `harness convert-llava`), LLaVA-Critic, LLaVA-OV.
- `qwen2_vl`, `qwen2_5_vl`, `qwen3_vl`: UnifiedReward-qwen, -2.0, through `AutoModelForImageTextToText`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import hub
from harness.errors import UsageError

try:
    import torch
    import transformers
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("the hf adapter needs the `hf` extra: pip install \"torch==2.13.0\" -e \".[hf]\"",
                      name=exc.name) from exc


def _image_only(base: type) -> type:
    """A subclass of a multimodal processor that has no video processor attribute."""

    class ImageOnly(base):  # type: ignore[misc, valid-type]
        @classmethod
        def get_attributes(cls) -> list[str]:
            return ["image_processor", "tokenizer"]

    ImageOnly.__name__ = ImageOnly.__qualname__ = f"ImageOnly{base.__name__}"
    ImageOnly.__module__ = __name__
    return ImageOnly


ImageOnlyLlavaOnevisionProcessor = _image_only(transformers.LlavaOnevisionProcessor)
ImageOnlyQwen2VLProcessor = _image_only(transformers.Qwen2VLProcessor)
ImageOnlyQwen2_5_VLProcessor = _image_only(transformers.Qwen2_5_VLProcessor)
ImageOnlyQwen3VLProcessor = _image_only(transformers.Qwen3VLProcessor)

PROCESSORS = {
    "llava_onevision": ImageOnlyLlavaOnevisionProcessor,
    "qwen2_vl": ImageOnlyQwen2VLProcessor,
    "qwen2_5_vl": ImageOnlyQwen2_5_VLProcessor,
    "qwen3_vl": ImageOnlyQwen3VLProcessor,
}

DTYPES = {"auto": "auto", "float32": torch.float32, "fp32": torch.float32, "float16": torch.float16,
          "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


@dataclass
class LoadedVLM:
    model: Any
    processor: Any
    model_type: str
    revision: str | None  # hub commit, or a fingerprint of local weights


def require_device(owner: str, device: str | None) -> None:
    """A CUDA device asked for where torch sees none: one line before any weights load."""
    if (device or "").startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"{owner}: device={device}, but torch {torch.__version__} sees no CUDA device (a CPU build "
                         f"or no GPU here); use device=cpu or run where a GPU is available")


def processor_identity(processor: Any) -> dict[str, Any]:
    """Image processor class, backend and a hash of its configuration (part of the judge's identity)."""
    import hashlib

    image_processor = processor.image_processor
    name = type(image_processor).__name__
    bases = [c.__name__ for c in type(image_processor).__mro__]
    backend = "pil" if "PilBackend" in bases else "torchvision" if "TorchvisionBackend" in bases else "other"
    config = json.dumps(image_processor.to_dict(), sort_keys=True, default=str)
    return {"image_processor": name, "image_backend": backend,
            "image_processor_sha256": hashlib.sha256(config.encode()).hexdigest()[:16]}


def checkpoint_fingerprint(path: Path) -> str | None:
    """Cheap identity of local weights: names, sizes and mtimes of the weight files (for the cache key)."""
    import hashlib

    files = sorted(p for p in path.glob("*") if p.suffix in (".safetensors", ".bin") and p.is_file())
    if not files:
        return None
    h = hashlib.sha256()
    for p in files:
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return "local:" + h.hexdigest()[:16]


def read_model_type(pretrained: str, revision: str | None, trust_remote_code: bool) -> str:
    path = Path(pretrained)
    if path.exists():
        config_file = path / "config.json"
        if not config_file.is_file():
            raise UsageError(f"pretrained={pretrained}: no config.json there; not a transformers checkpoint")
        try:
            return str(json.loads(config_file.read_text())["model_type"])
        except (ValueError, KeyError):
            raise UsageError(f"pretrained={pretrained}: config.json has no model_type") from None
    if pretrained.startswith((".", "/", "~")) or pretrained.count("/") > 1:
        raise UsageError(f"pretrained={pretrained}: no such directory")
    hub.require(f"pretrained={pretrained} is not a local directory and the hub is unreachable; cannot read its config")
    try:
        config = transformers.AutoConfig.from_pretrained(pretrained, revision=revision,
                                                         trust_remote_code=trust_remote_code)
    except Exception as exc:
        raise UsageError(f"pretrained={pretrained}: cannot read its config from the hub ({exc})") from None
    return str(config.model_type)


def load_vlm(pretrained: str, *, revision: str | None = None, device: str | None = None,
             dtype: str = "auto", device_map: str | None = None, trust_remote_code: bool = False) -> LoadedVLM:
    model_type = read_model_type(pretrained, revision, trust_remote_code)
    if model_type == "llava_qwen" or model_type == "llava":
        raise UsageError(f"pretrained={pretrained} is in the original LLaVA-NeXT format ({model_type}); convert it "
                         f"first: python -m harness convert-llava {pretrained} <output dir>")
    if model_type not in PROCESSORS:
        raise UsageError(f"pretrained={pretrained} is a {model_type!r} checkpoint, not a supported vision-language "
                         f"judge; supported model types: {', '.join(sorted(PROCESSORS))}")
    if dtype not in DTYPES:
        raise UsageError(f"dtype={dtype!r}; valid: {', '.join(DTYPES)}")
    kwargs: dict[str, Any] = {"revision": revision, "trust_remote_code": trust_remote_code, "dtype": DTYPES[dtype]}
    if device_map:
        kwargs["device_map"] = device_map
    if model_type == "llava_onevision":
        model = transformers.LlavaOnevisionForConditionalGeneration.from_pretrained(pretrained, **kwargs)
    else:
        model = transformers.AutoModelForImageTextToText.from_pretrained(pretrained, **kwargs)
    if not device_map:
        model = model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model.eval()
    processor = PROCESSORS[model_type].from_pretrained(pretrained, revision=revision,
                                                       trust_remote_code=trust_remote_code)
    processor.tokenizer.padding_side = "left"  # batched generation appends after the prompt
    local = Path(pretrained)
    resolved = getattr(model.config, "_commit_hash", None) or revision
    if local.exists():
        resolved = checkpoint_fingerprint(local)
    return LoadedVLM(model, processor, model_type, resolved)
