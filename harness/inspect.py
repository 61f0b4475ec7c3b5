"""`harness inspect`: exactly what a judge would receive for the first samples of a task, without generating.

For each request: the task, sample and protocol (the one actually run: a judge family may choose it), the
generation settings the adapter would use, and the adapter's own view of the input: for `hf` the rendered chat
prompt, the prompt's token count, every medium's route, size, the pixels the vision tower sees and its
placeholder tokens, and the token ids around each placeholder run; for `openai` the request body with each
image shortened to its size and hash; for others the prompt's parts in order. A sample that cannot be judged
(a malformed row, an unreadable image) shows its error instead. Nothing is cached or written to a run.
"""

from __future__ import annotations

import json
from typing import Any, Iterator, TextIO

from .adapters import Adapter
from .errors import SampleError
from .judging import JudgeClient
from .runner import RunOptions, build_adapter, resolve_tasks
from .registry import MODELS


def inspect_inputs(opts: RunOptions, limit: int = 3, adapter: Adapter | None = None) -> Iterator[dict[str, Any]]:
    """One record per request of the first `limit` samples of each task in `opts`."""
    resolved = resolve_tasks(opts, adapter.kind if adapter is not None else MODELS.get(opts.model).kind)
    adapter = build_adapter(opts, adapter)
    try:
        resolved = [(t, t.for_family(c, adapter.family())) for t, c in resolved]
        client = JudgeClient(adapter, cache=None)
        for task, cfg in resolved:
            head = {"task": task.name, "protocol": cfg.protocol}
            if cfg.requested_protocol:
                head["protocol_requested"] = cfg.requested_protocol
            for sample in task.load(cfg).samples[:limit]:
                record = {**head, "sample_id": sample.id}
                try:
                    if sample.problem is not None:
                        raise SampleError(sample.problem, stage="load")
                    requests = task.requests(sample, cfg)
                except SampleError as exc:
                    yield {**record, "error": exc.reason}
                    continue
                if not requests:
                    yield {**record, "note": "the protocol does not ask the judge about this sample"}
                for request in requests:
                    out = {**record, "request": request.key,
                           "generation": adapter.generation_for(request.generation).as_dict()}
                    try:
                        prepared = client.prepare(request)
                    except SampleError as exc:
                        yield {**out, "error": exc.reason}
                        continue
                    try:
                        yield {**out, **adapter.inspect(prepared)}
                    except Exception as exc:  # noqa: BLE001 - shown per request, as the run would record it
                        yield {**out, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        adapter.close()


def write_text(record: dict[str, Any], out: TextIO) -> None:
    """A readable rendering of one `inspect_inputs` record."""
    title = f"== {record['task']} [{record['protocol']}] sample {record['sample_id']}"
    if "request" in record and record["request"] != record["sample_id"]:
        title += f" request {record['request']}"
    out.write(title + "\n")
    if "protocol_requested" in record:
        out.write(f"protocol: {record['protocol']} (asked: {record['protocol_requested']}; the judge's family)\n")
    for key in ("error", "note"):
        if key in record:
            out.write(f"{key}: {record[key]}\n")
    if "generation" in record:
        out.write("generation: " + ", ".join(f"{k}={v}" for k, v in record["generation"].items()) + "\n")
    if "prompt_tokens" in record:
        out.write(f"prompt tokens: {record['prompt_tokens']} (media {record['media_tokens']}; "
                  f"{record['images_sent']} image(s), {record['frames_sent']} video frame(s))\n")
        for medium in record["media"]:
            out.write(f"  {medium['route']:<7} {medium['label']}: {medium['frames']} frame(s) "
                      f"{medium['size'][0]}x{medium['size'][1]} -> tower {medium['pixel_size']}: "
                      f"{medium['tokens']} tokens\n")
        out.write("prompt:\n" + record["prompt"] + "\n")
    elif "body" in record:
        out.write(json.dumps(record["body"], indent=2, ensure_ascii=False) + "\n")
    elif "parts" in record:
        for part in record["parts"]:
            out.write((repr(part["text"]) if "text" in part else f"<{part['kind']} {part['media']}>") + "\n")
    out.write("\n")
