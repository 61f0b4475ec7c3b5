"""Writes the two EditReward-Bench fixtures as their hub repositories hold them, with tiny images.

- TIGER-Lab/EditReward-Bench: `<K>pair/train-00000-of-00001.parquet`, one row per comparison, images as
  `datasets` stores them in Parquet (a struct `{bytes, path}`); rows from `tiger_rows.json`, where an image
  column holds the file name of the image (the same name: the same candidate image).
- EditScore/EditReward-Bench: `data-00000-of-00001.arrow` (an Arrow IPC stream, what `datasets` writes),
  `output_images` a list of two image structs; rows from `editscore_rows.json`.

The JSON rows carry every column the benchmarks' code reads, in their published names (see the task modules);
no real annotation rows are published outside the (image-embedding) hub files, so the values are ours.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
from pathlib import Path
from typing import Any, Iterable, Mapping

from PIL import Image

HERE = Path(__file__).parent
TIGER_ROWS = HERE / "tiger_rows.json"
EDITSCORE_ROWS = HERE / "editscore_rows.json"
TIGER_IMAGES = ("source_image", "candidate_1", "candidate_2")


def png(name: str) -> bytes:
    """An 8x8 PNG whose colour is a function of `name`."""
    r, g, b = hashlib.sha256(name.encode()).digest()[:3]
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (r, g, b)).save(out, "PNG")
    return out.getvalue()


def image_struct(name: str | None) -> dict[str, Any] | None:
    return None if name is None else {"bytes": png(name), "path": name}


def tiger_rows() -> dict[str, list[dict[str, Any]]]:
    return json.loads(TIGER_ROWS.read_text(encoding="utf-8"))


def editscore_rows() -> list[dict[str, Any]]:
    return json.loads(EDITSCORE_ROWS.read_text(encoding="utf-8"))


def _image_type() -> Any:
    import pyarrow as pa

    return pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def write_tiger(root: Path, rows: Mapping[str, Iterable[Mapping[str, Any]]] | None = None) -> Path:
    """`root/<K>pair/train-00000-of-00001.parquet` for each subset given (default: the fixture's rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for subset, subset_rows in (rows if rows is not None else tiger_rows()).items():
        records = []
        for row in subset_rows:
            record = copy.deepcopy(dict(row))
            for column in TIGER_IMAGES:
                if isinstance(record.get(column), str):
                    record[column] = image_struct(record[column])
            records.append(record)
        if not records:
            continue
        fields = {name: pa.string() for name in records[0]}
        fields.update({column: _image_type() for column in TIGER_IMAGES})
        fields.update(score_1=pa.float64(), score_2=pa.float64())
        schema = pa.schema([(name, fields[name]) for name in records[0]])
        (root / subset).mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(records, schema=schema), root / subset / "train-00000-of-00001.parquet")
    return root


def write_editscore(root: Path, rows: Iterable[Mapping[str, Any]] | None = None) -> Path:
    """`root/data-00000-of-00001.arrow` (default: the fixture's rows)."""
    import pyarrow as pa

    records = []
    for row in rows if rows is not None else editscore_rows():
        record = copy.deepcopy(dict(row))
        if isinstance(record.get("input_image"), str):
            record["input_image"] = image_struct(record["input_image"])
        outputs = record.get("output_images")
        if isinstance(outputs, list):
            record["output_images"] = [image_struct(o) if isinstance(o, str) else o for o in outputs]
        records.append(record)
    schema = pa.schema([("key", pa.list_(pa.string())), ("instruction", pa.string()),
                        ("input_image", _image_type()), ("output_images", pa.list_(_image_type())),
                        ("task_type", pa.string()), ("dimension", pa.string())])
    root.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(records, schema=schema)
    with pa.OSFile(str(root / "data-00000-of-00001.arrow"), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        writer.write_table(table)
    return root
