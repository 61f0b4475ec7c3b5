"""Local transformers VLM judges (extra `hf`): batched generation with left padding.

    --model hf --model-args pretrained=DIR_OR_HUB_ID[,batch_size=8][,device=cuda:0][,dtype=bfloat16]
                            [,device_map=auto][,revision=SHA][,max_new_tokens=N][,trust_remote_code=true]
                            [,family=NAME[/MODE]][,temperature=T]

- The judge family (`reward.families`: UnifiedReward 1.0 `llava`, `qwen`, `unifiedreward-2.0`, `-think`, ...)
  comes from the checkpoint's name (a hub id or any path component, e.g. CodeGoat24/UnifiedReward-2.0-qwen-7b),
  else from its config (`converted_from`), else from its architecture; `family=` overrides. results.json records
  it (`model.family`, `model.family_source`); the tasks' family protocols and templates follow it.
- Greedy unless the protocol asks for sampling or `temperature=` is given (`--samples K`: the K samples are
  seeded 0..K-1, one `torch.manual_seed` per batch); the checkpoint's own chat template renders the prompt
  (images and text in the prompt's order).
- Requests are grouped into batches of `batch_size` with identical generation settings. A batch that
  fails (CUDA out of memory, or any error raised by one bad input) is split in halves and retried,
  down to single requests, before a request is given up as that sample's error.
- Under `accelerate launch` (or torchrun) each process takes its own share of the samples and puts
  its model on its local GPU; the runner merges the shares into one run directory.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Iterator, Sequence

from harness.adapters import check_family
from harness.chat import ChatJudge, check_temperature, prepared_from_chat
from harness.records import Generation, PreparedRequest, Reply
from harness.registry import model

from .families import detect, family_from_name
from .hf_inputs import EncodedPrompt, builder_for
from .hf_loading import load_vlm, processor_identity, require_device

LOOKAHEAD = 4  # batches buffered and sorted by prompt length before generation


@model("hf")
class HFAdapter(ChatJudge):
    """Local transformers VLM (LLaVA-OneVision, Qwen2/2.5/3-VL): pretrained=PATH_OR_ID, batch_size=N."""

    def __init__(self, pretrained: str, batch_size: int = 8, device: str | None = None, dtype: str = "auto",
                 device_map: str | None = None, revision: str | None = None, max_new_tokens: int | None = None,
                 trust_remote_code: bool = False, family: str | None = None, temperature: float | None = None):
        self.temperature = check_temperature("hf", temperature)
        chosen = check_family("hf", family)
        if chosen is None and family_from_name(pretrained) is not None:  # a named family must fit the architecture:
            from .hf_loading import read_model_type  # checked before any weights load

            detect(pretrained, read_model_type(pretrained, revision, trust_remote_code))
        import torch

        self.torch = torch
        require_device("hf", device)
        if device is None and not device_map and torch.cuda.is_available() and "LOCAL_RANK" in os.environ:
            device = f"cuda:{int(os.environ['LOCAL_RANK'])}"  # one model per process under accelerate/torchrun
        self.loaded = load_vlm(pretrained, revision=revision, device=device, dtype=dtype, device_map=device_map,
                               trust_remote_code=trust_remote_code)
        self.model = self.loaded.model
        self.processor = self.loaded.processor
        self.inputs = builder_for(self.loaded.model_type, self.processor, self.model.config)
        self.detection = detect(pretrained, self.loaded.model_type,
                                {"converted_from": getattr(self.model.config, "converted_from", None)}, chosen)
        self.batch_size = max(1, batch_size)
        self.max_new_tokens = max_new_tokens
        self.batches_split = 0  # how often a failed batch was split (reported by tests and benchmarks)

    @classmethod
    def from_model(cls, model: Any, processor: Any, name: str, batch_size: int = 8,
                   max_new_tokens: int | None = None, family: str | None = None) -> "HFAdapter":
        """An adapter around a model already in memory (benchmarks, notebooks); `name` stands for its
        identity in the cache key, so give each different model its own name. The judge family is detected from
        `name` and the model's architecture unless `family` is given."""
        from .hf_loading import LoadedVLM

        import torch

        self = cls.__new__(cls)  # no constructor runs, so the arguments standing for it are recorded here
        self.args = {"pretrained": name, "batch_size": batch_size, "max_new_tokens": max_new_tokens}
        processor.tokenizer.padding_side = "left"
        self.torch = torch
        self.loaded = LoadedVLM(model.eval(), processor, model.config.model_type, f"in-memory:{name}")
        self.model, self.processor = model, processor
        self.inputs = builder_for(model.config.model_type, processor, model.config)
        self.detection = detect(name, model.config.model_type, family=check_family("hf", family))
        self.batch_size, self.max_new_tokens, self.batches_split = max(1, batch_size), max_new_tokens, 0
        return self

    def identity(self) -> dict[str, Any]:
        """The checkpoint, and how its pixels are made: the image processor's class, backend (PIL or
        torchvision, which transformers 5 picks by what is installed) and a hash of its configuration,
        so a run with another backend or processor config never reuses these judgments."""
        return {"model": self.args["pretrained"], "revision": self.loaded.revision,
                "model_type": self.loaded.model_type, "dtype": str(self.model.dtype),
                **processor_identity(self.processor)}

    def family(self) -> str | None:
        """The judge family (`reward.families`): `family=`, else the checkpoint's name or config, else its
        architecture's script family ("llava" / "qwen")."""
        return self.detection.family

    def describe(self) -> dict[str, Any]:
        """results.json `model`: the adapter's arguments and identity, and the judge family with what decided it."""
        return {**super().describe(), **self.detection.record()}

    def generate(self, requests: Iterable[PreparedRequest]) -> Iterator[Reply]:
        """Batches of similar prompt length: a window of `LOOKAHEAD` batches is sorted by length before
        it is cut, so left padding (and its masked attention) stays small."""
        window: list[PreparedRequest] = []
        for prepared in requests:
            window.append(prepared)
            if len(window) >= self.batch_size * LOOKAHEAD:
                yield from self._flush(window)
                window = []
        yield from self._flush(window)

    def _flush(self, window: list[PreparedRequest]) -> Iterator[Reply]:
        groups: dict[Generation, list[PreparedRequest]] = {}
        for prepared in window:  # one generate() call needs one set of generation settings
            groups.setdefault(self.generation_for(prepared.request.generation), []).append(prepared)
        for group in groups.values():
            group.sort(key=lambda p: (len(p.request.text), len(p.media)))
            for i in range(0, len(group), self.batch_size):
                yield from self._run(group[i:i + self.batch_size])

    def _run(self, batch: Sequence[PreparedRequest]) -> list[Reply]:
        """Generate for `batch`; on failure split it and retry the halves, down to one request."""
        try:
            return self.generate_batch(batch)
        except Exception as exc:  # noqa: BLE001 - any failure is isolated by splitting
            if _is_oom(exc) and self.torch.cuda.is_available():
                self.torch.cuda.empty_cache()
            if len(batch) == 1:
                return [Reply(batch[0].key, error=f"generation failed: {type(exc).__name__}: {exc}"[:500])]
            self.batches_split += 1
            middle = len(batch) // 2
            return self._run(batch[:middle]) + self._run(batch[middle:])

    def encode(self, prepared: PreparedRequest) -> EncodedPrompt:
        """The model inputs of one request (token ids, placeholder counts, pixel shapes): what `harness
        inspect` shows and what `generate_batch` feeds the model."""
        return self.inputs.encode(prepared)

    def inspect(self, prepared: PreparedRequest) -> dict[str, Any]:
        """The rendered chat prompt, token counts, each medium's route, sizes and placeholder tokens, and the
        token ids around every placeholder run (no vision tower or generation is run)."""
        encoded = self.inputs.encode(prepared)
        return {**encoded.summary(), "placeholders": encoded.placeholder_runs(self.inputs.placeholder_ids())}

    def generate_batch(self, batch: Sequence[PreparedRequest]) -> list[Reply]:
        torch = self.torch
        import time

        start = time.perf_counter()
        encoded = [self.inputs.encode(p) for p in batch]
        with torch.inference_mode():
            inputs = self.inputs.collate(encoded, self.model)
        gen = self.generation_for(batch[0].request.generation)
        options: dict[str, Any] = {"max_new_tokens": gen.max_new_tokens, "do_sample": gen.temperature > 0,
                                   "pad_token_id": self.processor.tokenizer.pad_token_id}
        if gen.temperature > 0:
            options["temperature"] = gen.temperature
            if gen.top_p is not None:
                options["top_p"] = gen.top_p
            if gen.seed is not None:
                torch.manual_seed(gen.seed)
        else:  # greedy: unset the checkpoint's sampling defaults so transformers does not warn or sample
            options.update(temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            output = self.model.generate(**inputs, **options)
        prompt_len = inputs["input_ids"].shape[1]
        new_tokens = output[:, prompt_len:]
        decoded = self.processor.batch_decode(new_tokens, skip_special_tokens=True)
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) | {self.processor.tokenizer.pad_token_id}
        elapsed = (time.perf_counter() - start) / len(batch)
        replies = []
        for i, prepared in enumerate(batch):
            completion = sum(1 for t in new_tokens[i].tolist() if t not in eos_ids)
            seen = encoded[i].summary()
            replies.append(Reply(prepared.key, text=decoded[i], latency_s=elapsed,
                                 usage={"prompt_tokens": seen["prompt_tokens"], "completion_tokens": completion,
                                        "media_tokens": seen["media_tokens"], "images_sent": seen["images_sent"],
                                        "frames_sent": seen["frames_sent"]}))
        return replies

    def close(self) -> None:
        self.model = None
        if self.torch.cuda.is_available():
            self.torch.cuda.empty_cache()


def _is_oom(exc: BaseException) -> bool:
    return "out of memory" in str(exc).lower() or type(exc).__name__ == "OutOfMemoryError"


def openai_responder(adapter: HFAdapter) -> Callable[[dict], str]:
    """Answer an OpenAI chat-completions request body with a local model, so the test server
    (`python -m reward.testing.serve --hf-model DIR`) can stand in for a vLLM/SGLang judge with real
    generation behind it. Text parts and base64 image parts of every message, in order, become one
    user turn; `max_tokens` and `temperature` are honoured (`harness.chat.prepared_from_chat`)."""

    def respond(body: dict) -> str:
        reply = adapter.generate_batch([prepared_from_chat(body)])[0]
        return reply.text or ""

    return respond
