"""`harness generate`: render a benchmark's prompts with a generation policy and write the files under the
names the benchmark's own evaluator expects (paper Tables 8 and 9).

    harness generate --policy diffusers-video --policy-args model=...,steps=4 \\
        --prompts VBench_full_info.json --out videos/t2v-turbo --naming vbench
    harness generate --policy diffusers-image --policy-args model=stabilityai/sdxl-turbo,steps=4 \\
        --prompts PartiPrompts.tsv --n 1 --out images/sdxl-turbo-parti

Naming:
- `vbench`: `<prompt>-<i>.mp4`, i = 0..n-1, the layout VBench's standard mode looks up (videos only; the
  prompt is the file name, so a prompt containing "/" cannot be written and is reported as failed).
  With VBench's `VBench_full_info.json`, prompts of the temporal-flickering dimension get 25 videos
  (VBench samples 25 there so that enough remain after its static filter), the others `--n` (default 5).
- `index` (default): `<prompt id>_<j>.<ext>`, for image sets scored by `partiprompts_gen` /
  `hpsv2_prompts_gen`.
Both namings also write a manifest (one JSON row per file: `{id, prompt, path, seed, index}`, `path`
relative to the output directory) and `generation.json` (policy, identity, n, seed, prompt file and its
hash): inside the output directory for `index` (`manifest.jsonl`, what the scoring tasks read), beside it
for `vbench` (`<out>.manifest.jsonl`, `<out>.generation.json`), because VBench takes the extension of
whichever file it lists first as the extension of every video and must find nothing but videos there.

Prompt files, by extension:
- `.json`: VBench's `VBench_full_info.json` (a list of `{"prompt_en", "dimension"}`; a prompt listed twice
  is rendered once, its dimensions merged), or an HPSv2 benchmark file (a JSON list of strings: ids
  `<file stem>-<i:04d>`);
- a directory: every `*.json` list of strings in it, in name order (HPSv2's `benchmark/`);
- `.tsv`: PartiPrompts (column `Prompt`; ids `<file stem>-<i:04d>`);
- anything else (`.txt`, VBench's `all_dimension.txt`): one prompt per line, blank lines skipped.

Seeds: candidate j of a prompt uses seed + j (the policies' convention). Resume: a prompt whose files all
exist is not rendered again, so an interrupted run continues where it stopped. Files are first written to
a content-addressed `MediaStore` in a temporary directory beside the output (never inside it, for the
reason above), then copied there to a temporary name and renamed into place, so the output directory
only ever holds complete files.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from harness.adapters import parse_model_args
from harness.errors import UsageError

from .policies import POLICIES, MediaStore, Policy, PolicyInput

VBENCH_FLICKER_N = 25
NAMINGS = ("index", "vbench")


@dataclass(frozen=True)
class PromptItem:
    """One prompt to render; `n` overrides the run's count (VBench's temporal-flickering prompts)."""

    id: str
    prompt: str
    n: int | None = None


@dataclass
class GenerateReport:
    out: Path
    written: int = 0
    resumed: int = 0
    failed: dict[str, str] = field(default_factory=dict)


# ---- prompt files ---------------------------------------------------------------------------------
def read_prompts(path: Path) -> list[PromptItem]:
    """The prompts of a benchmark file (formats in the module doc)."""
    path = Path(path)
    if path.is_dir():
        items: list[PromptItem] = []
        for file in sorted(path.glob("*.json")):
            items.extend(_string_list(file, json.loads(file.read_text(encoding="utf-8"))))
        if not items:
            raise UsageError(f"--prompts {path}: no *.json prompt lists in this directory")
        return items
    if not path.is_file():
        raise UsageError(f"--prompts {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise UsageError(f"--prompts {path}: malformed JSON ({exc})") from None
        if isinstance(data, list) and data and all(isinstance(d, dict) for d in data):
            return _vbench_full_info(path, data)
        return _string_list(path, data)
    if suffix == ".tsv":
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        if not rows or "Prompt" not in rows[0]:
            raise UsageError(f"--prompts {path}: a TSV needs a 'Prompt' column (PartiPrompts)")
        return [PromptItem(f"{path.stem}-{i:04d}", r["Prompt"]) for i, r in enumerate(rows)]
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [PromptItem(f"{path.stem}-{i:04d}", p) for i, p in enumerate(p for p in lines if p)]


def _string_list(path: Path, data: Any) -> list[PromptItem]:
    if not isinstance(data, list) or not all(isinstance(p, str) for p in data):
        raise UsageError(f"--prompts {path}: expected VBench's full-info list or a JSON list of prompt strings")
    return [PromptItem(f"{path.stem}-{i:04d}", p) for i, p in enumerate(data)]


def _vbench_full_info(path: Path, rows: list[dict]) -> list[PromptItem]:
    """One item per distinct prompt (VBench lists two prompts twice; their files are the same files)."""
    dims: dict[str, set[str]] = {}
    for i, row in enumerate(rows):
        if not isinstance(row.get("prompt_en"), str):
            raise UsageError(f"--prompts {path}: row {i} has no 'prompt_en'")
        dims.setdefault(row["prompt_en"], set()).update(row.get("dimension") or [])
    return [PromptItem(prompt, prompt, VBENCH_FLICKER_N if "temporal_flickering" in d else None)
            for prompt, d in dims.items()]


# ---- generation -----------------------------------------------------------------------------------
def target_name(item: PromptItem, j: int, ext: str, naming: str) -> str:
    """The file name the benchmark expects for candidate j of `item`."""
    if naming == "vbench":
        if "/" in item.prompt or item.prompt in ("", ".", ".."):
            raise ValueError(f"prompt {item.prompt!r} cannot be a VBench file name")
        return f"{item.prompt}-{j}{ext}"
    return f"{item.id}_{j}{ext}"


def generate(policy: Policy, prompts: Sequence[PromptItem | str], n: int, out_dir: Path, naming: str = "index",
             seed: int = 0, chunk: int = 8, source: Path | None = None) -> GenerateReport:
    """Render every prompt n times (its own `n` when set) and write the files under benchmark names.

    `prompts` may be plain strings (ids `prompt-<i:04d>`). Returns what was written, resumed and failed (a
    prompt whose generation failed, or whose name cannot be a file, is named in `failed`; the rest go on).
    """
    if naming not in NAMINGS:
        raise UsageError(f"--naming {naming!r}; valid: {', '.join(NAMINGS)}")
    if policy.kind == "text":
        raise UsageError(f"policy {policy.name!r} writes text; generate needs an image or video policy")
    if naming == "vbench" and policy.kind != "video":
        raise UsageError(f"--naming vbench needs a video policy; {policy.name!r} makes {policy.kind}s")
    if n < 1:
        raise UsageError("--n must be >= 1")
    items = [p if isinstance(p, PromptItem) else PromptItem(f"prompt-{i:04d}", p) for i, p in enumerate(prompts)]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = GenerateReport(out_dir)
    manifest_path, info_path = metadata_paths(out_dir, naming)
    manifest: dict[tuple[str, int], dict[str, Any]] = _read_manifest(manifest_path)
    todo: list[PromptItem] = []
    for item in items:
        count = item.n or n
        if all(manifest.get((item.id, j)) and (out_dir / manifest[(item.id, j)]["path"]).is_file()
               for j in range(count)):
            report.resumed += 1
        else:
            todo.append(item)
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}-store-", dir=out_dir.parent) as tmp:
        store = MediaStore(Path(tmp))
        for count in sorted({item.n or n for item in todo}):
            group = [item for item in todo if (item.n or n) == count]
            for start in range(0, len(group), chunk):
                batch = group[start:start + chunk]
                _render(policy, batch, count, seed, store, out_dir, naming, manifest, report)
                _write_manifest(manifest_path, items, n, manifest)
    _write_manifest(manifest_path, items, n, manifest)
    _write_generation_info(info_path, policy, n, seed, naming, source, len(items))
    return report


def metadata_paths(out_dir: Path, naming: str) -> tuple[Path, Path]:
    """(manifest, generation info): inside `out_dir`, or beside it for VBench (see the module doc)."""
    if naming == "vbench":
        return out_dir.with_name(out_dir.name + ".manifest.jsonl"), out_dir.with_name(out_dir.name + ".generation.json")
    return out_dir / "manifest.jsonl", out_dir / "generation.json"


def _render(policy: Policy, batch: list[PromptItem], count: int, seed: int, store: MediaStore, out_dir: Path,
            naming: str, manifest: dict[tuple[str, int], dict[str, Any]], report: GenerateReport) -> None:
    inputs = [PolicyInput(item.id, item.prompt) for item in batch]
    results = policy.candidates(inputs, count, seed, store)
    errors = getattr(policy, "errors", {}) or {}
    for item, candidates in zip(batch, results):
        if len(candidates) != count or any(c.media is None for c in candidates):
            report.failed[item.id] = errors.get(item.id, f"the policy returned {len(candidates)} of {count} files")
            continue
        try:
            names = [target_name(item, c.index, Path(str(c.media)).suffix, naming) for c in candidates]
        except ValueError as exc:
            report.failed[item.id] = str(exc)
            continue
        for candidate, name in zip(candidates, names):
            _copy_atomic(Path(str(candidate.media)), out_dir / name, store.root)
            manifest[(item.id, candidate.index)] = {"id": item.id, "prompt": item.prompt, "path": name,
                                                    "seed": candidate.seed, "index": candidate.index}
            report.written += 1


def _copy_atomic(src: Path, dst: Path, scratch: Path) -> None:
    """Copy to a temporary file in `scratch` (outside the output directory), then rename into place."""
    fd, tmp = tempfile.mkstemp(dir=scratch, prefix="copy-", suffix=dst.suffix)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_manifest(path: Path) -> dict[tuple[str, int], dict[str, Any]]:
    found: dict[tuple[str, int], dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                found[(str(row["id"]), int(row["index"]))] = row
    return found


def _write_manifest(path: Path, items: Sequence[PromptItem], n: int,
                    manifest: dict[tuple[str, int], dict[str, Any]]) -> None:
    """Rows in prompt order, only for files that exist; written to a temporary name and renamed."""
    lines = [json.dumps(manifest[(item.id, j)], ensure_ascii=False)
             for item in items for j in range(item.n or n) if (item.id, j) in manifest]
    _write_text_atomic(path, "".join(line + "\n" for line in lines))


def _write_generation_info(path: Path, policy: Policy, n: int, seed: int, naming: str, source: Path | None,
                           n_prompts: int) -> None:
    info: dict[str, Any] = {"policy": policy.name, "identity": policy.identity(), "n": n, "seed": seed,
                            "naming": naming, "n_prompts": n_prompts}
    if source is not None:
        info["prompts"] = str(source)
        if Path(source).is_file():
            info["prompts_sha256"] = hashlib.sha256(Path(source).read_bytes()).hexdigest()
    _write_text_atomic(path, json.dumps(info, indent=2, sort_keys=True, default=str) + "\n")


def _write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


# ---- command line ---------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The `harness generate` options (for harness/cli.py to mount as a subcommand)."""
    parser.add_argument("--policy", required=True, help="generation policy (diffusers-image, diffusers-video, ...)")
    parser.add_argument("--policy-args", default="", help="policy arguments as k=v,k=v")
    parser.add_argument("--prompts", type=Path, required=True,
                        help="VBench_full_info.json, PartiPrompts.tsv, HPSv2 benchmark JSON (or its folder), or .txt")
    parser.add_argument("--n", type=int, default=None,
                        help="files per prompt (default: 5 with --naming vbench, else 1; VBench's temporal "
                             "flickering prompts always get 25)")
    parser.add_argument("--out", type=Path, required=True, help="output directory (resumable)")
    parser.add_argument("--naming", default="index", choices=NAMINGS,
                        help="index: <id>_<j>.<ext> (image sets); vbench: <prompt>-<i>.mp4")
    parser.add_argument("--seed", type=int, default=0, help="candidate j uses seed + j")
    parser.add_argument("--limit", type=int, default=None, help="only the first N prompts")
    return parser


def build_policy(name: str, args: str) -> Policy:
    """A policy by name (its `harness.policies` entry point)."""
    return POLICIES.get(name).from_args(parse_model_args(args, "--policy-args"), "--policy-args")


def main(args: argparse.Namespace | Sequence[str] | None = None) -> int:
    """Run `harness generate`; prints a one-line summary and the output directory. Exit status 0 even when
    some prompts failed (they are listed), as `harness run` does with counted failures."""
    if not isinstance(args, argparse.Namespace):
        args = add_arguments(argparse.ArgumentParser(prog="harness generate")).parse_args(args)
    prompts = read_prompts(args.prompts)
    if args.limit is not None:
        prompts = prompts[: args.limit]
    n = args.n if args.n is not None else (5 if args.naming == "vbench" else 1)
    policy = build_policy(args.policy, args.policy_args)
    try:
        report = generate(policy, prompts, n, args.out, naming=args.naming, seed=args.seed, source=args.prompts)
    finally:
        policy.close()
    print(f"written {report.written} file(s), prompts already done (resume): {report.resumed}, "
          f"failed: {len(report.failed)}")
    for item_id, reason in sorted(report.failed.items())[:20]:
        print(f"  failed {item_id}: {reason}")
    print(report.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
