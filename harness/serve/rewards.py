"""Ready reward functions for RL frameworks, calling the reward service (`harness serve`) through its client.

Each returns the rewards and the success mask, and passes the caller's `on_failure` to the service, which
never turns a failed item into 0, 0.5 or a batch mean (harness/serve/plan.py):

- `trl_reward(url, ...)`: a TRL `GRPOTrainer` `reward_funcs` entry. TRL calls it as
  `f(prompts=..., completions=..., completion_ids=..., **dataset_columns, trainer_state=..., log_extra=...,
  log_metric=...)` and reads one float or None per completion; TRL turns None into NaN, and a completion all of
  whose reward functions gave NaN is unscorable: left out of its group's mean and given advantage 0
  (trl/trainer/grpo_trainer.py, `_calculate_rewards` and `_generate_and_score_completions`, TRL 1.16). So the
  default `report` makes a failed judgment drop out of training instead of counting as a bad completion. The mask
  goes to TRL's completions table (`log_extra`, column `<name>_ok`), the failed share to its metrics
  (`log_metric`, `<name>/failed_frac`), and `.last` / `.mask()` hold the latest batch.
- `flow_grpo_reward(url, ...)`: a Flow-GRPO-style `score(images, prompts, metadata) -> (rewards, info)`
  (flow_grpo/rewards.py: images an NCHW float tensor in [0, 1], an NHWC uint8 array or PIL images; a 5-D
  tensor is a batch of videos). Rewards are a float32 array with NaN where an item failed (under `report` /
  `skip`); `info["mask"]` says which, `info["reasons"]` why. Flow-GRPO's own client maps a parse failure to 0.0.
- `verl_reward(url, ...)`: verl's custom reward function, `compute_score(data_source, solution_str,
  ground_truth, extra_info)` for the naive reward manager, and `.batch(data_sources, solution_strs, ground_truths,
  extra_infos)` for `reward_model.reward_manager=batch` (one request per batch instead of one per response). It
  answers verl's dict form, `{"score": ..., "reward_ok": ..., "reward_reason": ...}`, whose extra keys verl
  collects into `reward_extra_info` (verl/workers/reward_manager/naive.py and batch.py).
- `openrlhf_reward(url, ...)`: OpenRLHF's `reward_func(queries, prompts, labels)` (a file given to
  `--remote_rm_url`), answering `{"rewards", "scores", "extra_logs"}`; and `openrlhf_app` /
  `python -m harness.serve.rewards openrlhf`, the HTTP form: `POST {"query": [...], "prompts": [...],
  "labels": [...]}` -> `{"rewards": [...], "ok": [...], "reasons": [...]}` (openrlhf/utils/remote_rm_utils.py).
  verl and OpenRLHF put every reward in a tensor, so they need a number for every response: `on_failure` must
  be `error` (the step fails, naming the items) or `value:X` (X, with `reward_ok` false); `report` and `skip`
  are refused when the function is made.

What is judged: the service scores a generation against its caption (pointwise) or two generations against one
caption (pairwise, group). An image policy gives the images; a text policy gives either images rendered from its
completions (`render=`: completion text -> image, or a list of frames for a video) judged against the prompt, or
captions (its completions) judged against a dataset image (`image_column=` / `image_key=` / the labels).
`to_item=` replaces either rule. `kind="group"` scores each prompt's completions together (`mode="pairwise"`: win
rates over all pairs, in one or both `orders`; `"pointwise"`: scores).

Images given as arrays or PIL images are encoded several at a time (`encode_media`), as lossless PNG or, with
`image_format="jpeg"`, as JPEG q95 (the authors' own client's choice: ~20x faster to encode, ~6x smaller, lossy).
The client is made on first use (not when the function is made), so a function can be pickled or built before
the service is up; pass `client=` to share one.
"""

from __future__ import annotations

import math
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from ..errors import UsageError
from .client import IMAGE_FORMATS, RewardClient, RewardResult, encode_media

Kind = str  # "pointwise" | "group"
ItemBuilder = Callable[..., tuple[str, Any]]
#: Batches a TRL reward function keeps (`.batches`), so a long run's memory stays bounded.
BATCH_HISTORY = 1000
#: Groups scored at once by `kind="group"` (each group is one request; the service batches their calls).
GROUP_CONCURRENCY = 8


