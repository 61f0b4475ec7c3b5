"""diffusers text-to-image and text-to-video pipelines as policies for preference construction (paper Sec. 3.3,
step 1: N candidates per prompt).

- `diffusers-image` (SD, SDXL, SDXL-Turbo; `AutoPipelineForText2Image`, falling back to `DiffusionPipeline`):
  candidates are PNG files in the `MediaStore`. Defaults are the released construction script's for SDXL-Turbo
  (`DiffusionDPO/data_generation.py`): 1 step, guidance 0; evaluation uses 4 steps (`steps=4`).
- `diffusers-video` (`TextToVideoSDPipeline`-style UNet3D pipelines through `DiffusionPipeline`, or AnimateDiff
  with `motion_adapter=...`): candidates are H.264 MP4 files written with PyAV (MPEG-4 Part 2 where the FFmpeg
  build lacks libx264).

Seeds: candidate j of an item is generated with `torch.Generator(device).manual_seed(seed + j)`, as the released
script. A generator on another device (CPU vs CUDA) draws other noise, so the generator's device is part of
`identity()`. Candidates are generated `batch_size` at a time (default 1, as the released script); batched
generation gives each image its own generator but may differ numerically in the last bits.

Failures: an item whose generation raises gets an empty candidate list (all or nothing: a half-generated item
is dropped), and `self.errors[item.id]` holds "<ExceptionType>: message"; the other items go on. `errors` is
reset at the start of every `candidates` call, so it describes the last call.

The pipeline is loaded on the first `candidates` call, so `identity()` and `--policy-args` checking are cheap.
"""

from __future__ import annotations

import io
from typing import Any, Sequence

import numpy as np

from .diffusion_models import dtype_kwarg
from .policies import Candidate, MediaStore, Policy, PolicyInput, policy

DTYPES = ("auto", "float16", "bfloat16", "float32")


def _resolve_device(device: str | None) -> str:
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _resolve_dtype(dtype: str, device: str):
    import torch

    if dtype not in DTYPES:
        from harness.errors import UsageError

        raise UsageError(f"dtype {dtype!r}; valid: {', '.join(DTYPES)}")
    if dtype == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    return getattr(torch, dtype)


def png_bytes(image) -> bytes:
    """A PIL image as PNG bytes (lossless; Pillow writes no timestamps, so equal pixels give equal bytes)."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "PNG")
    return buf.getvalue()


def to_uint8_frames(frames: Any) -> np.ndarray:
    """One video as (F, H, W, 3) uint8 from a pipeline's output: floats in [0, 1] (output_type "np") or PIL images."""
    if isinstance(frames, (list, tuple)) and frames and hasattr(frames[0], "convert"):
        return np.stack([np.asarray(f.convert("RGB")) for f in frames])
    array = np.asarray(frames)
    if array.dtype != np.uint8:
        array = np.clip(np.rint(array.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"expected frames shaped (F, H, W, 3), got {array.shape}")
    return array


def encode_mp4(frames: np.ndarray, fps: int = 8) -> bytes:
    """(F, H, W, 3) uint8 frames as MP4 bytes: H.264 (libx264, crf 18, yuv420p) or MPEG-4 Part 2 without
    libx264. Both encoders are deterministic, so the same frames give the same file. H and W must be even."""
    import av

    f, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"video frames must have an even height and width for yuv420p, got {w}x{h}")
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "18"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


class _DiffusersPolicy(Policy):
    """Shared loading, seeding and per-item error handling; subclasses render a batch and store it."""

    def __init__(self, model: str, revision: str | None = None, variant: str | None = None, steps: int = 1,
                 guidance_scale: float = 0.0, height: int = 512, width: int = 512, device: str | None = None,
                 dtype: str = "auto", batch_size: int = 1, **args: Any):
        super().__init__(model=model, revision=revision, variant=variant, steps=steps, guidance_scale=guidance_scale,
                         height=height, width=width, device=device, dtype=dtype, batch_size=batch_size, **args)
        from harness.errors import UsageError

        if steps < 1 or batch_size < 1 or height < 8 or width < 8:
            raise UsageError(f"policy {self.name!r}: steps and batch_size must be >= 1, height and width >= 8")
        self.model, self.revision, self.variant = model, revision, variant
        self.steps, self.guidance_scale = steps, guidance_scale
        self.height, self.width, self.batch_size = height, width, batch_size
        self.device = _resolve_device(device)
        self.dtype_name = dtype
        self.torch_dtype = _resolve_dtype(dtype, self.device)
        self.errors: dict[str, str] = {}
        self._pipe = None

    def identity(self) -> dict[str, Any]:
        return {"policy": self.name, "model": self.model, "revision": self.revision, "variant": self.variant,
                "steps": self.steps, "guidance_scale": self.guidance_scale, "height": self.height,
                "width": self.width, "dtype": str(self.torch_dtype).removeprefix("torch."),
                "generator_device": self.device, "batch_size": self.batch_size, **self._extra_identity()}

    def _extra_identity(self) -> dict[str, Any]:
        return {}

    @property
    def pipeline(self):
        if self._pipe is None:
            self._pipe = self._load().to(self.device)
            self._pipe.set_progress_bar_config(disable=True)
        return self._pipe

    def _load(self):
        raise NotImplementedError

    def _render(self, prompt: str, generators: list) -> list[tuple[bytes, str]]:
        """(file bytes, extension) for each generator, in order."""
        raise NotImplementedError

    def candidates(self, items: Sequence[PolicyInput], n: int, seed: int, store: MediaStore
                   ) -> list[list[Candidate]]:
        import torch

        if n < 1:
            raise ValueError("n must be >= 1")
        self.errors = {}
        pipe = self.pipeline  # a model that cannot load is the run's failure, not an item's
        del pipe
        results: list[list[Candidate]] = []
        for item in items:
            try:
                made: list[Candidate] = []
                for start in range(0, n, self.batch_size):
                    js = list(range(start, min(n, start + self.batch_size)))
                    generators = [torch.Generator(self.device).manual_seed(seed + j) for j in js]
                    for j, (data, ext) in zip(js, self._render(item.prompt, generators)):
                        made.append(Candidate(index=j, media=str(store.put(data, ext)), seed=seed + j))
                results.append(made)
            except Exception as exc:  # one prompt's failure must not stop the others
                self.errors[item.id] = f"{type(exc).__name__}: {exc}"
                results.append([])
        return results

    def close(self) -> None:
        self._pipe = None


