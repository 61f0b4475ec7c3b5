"""VideoGen-RewardBench (paper Table 5): `videogen_rewardbench`.

Data: HF `KlingTeam/VideoGen-RewardBench` (formerly `KwaiVGI/`), split `eval`: `videogen-rewardbench.csv`
(~26.5k pairs; columns path_A, path_B, A_model, B_model, prompt, VQ, MQ, TA, Overall, ...) plus `videos.zip`
(13.4 GB), which users download and extract themselves. `--data-dir DIR` holds the CSV and the videos at
`path_A` / `path_B` relative to DIR. Without `--data-dir` the CSV comes from the hub and the videos are
absent, which suits replayed replies or a scores file only. Labels come from `Overall` (the paper uses it):
A -> h = 1, B -> h = -1, same -> h = 0. Sample ids are the CSV row numbers, from 0.

Protocols:
- `strict` (default): the paper's prompt, 8 evenly spaced frames per video at 512x512, answer order
  from (seed, id), the three-way parser (several verdicts or none: invalid, wrong). tau and diff.
- `unifiedreward`: the paper script's prompt and frames, no swap; a reply naming "Video 1 is better
  than Video 2" reads A, "Video 2 is better than Video 1" B, anything else a tie, as the script means.
  The script itself tests `output in 'Video 1 is better than Video 2.'`, the containment reversed, so
  an empty reply counts as A; that bug is not reproduced (a named deviation). tau and diff.
- `unifiedreward-qwen` (chosen for a Qwen-family judge asked for `unifiedreward`): the authors' Qwen script,
  which sends both videos as native video input (2 frames a second) with the GenAI-Bench video prompt, no
  swap, ties asked; "Video 1 is better" -> A, else "Video 2 is better" -> B, else same; accuracy and
  accuracy_without_ties as it prints them.
- Judge families (`reward.families`): a judge whose family has its own video-generation template (UnifiedReward-
  Think's chain of thought) is sent it in place of the UnifiedReward prompt by `strict`, `unifiedreward` and
  `unifiedreward-qwen` (the last with the media and generation settings of that family's script), the script
  protocols keep their verdict rules and `strict` reads the reply with the family's parser; each sample's outcome
  names the family template (`template`).
- `scores`: scalar scorers; m = score(A) - score(B); accuracy_with_ties (VideoAlign; also the
  calibrated variant) and accuracy_without_ties, as VideoAlign's calc_accuracy.py; accuracy per quartile of |m|
  and the calibration error of the margin as a preference probability (`tasks.pairwise.score_margins`).

`--orders both` (every protocol but `scores`): each pair is also judged with its order decision inverted
(`TaskConfig.flip_order`): `strict` swaps the pairs it kept and keeps those it swapped; `unifiedreward` and
`unifiedreward-qwen`, which the authors' scripts never swap, show video B first, a named deviation
(`both_orders_deviation`). Verdicts are read back by `tasks.pairwise.three_way_view`. The CSV's per-dimension
labels (VQ, MQ, TA) are preferences (A / B / same) like Overall, not scores or margins: no accuracy by difficulty
or rank correlation is computed from them (docs/reliability.md, "Generation tasks").
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping, Sequence

from harness import hub
from harness.errors import UsageError
from harness.records import Generation, Judgment, Reply, Request, Sample
from harness.registry import task
from harness.reliability import OrderVerdict
from harness.rows import DatasetInfo, RowSource, csv_reader, file_sha256, local_file, local_info, path_media
from harness.task import IdRule, Parsed, ProtocolSpec, Row, Scoring, Task, TaskConfig

from .pairwise import (NO_VERDICT, QWEN_MAX_FRAMES, QWEN_VIDEO_GENERATION, family_three_way, margin_outcome,
                       qwen_script_verdict,
                       score_margins, score_script_accuracy, score_three_way, scorer_requests, seeded_swap, shown_h,
                       three_way_choice, three_way_view)
from reward.families import VIDEO_GENERATION_PAIR_RANK, task_prompt

from .templates import load_template

# The dataset moved from KwaiVGI/ to KlingTeam/ (same commits); runs that recorded the old name stay comparable
# (`reports.compare.DATASET_ALIASES`).
HF_DATASET = "KlingTeam/VideoGen-RewardBench"
HF_REVISION: str | None = None  # resolved and recorded at load time (see tasks.genai_bench)
CSV_NAME = "videogen-rewardbench.csv"
OVERALL_TO_H = {"A": 1, "B": -1, "same": 0}
GENERATION = Generation(max_new_tokens=4096)


@task("videogen_rewardbench")
class VideoGenRewardBench(Task):
    version = "1"
    splits = ("eval",)
    default_protocol = "strict"
    scorer_protocol = "scores"
    protocols = {
        "strict": ProtocolSpec("strict", "1", "the paper's prompt, seeded per-sample order swap, three-way parser",
                               deviations=("answer order from (seed, id); the paper script never swaps",)),
        "unifiedreward": ProtocolSpec("unifiedreward", "1", "the paper script's prompt and frames, no swap",
                                      deviations=("the script's reversed containment test (an empty reply reads "
                                                  "as 'A') is fixed: the phrase is looked for in the reply",)),
        "unifiedreward-qwen": ProtocolSpec(
            "unifiedreward-qwen", "1", "the authors' Qwen script (test_qwen_videogen_reward_bench.py): the GenAI-Bench "
            "video prompt, native video at 2 frames a second, no swap, ties asked; accuracy and "
            "accuracy_without_ties",
            deviations=("greedy decoding; the script passes no sampling settings (the checkpoint's generation_config "
                        "decides)", "videos sampled 2 frames a second as qwen_vl_utils 0.0.10, resized with PIL's "
                        "bicubic instead of torchvision's")),
        "scores": ProtocolSpec("scores", "1", "scalar scorer: m = score(A) - score(B); accuracy with and "
                               "without ties as VideoAlign's calc_accuracy.py"),
    }
    #: A Qwen-family judge asked for `unifiedreward` gets the authors' Qwen script.
    family_protocols = {"qwen": {"unifiedreward": "unifiedreward-qwen"}}
    both_orders = True

    def order_verdict(self, outcome: Mapping[str, Any]) -> OrderVerdict:
        return three_way_view(outcome)

    def both_orders_deviation(self, cfg: TaskConfig) -> str | None:
        if cfg.protocol in ("unifiedreward", "unifiedreward-qwen"):
            return "--orders both: also judged in the order the authors' script never shows (video B first)"
        return None  # strict already swaps about half the pairs

    def rows(self, cfg: TaskConfig) -> RowSource:
        """The benchmark's CSV, row by row: from --data-dir (videos at path_A/path_B relative to it) or from the
        hub (no videos: replayed replies or a scores file only)."""
        if cfg.data_dir is not None:
            path = local_file(cfg.data_dir, CSV_NAME, "the benchmark's CSV, with the videos at path_A/path_B "
                                                      "relative to it")
            info = local_info(cfg.data_dir, file_sha256(path), cfg.split, HF_DATASET)
        else:
            path, revision = _hub_csv(cfg.revision)
            info = DatasetInfo(source="hub", id=HF_DATASET, revision=revision, split=cfg.split,
                               extra={"media": "absent (no --data-dir)"})
        return RowSource(info, csv_reader(path, CSV_NAME), IdRule((), fallback="{index}"),
                         path_media(cfg.data_dir, {"path_A": "video", "path_B": "video"}), str(path))

    def sample(self, row: Row) -> Sample:
        label = (row.fields.get("Overall") or "").strip()
        if label not in OVERALL_TO_H:
            return Sample(row.id, row.index, {}, problem=f"{row.where}: unknown Overall label {label!r} "
                                                         f"(expected A, B or same)")
        missing = [c for c in ("prompt", "path_A", "path_B") if not (row.fields.get(c) or "").strip()]
        if missing:
            return Sample(row.id, row.index, {}, problem=f"{row.where}: empty column(s) {', '.join(missing)}")
        media = {side: row.media[f"path_{side}"] for side in ("A", "B")}
        data = {"prompt": row.fields["prompt"], "h": OVERALL_TO_H[label], "overall": label, "media": media,
                "models": [row.fields.get("A_model"), row.fields.get("B_model")]}
        return Sample(row.id, row.index, data, tuple(media.values()))

    def requests(self, sample: Sample, cfg: TaskConfig) -> list[Request]:
        d = sample.data
        videos = {side: dataclasses.replace(ref, frames=8, sampling="linspace",
                                            resize=None if cfg.protocol == "scores" else (512, 512))
                  for side, ref in d["media"].items()}
        if cfg.protocol == "scores":
            return scorer_requests(sample, d["prompt"], [("A", videos["A"]), ("B", videos["B"])])
        own = task_prompt(cfg.family, VIDEO_GENERATION_PAIR_RANK)
        # Only `strict` swaps; --orders both inverts each protocol's decision for the other order.
        swapped = (cfg.protocol == "strict" and seeded_swap(cfg.seed, sample.id)) != cfg.flip_order
        sides = ("B", "A") if swapped else ("A", "B")
        if cfg.protocol == "unifiedreward-qwen" and own is not None:  # the family's template, media as it sends them
            shown = [own.media_as_sent(d["media"][side], QWEN_MAX_FRAMES) for side in sides]
            return [Request(sample.id, sample.id, own.render({"prompt": d["prompt"]}, shown), own.generation,
                            meta={"swapped": swapped})]
        if cfg.protocol == "unifiedreward-qwen":  # native videos, the GenAI-Bench video prompt (sic)
            native = [dataclasses.replace(d["media"][side], frames=QWEN_MAX_FRAMES, sampling="qwen-fps2")
                      for side in sides]
            text = load_template("genai_video_unifiedreward.txt").split("\n", 1)[1].format(prompt=d["prompt"])
            return [Request(sample.id, sample.id, (*native, text), QWEN_VIDEO_GENERATION, meta={"swapped": swapped})]
        first, second = (videos[side] for side in sides)
        if own is not None:  # strict keeps its own frames and generation settings
            generation = own.generation if cfg.protocol == "unifiedreward" else GENERATION
            return [Request(sample.id, sample.id, own.render({"prompt": d["prompt"]}, (first, second)), generation,
                            meta={"swapped": swapped})]
        text = load_template("videogen_unifiedreward.txt").split("\n", 1)[1].format(prompt=d["prompt"])
        return [Request(sample.id, sample.id, (first, second, text), GENERATION, meta={"swapped": swapped})]

    def parse(self, sample: Sample, exchanges: Sequence[tuple[Request, Reply]], cfg: TaskConfig) -> Parsed:
        h = sample.data["h"]
        if cfg.protocol == "scores":
            status, outcome, reason = margin_outcome(exchanges, h)
            return Parsed(status, outcome, reason)
        request, reply = exchanges[0]
        text = reply.text or ""
        gold = shown_h(h, request.meta["swapped"])
        outcome = {"overall": sample.data["overall"], "h": h, "swapped": request.meta["swapped"]}
        own = task_prompt(cfg.family, VIDEO_GENERATION_PAIR_RANK)
        if own is not None:
            outcome["template"] = own.file
        if own is not None and cfg.protocol == "strict":  # the family's reply format (Think: the <answer> tag)
            return family_three_way(own, text, gold, outcome)
        if cfg.protocol == "unifiedreward-qwen" or (cfg.protocol == "unifiedreward" and own is not None):
            # The Qwen scripts, and the Think-llava scripts' `output in 'Video 1 is better'` (the same reversed
            # containment) meaning their prompt's phrase: "Video 1 is better" -> A, else "Video 2 ..." -> B, else same.
            predicted = qwen_script_verdict(text, "Video")
            outcome.update(verdict=predicted, correct=predicted == gold)
            if predicted == 0 and "equally good" not in text:
                outcome[NO_VERDICT] = True
                return Parsed("invalid", outcome, "no 'Video N is better': read as 'same', as the script does")
            return Parsed("ok", outcome)
        if cfg.protocol == "unifiedreward":
            predicted = 1 if "Video 1 is better than Video 2" in text else \
                -1 if "Video 2 is better than Video 1" in text else 0
            outcome.update(verdict=predicted, correct=predicted == gold)
            if predicted == 0 and "equally good" not in text:
                outcome[NO_VERDICT] = True
                return Parsed("invalid", outcome, "no conclusion phrase: read as a tie, as the script means")
            return Parsed("ok", outcome)
        choice, reason = three_way_choice(text, "video")
        signed = {1: 1, 2: -1, 0: 0}.get(choice)  # type: ignore[arg-type]
        outcome.update(verdict=signed, correct=signed == gold)
        return Parsed("ok" if choice is not None else "invalid", outcome, reason)

    def score(self, judgments: Sequence[Judgment], cfg: TaskConfig) -> Scoring:
        if cfg.protocol == "unifiedreward-qwen":
            return score_script_accuracy(judgments)
        return score_margins(judgments) if cfg.protocol == "scores" else score_three_way(judgments)


def _hub_csv(revision: str | None = None) -> tuple[Path, str | None]:
    """The CSV in the hub cache, at `revision` (else the pinned one, else the branch head, recorded)."""
    hub.require(f"cannot fetch {CSV_NAME} of {HF_DATASET}")
    try:
        from huggingface_hub import HfApi, hf_hub_download

        revision = revision or HF_REVISION or HfApi().dataset_info(HF_DATASET).sha
        path = hf_hub_download(HF_DATASET, CSV_NAME, repo_type="dataset", revision=revision)
    except Exception as exc:
        raise UsageError(f"cannot fetch {CSV_NAME} of {HF_DATASET} from the hub: {exc}. Use --data-dir with the "
                         f"CSV and the extracted videos.") from None
    return Path(path), revision