@dataclass(frozen=True)
class RewardBatch:
    """One call's answers, in input order: the reward (None where the item failed and the policy gave no value),
    whether the item was judged and read (`mask`), and why not (`reasons`)."""

    rewards: list[float | None]
    mask: list[bool]
    reasons: list[str | None]

    @property
    def n_failed(self) -> int:
        return sum(1 for ok in self.mask if not ok)

    def as_array(self) -> Any:
        """The rewards as a float32 numpy array, NaN where None."""
        import numpy as np

        return np.array([math.nan if r is None else r for r in self.rewards], dtype=np.float32)


def check_policy(on_failure: str, who: str, numeric: bool = False) -> str:
    """`on_failure` checked the way the service reads it; `numeric`: the framework needs a number for every item."""
    from .schema import BadRequest, parse_failure_policy

    try:
        policy = parse_failure_policy(on_failure)
    except BadRequest as exc:
        raise UsageError(f"{who}: on_failure={on_failure!r}: {exc.message}") from None
    if numeric and policy.mode in ("report", "skip"):
        raise UsageError(f"{who}: on_failure={on_failure!r} leaves a failed item without a reward, and this framework "
                         f"puts every reward in a tensor; use 'error' (stop and name the failed items) or "
                         f"'value:X' (X, flagged in the mask)")
    return on_failure


class RewardCaller:
    """What every framework function shares: the client (made lazily), the kind of request and its policy."""

    def __init__(self, url: str, *, kind: Kind = "pointwise", mode: str = "pairwise", orders: str = "one",
                 on_failure: str = "report", timeout: float = 600.0, max_retries: int = 10,
                 client: RewardClient | None = None, image_format: str = "png", who: str = "reward"):
        if kind not in ("pointwise", "group"):
            raise UsageError(f"{who}: kind={kind!r}: 'pointwise' or 'group'")
        if mode not in ("pairwise", "pointwise") or orders not in ("one", "both"):
            raise UsageError(f"{who}: mode must be 'pairwise' or 'pointwise' and orders 'one' or 'both'")
        if image_format not in IMAGE_FORMATS:
            raise UsageError(f"{who}: image_format={image_format!r}: one of {', '.join(IMAGE_FORMATS)}")
        self.image_format = image_format
        self.url = url
        self.kind = kind
        self.mode = mode
        self.orders = orders
        self.on_failure = on_failure
        self.timeout = timeout
        self.max_retries = max_retries
        self._client = client

    @property
    def client(self) -> RewardClient:
        if self._client is None:
            self._client = RewardClient(self.url, timeout=self.timeout, max_retries=self.max_retries)
        return self._client

    def __getstate__(self) -> dict[str, Any]:
        # A client holds a loop thread; a copy (pickled to a worker process) makes its own.
        return {**self.__dict__, "_client": None}

    def score(self, captions: Sequence[str], media: Sequence[Any]) -> RewardBatch:
        """One reward per (caption, medium), in order."""
        if len(captions) != len(media):
            raise ValueError(f"{len(captions)} captions but {len(media)} media")
        if not captions:
            return RewardBatch([], [], [])
        media = encode_media(media, self.image_format)
        if self.kind == "pointwise":
            return _batch_of(self.client.pointwise(list(zip(captions, media)), on_failure=self.on_failure))
        return self._groups(captions, media)

    def _groups(self, captions: Sequence[str], media: Sequence[Any]) -> RewardBatch:
        """Completions of one prompt scored together, each group one request, several groups at a time."""
        groups: dict[str, list[int]] = {}
        for i, caption in enumerate(captions):
            groups.setdefault(caption, []).append(i)
        rewards: list[float | None] = [None] * len(captions)
        mask = [False] * len(captions)
        reasons: list[str | None] = [None] * len(captions)
        client = self.client  # made here, once, not by the first of the threads below

        def one(caption: str, indices: list[int]) -> None:
            if self.mode == "pairwise" and len(indices) < 2:
                for i in indices:
                    reasons[i] = "a pairwise group needs at least two completions of the same prompt"
                return
            result = client.group(caption, [media[i] for i in indices], mode=self.mode, orders=self.orders,
                                  on_failure=self.on_failure)
            why = _candidate_reasons(result, len(indices))
            for k, i in enumerate(indices):
                rewards[i], mask[i], reasons[i] = result.rewards()[k], result.mask()[k], why[k]

        with ThreadPoolExecutor(min(GROUP_CONCURRENCY, len(groups))) as pool:
            for future in [pool.submit(one, c, idx) for c, idx in groups.items()]:
                future.result()  # re-raises a refused request (ItemsFailed under `error`, a 400)
        return RewardBatch(rewards, mask, reasons)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _batch_of(result: RewardResult) -> RewardBatch:
    return RewardBatch(result.rewards(), result.mask(), [item.reason for item in result.items])