@policy("diffusers-image")
class DiffusersImagePolicy(_DiffusersPolicy):
    """Text-to-image diffusers pipeline. Args: model (dir or hub id), revision, variant, steps (1), guidance_scale
    (0), height/width (512), device (cuda if available), dtype (auto: fp16 on CUDA, fp32 on CPU), batch_size (1)."""

    kind = "image"

    def _load(self):
        import diffusers

        kwargs = {"revision": self.revision, "variant": self.variant, **dtype_kwarg(self.torch_dtype)}
        try:
            return diffusers.AutoPipelineForText2Image.from_pretrained(self.model, **kwargs)
        except ValueError:  # a pipeline class AutoPipeline does not map: load what model_index.json names
            return diffusers.DiffusionPipeline.from_pretrained(self.model, **kwargs)

    def _render(self, prompt: str, generators: list) -> list[tuple[bytes, str]]:
        out = self.pipeline(prompt=[prompt] * len(generators), num_inference_steps=self.steps,
                            guidance_scale=self.guidance_scale, height=self.height, width=self.width,
                            generator=generators)
        if len(out.images) != len(generators):
            raise RuntimeError(f"the pipeline returned {len(out.images)} images for {len(generators)} seeds")
        return [(png_bytes(image), "png") for image in out.images]


@policy("diffusers-video")
class DiffusersVideoPolicy(_DiffusersPolicy):
    """Text-to-video diffusers pipeline written as MP4. Args as `diffusers-image` plus num_frames (16), fps (8)
    and motion_adapter (an AnimateDiff MotionAdapter; then `model` is the SD base). Defaults: 25 steps, guidance
    9.0, 256x256 (ModelScope text-to-video's own)."""

    kind = "video"

    def __init__(self, model: str, revision: str | None = None, variant: str | None = None, steps: int = 25,
                 guidance_scale: float = 9.0, height: int = 256, width: int = 256, device: str | None = None,
                 dtype: str = "auto", batch_size: int = 1, num_frames: int = 16, fps: int = 8,
                 motion_adapter: str | None = None):
        super().__init__(model=model, revision=revision, variant=variant, steps=steps, guidance_scale=guidance_scale,
                         height=height, width=width, device=device, dtype=dtype, batch_size=batch_size,
                         num_frames=num_frames, fps=fps, motion_adapter=motion_adapter)
        from harness.errors import UsageError

        if num_frames < 1 or fps < 1 or height % 2 or width % 2:
            raise UsageError("policy 'diffusers-video': num_frames and fps must be >= 1, height and width even")
        self.num_frames, self.fps, self.motion_adapter = num_frames, fps, motion_adapter

    def _extra_identity(self) -> dict[str, Any]:
        return {"num_frames": self.num_frames, "fps": self.fps, "motion_adapter": self.motion_adapter}

    def _load(self):
        import diffusers

        kwargs = {"revision": self.revision, "variant": self.variant, **dtype_kwarg(self.torch_dtype)}
        if self.motion_adapter:
            adapter = diffusers.MotionAdapter.from_pretrained(self.motion_adapter, **dtype_kwarg(self.torch_dtype))
            return diffusers.AnimateDiffPipeline.from_pretrained(self.model, motion_adapter=adapter, **kwargs)
        return diffusers.DiffusionPipeline.from_pretrained(self.model, **kwargs)

    def _render(self, prompt: str, generators: list) -> list[tuple[bytes, str]]:
        out = self.pipeline(prompt=[prompt] * len(generators), num_inference_steps=self.steps,
                            guidance_scale=self.guidance_scale, height=self.height, width=self.width,
                            num_frames=self.num_frames, generator=generators, output_type="np")
        videos = out.frames
        if len(videos) != len(generators):
            raise RuntimeError(f"the pipeline returned {len(videos)} videos for {len(generators)} seeds")
        return [(encode_mp4(to_uint8_frames(video), self.fps), "mp4") for video in videos]