def _candidate_reasons(result: Any, n: int) -> list[str | None]:
    """Why each candidate of a group has no complete reward: its own item's reason (pointwise), or the reasons of
    its failed pairs (pairwise items name their candidates `a` and `b`)."""
    reasons: list[list[str]] = [[] for _ in range(n)]
    for item in result.items:
        if item.ok:
            continue
        why = item.reason or item.failure or "failed"
        if item.a is None:
            reasons[item.index].append(why)
        else:
            for owner in (item.a, item.b):
                reasons[owner].append(f"pair ({item.a}, {item.b}): {why}")
    return ["; ".join(r) if r else None for r in reasons]


# ---- TRL ------------------------------------------------------------------------------------------------------

def message_text(value: Any) -> str:
    """The text of a TRL prompt or completion: a string (standard format), or the last message's text
    (conversational: a list of `{"role", "content"}`, the content a string or a list of typed parts)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence) and value and isinstance(value[-1], Mapping):
        content = value[-1].get("content", "")
        if isinstance(content, str):
            return content
        return "".join(part.get("text", "") for part in content if isinstance(part, Mapping)
                       and part.get("type") == "text")
    raise TypeError(f"a prompt or completion must be a string or a list of messages, not {type(value).__name__}")


class TRLReward:
    """A TRL `reward_funcs` entry (see the module docstring). Its `__name__` names it in TRL's logs
    (`rewards/<name>/mean`)."""

    def __init__(self, caller: RewardCaller, *, render: Callable[[str], Any] | None, image_column: str | None,
                 to_item: ItemBuilder | None, name: str):
        if sum(x is not None for x in (render, image_column, to_item)) != 1:
            raise UsageError("trl_reward: give exactly one of render= (completion -> image), image_column= (the "
                             "dataset column of the image each completion describes) or to_item=")
        if caller.kind == "group" and image_column is not None:
            raise UsageError("trl_reward: kind='group' compares a prompt's completions as media (render=); with "
                             "image_column= every completion is a caption of its own row's image: use 'pointwise'")
        self.caller = caller
        self.render = render
        self.image_column = image_column
        self.to_item = to_item
        self.__name__ = name
        self.last: RewardBatch | None = None
        self.batches: deque[RewardBatch] = deque(maxlen=BATCH_HISTORY)

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        captions, media = [], []
        for i, (prompt, completion) in enumerate(zip(prompts, completions)):
            caption, medium = self._item(i, message_text(prompt), message_text(completion), kwargs)
            captions.append(caption)
            media.append(medium)
        batch = self.caller.score(captions, media)
        self.last = batch
        self.batches.append(batch)
        if callable(kwargs.get("log_extra")):
            kwargs["log_extra"](f"{self.__name__}_ok", list(batch.mask))
        if callable(kwargs.get("log_metric")):
            kwargs["log_metric"](f"{self.__name__}/failed_frac", batch.n_failed / max(1, len(batch.mask)))
        return list(batch.rewards)

    def _item(self, i: int, prompt: str, completion: str, columns: Mapping[str, Any]) -> tuple[str, Any]:
        if self.to_item is not None:
            row = {k: v[i] for k, v in columns.items() if isinstance(v, list) and len(v) > i}
            return self.to_item(prompt, completion, row)
        if self.render is not None:
            return prompt, self.render(completion)
        if self.image_column is None or self.image_column not in columns:
            raise UsageError(f"trl_reward: the dataset has no column {self.image_column!r} (image_column=); TRL "
                             f"passed: {', '.join(sorted(k for k in columns if isinstance(columns[k], list)))}")
        image = columns[self.image_column][i]
        if isinstance(image, list):  # TRL's `images` column: one list per row
            if len(image) != 1:
                raise UsageError(f"trl_reward: row {i} of {self.image_column!r} holds {len(image)} images; the "
                                 f"caption is judged against one (pass to_item= to choose)")
            image = image[0]
        return completion, image

    def mask(self) -> list[bool]:
        """The latest batch's success mask (empty before the first call)."""
        return list(self.last.mask) if self.last is not None else []

    def close(self) -> None:
        self.caller.close()


def trl_reward(url: str, kind: Kind = "pointwise", *, render: Callable[[str], Any] | None = None,
               image_column: str | None = None, to_item: ItemBuilder | None = None, on_failure: str = "report",
               mode: str = "pairwise", orders: str = "one", name: str = "unifiedreward", timeout: float = 600.0,
               max_retries: int = 10, client: RewardClient | None = None, image_format: str = "png") -> TRLReward:
    """A TRL `GRPOTrainer` reward function over the service at `url`. `to_item(prompt, completion, row)` ->
    (caption, medium), `row` holding that completion's dataset columns."""
    caller = RewardCaller(url, kind=kind, mode=mode, orders=orders, on_failure=check_policy(on_failure, "trl_reward"),
                          timeout=timeout, max_retries=max_retries, client=client, image_format=image_format,
                          who="trl_reward")
    return TRLReward(caller, render=render, image_column=image_column, to_item=to_item, name=name)


# ---- Flow-GRPO -------------------------------------------------------------------------------------------------

def as_media(images: Any) -> list[Any]:
    """Flow-GRPO's images as the client's media: an NCHW float tensor in [0, 1] (or a B,F,C,H,W video batch) ->
    HWC uint8 arrays (or lists of frames), rounded as Flow-GRPO rounds them; an NHWC uint8 array -> its images;
    a list (PIL images, arrays, bytes, paths, lists of frames) as it is."""
    if hasattr(images, "detach") and hasattr(images, "permute"):  # a torch tensor, without importing torch
        if images.dtype.is_floating_point:
            images = (images * 255).round().clamp(0, 255)
        pixels = images.byte().cpu().numpy()
        if pixels.ndim == 4:
            return list(pixels.transpose(0, 2, 3, 1))
        if pixels.ndim == 5:
            return [list(video) for video in pixels.transpose(0, 1, 3, 4, 2)]
        raise ValueError(f"images: a tensor must be NCHW or B,F,C,H,W, not shape {tuple(pixels.shape)}")
    if hasattr(images, "ndim") and hasattr(images, "dtype"):  # numpy
        if images.ndim == 4:
            return list(images)
        if images.ndim == 5:
            return [list(video) for video in images]
        raise ValueError(f"images: an array must be NHWC or B,F,H,W,C, not shape {images.shape}")
    return list(images)


class FlowGRPOReward:
    """`score(images, prompts, metadata) -> (rewards, info)`, see the module docstring."""

    def __init__(self, caller: RewardCaller):
        self.caller = caller
        self.last: RewardBatch | None = None

    def __call__(self, images: Any, prompts: Sequence[str], metadata: Any = None,
                 **_: Any) -> tuple[Any, dict[str, Any]]:
        import numpy as np

        media = as_media(images)
        batch = self.caller.score([str(p) for p in prompts], media)
        self.last = batch
        info = {"mask": np.array(batch.mask, dtype=bool), "reasons": list(batch.reasons),
                "n_failed": batch.n_failed, "on_failure": self.caller.on_failure}
        return batch.as_array(), info

    def close(self) -> None:
        self.caller.close()


def flow_grpo_reward(url: str, kind: Kind = "pointwise", *, on_failure: str = "report", mode: str = "pairwise",
                     orders: str = "one", timeout: float = 600.0, max_retries: int = 10,
                     client: RewardClient | None = None, image_format: str = "png") -> FlowGRPOReward:
    """A Flow-GRPO reward function (a drop-in for `flow_grpo.rewards.unifiedreward_score_sglang(device)`'s `_fn`);
    `kind="group"` with `mode="pairwise"` gives Pref-GRPO's pairwise win rates within each prompt's images."""
    return FlowGRPOReward(RewardCaller(url, kind=kind, mode=mode, orders=orders,
                                       on_failure=check_policy(on_failure, "flow_grpo_reward"), timeout=timeout,
                                       max_retries=max_retries, client=client, image_format=image_format,
                                       who="flow_grpo_reward"))


# ---- verl -------------------------------------------------------------------------------------------------------

class VerlReward:
    """verl's custom reward function (see the module docstring). By default each response is a caption judged
    against the image in `extra_info[image_key]` (a path, bytes, a PIL image or an array); with `render=` the
    image is rendered from the response and judged against `extra_info[caption_key]`."""

    def __init__(self, caller: RewardCaller, *, image_key: str, caption_key: str,
                 render: Callable[[str], Any] | None, to_item: ItemBuilder | None):
        self.caller = caller
        self.image_key = image_key
        self.caption_key = caption_key
        self.render = render
        self.to_item = to_item

    def _item(self, i: int, solution: str, extra: Mapping[str, Any] | None) -> tuple[str, Any]:
        extra = extra or {}
        if self.to_item is not None:
            return self.to_item(solution, extra)
        key = self.caption_key if self.render is not None else self.image_key
        if key not in extra:
            raise UsageError(f"verl_reward: response {i}: extra_info has no {key!r} (put it in the dataset's "
                             f"extra_info, or pass to_item=); it has: {', '.join(sorted(extra)) or '(nothing)'}")
        return (str(extra[key]), self.render(solution)) if self.render is not None else (solution, extra[key])

    def batch(self, data_sources: Sequence[Any], solution_strs: Sequence[str], ground_truths: Sequence[Any],
              extra_infos: Sequence[Mapping[str, Any] | None] | None = None, **_: Any) -> list[dict[str, Any]]:
        """The batch reward manager's form: one dict per response."""
        extras = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
        items = [self._item(i, s, e) for i, (s, e) in enumerate(zip(solution_strs, extras))]
        batch = self.caller.score([c for c, _ in items], [m for _, m in items])
        return [{"score": float(r) if r is not None else math.nan, "reward_ok": ok, "reward_reason": why or ""}
                for r, ok, why in zip(batch.rewards, batch.mask, batch.reasons)]

    def __call__(self, data_source: Any, solution_str: str, ground_truth: Any,
                 extra_info: Mapping[str, Any] | None = None, **_: Any) -> dict[str, Any]:
        """The naive reward manager's form: one response, one request (prefer `.batch`)."""
        return self.batch([data_source], [solution_str], [ground_truth], [extra_info])[0]

    def close(self) -> None:
        self.caller.close()


def verl_reward(url: str, kind: Kind = "pointwise", *, on_failure: str = "error", image_key: str = "image",
                caption_key: str = "caption", render: Callable[[str], Any] | None = None,
                to_item: ItemBuilder | None = None, mode: str = "pairwise", orders: str = "one",
                timeout: float = 600.0, max_retries: int = 10, client: RewardClient | None = None,
                image_format: str = "png") -> VerlReward:
    """verl's `compute_score` over the service; `to_item(solution_str, extra_info)` -> (caption, medium)."""
    caller = RewardCaller(url, kind=kind, mode=mode, orders=orders,
                          on_failure=check_policy(on_failure, "verl_reward", numeric=True), timeout=timeout,
                          max_retries=max_retries, client=client, image_format=image_format,
                          who="verl_reward")
    return VerlReward(caller, image_key=image_key, caption_key=caption_key, render=render, to_item=to_item)


# ---- OpenRLHF ---------------------------------------------------------------------------------------------------

class OpenRLHFReward:
    """OpenRLHF's `reward_func(queries, prompts, labels)`. A query is prompt + response; by default the response
    is a caption judged against the image whose path is the label (`--label_key` naming the image column); with
    `render=` the response is rendered and judged against the prompt."""

    def __init__(self, caller: RewardCaller, *, render: Callable[[str], Any] | None, to_item: ItemBuilder | None):
        self.caller = caller
        self.render = render
        self.to_item = to_item

    def score(self, queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any]) -> RewardBatch:
        items = []
        for query, prompt, label in zip(queries, prompts, labels):
            response = query[len(prompt):] if query.startswith(prompt) else query
            if self.to_item is not None:
                items.append(self.to_item(query, prompt, label))
            elif self.render is not None:
                items.append((prompt, self.render(response)))
            else:
                items.append((response, label))
        return self.caller.score([c for c, _ in items], [m for _, m in items])

    def __call__(self, queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any],
                 **_: Any) -> dict[str, Any]:
        import torch  # OpenRLHF's own dependency: it reads tensors

        batch = self.score(queries, prompts, labels)
        rewards = torch.tensor([math.nan if r is None else r for r in batch.rewards], dtype=torch.float32)
        ok = torch.tensor(batch.mask, dtype=torch.float32)
        return {"rewards": rewards, "scores": rewards, "extra_logs": {"reward_ok": ok}}

    def close(self) -> None:
        self.caller.close()


def openrlhf_reward(url: str, kind: Kind = "pointwise", *, on_failure: str = "error",
                    render: Callable[[str], Any] | None = None, to_item: ItemBuilder | None = None,
                    mode: str = "pairwise", orders: str = "one", timeout: float = 600.0, max_retries: int = 10,
                    client: RewardClient | None = None, image_format: str = "png") -> OpenRLHFReward:
    """OpenRLHF's reward function over the service; `to_item(query, prompt, label)` -> (caption, medium)."""
    caller = RewardCaller(url, kind=kind, mode=mode, orders=orders,
                          on_failure=check_policy(on_failure, "openrlhf_reward", numeric=True), timeout=timeout,
                          max_retries=max_retries, client=client, image_format=image_format,
                          who="openrlhf_reward")
    return OpenRLHFReward(caller, render=render, to_item=to_item)


def openrlhf_app(reward: OpenRLHFReward) -> Any:
    """OpenRLHF's remote reward model over HTTP (any POST path, e.g. `/get_reward`): the body's `query`, `prompts`
    and `labels` (optional) scored by `reward`. 400 for a body it cannot read, 422 naming the failed items under
    `on_failure="error"`."""
    import asyncio

    from aiohttp import web

    from .client import ItemsFailed

    async def handle(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            queries = body["query"]
            if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
                raise TypeError("'query' must be a list of strings")
            prompts = body.get("prompts") or [""] * len(queries)
            labels = body.get("labels") or [None] * len(queries)
            if len(prompts) != len(queries) or len(labels) != len(queries):
                raise ValueError("'prompts' and 'labels' must have one entry per query")
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"error": f"body must be {{'query': [str], 'prompts', 'labels'}}: {exc}"},
                                     status=400)
        try:
            batch = await asyncio.get_running_loop().run_in_executor(None, reward.score, queries, prompts, labels)
        except ItemsFailed as exc:
            return web.json_response({"error": str(exc), "failed": exc.failed}, status=422)
        return web.json_response({"rewards": batch.rewards, "scores": batch.rewards, "ok": batch.mask,
                                  "reasons": batch.reasons})

    app = web.Application(client_max_size=256 * 2**20)
    app.router.add_post("/{tail:.*}", handle)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m harness.serve.rewards openrlhf --service URL [--host H] [--port P] [--on-failure value:0]`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m harness.serve.rewards",
                                     description="framework bridges to the reward service")
    sub = parser.add_subparsers(dest="bridge", required=True)
    bridge = sub.add_parser("openrlhf", help="OpenRLHF's remote reward model HTTP API (--remote_rm_url)")
    bridge.add_argument("--service", default="http://127.0.0.1:8700", help="the reward service's URL")
    bridge.add_argument("--host", default="127.0.0.1")
    bridge.add_argument("--port", type=int, default=5000)
    bridge.add_argument("--on-failure", default="error", help="'error' or 'value:X' (OpenRLHF needs a number)")
    args = parser.parse_args(argv)
    from aiohttp import web

    try:
        reward = openrlhf_reward(args.service, on_failure=args.on_failure)
    except UsageError as exc:
        parser.error(str(exc))
    print(f"OpenRLHF bridge on http://{args.host}:{args.port}/get_reward -> {args.service}", flush=True)
    web.run_app(openrlhf_app(reward), host=args.host, port=args.port, print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
