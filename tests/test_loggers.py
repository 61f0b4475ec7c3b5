"""`--log-to wandb,tensorboard`: a real finished run written with the real libraries and read back from disk.

TensorBoard: tensorboardX's event file is parsed record by record (TFRecord framing, masked CRC32C checked)
into `Event` protos. wandb: an offline run's transaction log (`run-<id>.wandb`, LevelDB-log framing with
CRC32 per chunk) is parsed into wandb's own `Record` protos, and the samples table file is read as JSON.
"""

from __future__ import annotations

import json
import struct
import sys
import zlib
from pathlib import Path
from typing import Any, Iterator

import pytest

import harness
from harness.errors import UsageError
from harness.loggers import (REPLY_CHARS, check_targets, log_run, markdown_table, read_run, require_targets,
                             scalars)
from harness.redaction import redact_deep

from .conftest import make_data_dir, row


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A real three-sample run of the scripted judge: one judged, one adapter failure, one bad row."""
    root = tmp_path_factory.mktemp("run")
    data = make_data_dir(root / "data", [row("wildvision_a", "wildvision-battle"),
                                         row("RLAIF-V-1", "rlaif-v", ranking=(1, 0)),
                                         row("mmmu_x", "mmmu-pro")])
    outcome = harness.evaluate(tasks=["vlrewardbench"], model="scripted", model_args={"fail_rate": 0.3},
                               data_dir=data, output=root / "runs", progress="none", use_cache=False,
                               cache_path=root / "cache.sqlite")
    return Path(outcome.dir)


def results_of(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "results.json").read_text())


def expected_numbers(run_dir: Path) -> dict[str, float]:
    """What every target must hold, spelled out from results.json (not through `scalars`)."""
    task = results_of(run_dir)["tasks"]["vlrewardbench"]
    expected = {f"vlrewardbench/{m}": v for m, v in task["metrics"].items() if v is not None}
    expected.update({f"vlrewardbench/{m}/ci95_{side}": b for m, (lo, hi) in task["ci95"].items()
                     for side, b in (("low", lo), ("high", hi))})
    expected.update({f"vlrewardbench/counts/{k}": v for k, v in {**task["counts"], **task["errors"]}.items()})
    assert "vlrewardbench/overall_accuracy" in expected and "vlrewardbench/counts/error/load" in expected
    return expected


# --- what is sent -----------------------------------------------------------------------------------------


def test_scalars_are_metrics_ci_bounds_and_counts_and_skip_undefined_metrics():
    results = {"tasks": {"t": {"metrics": {"acc": 75.0, "acc/reasoning": None, "flag": True},
                               "ci95": {"acc": [60.0, 90.0]},
                               "counts": {"n": 4, "n_invalid": 1, "n_error": 0}, "errors": {"error/adapter": 2}}}}
    assert scalars(results) == {"t/acc": 75.0, "t/acc/ci95_low": 60.0, "t/acc/ci95_high": 90.0, "t/counts/n": 4.0,
                                "t/counts/n_invalid": 1.0, "t/counts/n_error": 0.0, "t/counts/error/adapter": 2.0}


def test_the_samples_table_holds_every_sample_with_its_outcome_reply_and_error(finished_run):
    record = read_run(finished_run)
    assert record.columns[:3] == ("id", "task", "status") and record.columns[-2:] == ("reply", "error")
    assert {"verdict", "correct", "category"} <= set(record.columns)
    by_id = {r[0]: dict(zip(record.columns, r)) for r in record.rows}
    assert set(by_id) == {"wildvision_a", "RLAIF-V-1", "mmmu_x"}
    samples = {json.loads(line)["id"]: json.loads(line)
               for line in (finished_run / "vlrewardbench.samples.jsonl").read_text().splitlines()}
    judged = by_id["wildvision_a"]
    assert judged["status"] == "ok" and judged["task"] == "vlrewardbench"
    assert judged["verdict"] == samples["wildvision_a"]["outcome"]["verdict"]
    assert judged["correct"] == samples["wildvision_a"]["outcome"]["correct"]
    assert judged["reply"] == samples["wildvision_a"]["replies"][0]["text"] and judged["error"] is None
    failed = by_id["RLAIF-V-1"]
    assert failed["status"] == "error" and failed["error"] == "adapter: scripted failure (fail_rate)"
    assert failed["verdict"] is None and failed["reply"] is None
    assert by_id["mmmu_x"]["error"].startswith("load: data.jsonl line 3")


def test_markdown_cells_stay_on_one_line_with_pipes_escaped():
    table = markdown_table(["id", "reply"], [["a", "x | y\nz"], ["b", None]])
    assert table.splitlines() == ["| id | reply |", "|---|---|", "| a | x \\| y z |", "| b |  |"]


def test_configuration_is_redacted_at_every_depth():
    config = {"model": {"args": {"api_key": "plain", "temperature": 0.0, "headers": [{"authorization": "x"}]}},
              "note": "Bearer abc", "token": "***", "name": "judge"}
    assert redact_deep(config) == {"model": {"args": {"api_key": "***", "temperature": 0.0,
                                                     "headers": [{"authorization": "***"}]}},
                                  "note": "***", "token": "***", "name": "judge"}


def test_a_long_reply_is_cut_in_the_table(finished_run, tmp_path):
    run = tmp_path / "long"
    run.mkdir()
    for name in ("run.json", "results.json"):
        (run / name).write_bytes((finished_run / name).read_bytes())
    line = {"id": "s", "status": "ok", "outcome": {"verdict": 1}, "replies": [{"text": "x" * 5000}]}
    (run / "vlrewardbench.samples.jsonl").write_text(json.dumps(line) + "\n")
    (reply,) = [r[-2] for r in read_run(run).rows]
    assert len(reply) == REPLY_CHARS and reply.endswith("…")


# --- bad input, before anything is written ------------------------------------------------------------------


def test_unknown_targets_name_the_valid_ones(finished_run, tmp_path):
    with pytest.raises(UsageError, match="--log-to mlflow: valid targets are tensorboard, wandb"):
        log_run(finished_run, ["tensorboard", "mlflow"], log_dir=tmp_path / "logs")
    with pytest.raises(UsageError, match=r"--log-to \(nothing\)"):
        check_targets([" , "])
    assert check_targets(["wandb,tensorboard", "wandb"]) == ["wandb", "tensorboard"]
    assert not (tmp_path / "logs").exists()


def test_a_missing_package_is_one_line_naming_the_extra_and_nothing_is_written(finished_run, tmp_path, monkeypatch):
    pytest.importorskip("tensorboardX")  # the valid target beside the missing one
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` now raises ImportError
    with pytest.raises(UsageError) as err:
        log_run(finished_run, ["tensorboard", "wandb"], log_dir=tmp_path / "logs")
    assert str(err.value) == ('--log-to wandb needs wandb, which is not installed: pip install -e ".[log]" '
                              "(the `log` extra) or pip install wandb")
    assert not (tmp_path / "logs").exists()  # tensorboard, valid, waited for the check of every target
    with pytest.raises(UsageError, match="the `log` extra"):
        require_targets(["wandb"])  # what the CLI calls before the run


def test_an_unfinished_run_is_refused(finished_run, tmp_path):
    pytest.importorskip("tensorboardX")
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "run.json").write_bytes((finished_run / "run.json").read_bytes())
    with pytest.raises(UsageError, match=r"no results\.json \(an unfinished run"):
        log_run(unfinished, ["tensorboard"], log_dir=tmp_path / "logs")
    assert not (tmp_path / "logs").exists()


# --- tensorboard -----------------------------------------------------------------------------------------------


def tfrecords(path: Path) -> Iterator[bytes]:
    """The records of a TFRecord file, each CRC-checked (length and data carry masked CRC32Cs)."""
    from tensorboardX.crc32c import crc32c

    def masked(data: bytes) -> int:
        crc = crc32c(data)
        return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF

    data, pos = path.read_bytes(), 0
    while pos < len(data):
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        assert struct.unpack("<I", data[pos + 8:pos + 12])[0] == masked(header)
        body = data[pos + 12:pos + 12 + length]
        assert struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])[0] == masked(body)
        pos += 16 + length
        yield body


def test_tensorboard_event_file_holds_the_metrics_and_the_samples_table(finished_run, tmp_path):
    pytest.importorskip("tensorboardX")
    from tensorboardX.proto.event_pb2 import Event

    (where,) = log_run(finished_run, ["tensorboard"], log_dir=tmp_path / "logs")
    assert Path(where) == tmp_path / "logs" / "tensorboard" / finished_run.name
    (event_file,) = Path(where).glob("events.out.tfevents.*")
    events = [Event.FromString(r) for r in tfrecords(event_file)]
    assert events[0].file_version == "brain.Event:2"
    values = [(v.tag, v) for e in events if e.HasField("summary") for v in e.summary.value]
    numbers = {tag: v.simple_value for tag, v in values if v.WhichOneof("value") == "simple_value"}
    texts = {tag: v.tensor.string_val[0].decode() for tag, v in values if v.metadata.plugin_data.plugin_name == "text"}

    assert numbers == pytest.approx(expected_numbers(finished_run))  # float32 on disk
    assert "vlrewardbench/accuracy/reasoning" not in numbers  # undefined (null), not logged as 0
    table = texts["samples/text_summary"].splitlines()
    assert table[0].startswith("| id | task | status |") and len(table) == 2 + 3
    assert {line.split(" | ")[0].lstrip("| ") for line in table[2:]} == {"wildvision_a", "RLAIF-V-1", "mmmu_x"}
    config = json.loads("\n".join(line[4:] for line in texts["config/text_summary"].splitlines()))  # code block
    assert config["run_id"] == finished_run.name
    assert not any(p.name == "logs" for p in finished_run.iterdir())  # the run directory is left as it was


# --- wandb (offline) ---------------------------------------------------------------------------------------------


def wandb_records(path: Path) -> Iterator[Any]:
    """wandb's transaction log: a ':W&B' header, then 32 KiB blocks of chunks (crc32, length, type), each
    chunk's CRC32 seeded with its type byte; FULL records, or FIRST/MIDDLE/LAST pieces of one."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a chunk header is padding
            pos += 32768 - pos % 32768
            continue
        crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 0:
            break
        assert zlib.crc32(chunk, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF == crc
        pending += chunk
        if kind in (1, 4):  # FULL, LAST
            yield wandb_internal_pb2.Record.FromString(pending)
            pending = b""


def items(updates: Any) -> dict[str, Any]:
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in updates}


@pytest.fixture
def wandb_env(tmp_path, monkeypatch) -> Iterator[None]:
    """wandb's own folders in tmp_path, and a fresh wandb session: its settings (WANDB_MODE included) are read
    once per process, so without the teardown one test's mode would carry into the next."""
    wandb = pytest.importorskip("wandb")
    for name in ("WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    wandb.teardown()
    yield
    wandb.teardown()


def test_wandb_offline_run_holds_history_summary_config_and_the_samples_table(finished_run, tmp_path, monkeypatch,
                                                                              wandb_env):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)

    (where,) = log_run(finished_run, ["wandb"], project="ur-evals", log_dir=tmp_path / "logs")
    import wandb

    wandb.teardown()  # the service process writes the transaction log; stopping it flushes the file for reading
    run_folder = Path(where)
    assert run_folder.parent == tmp_path / "logs" / "wandb" and run_folder.name.startswith("offline-run-")
    (log,) = run_folder.glob("run-*.wandb")
    records = list(wandb_records(log))
    kinds = [r.WhichOneof("record_type") for r in records]
    assert kinds[0] == "header" and kinds[-1] == "exit"

    (run,) = [r.run for r in records if r.HasField("run")]
    assert run.display_name == finished_run.name and run.project == "ur-evals" and list(run.tags) == ["vlrewardbench"]
    config = items(run.config.update)
    assert config["run_id"] == finished_run.name and config["model"]["adapter"] == "scripted"
    history: dict[str, Any] = {}
    for r in records:
        if r.HasField("history"):
            history.update(items(r.history.item))
    summary: dict[str, Any] = {}
    for r in records:
        if r.HasField("summary"):
            summary.update(items(r.summary.update))
    expected = expected_numbers(finished_run)
    assert {k: history[k] for k in expected} == expected
    assert {k: summary[k] for k in expected} == expected
    assert history["samples/_type"] == "table-file"

    table = json.loads((run_folder / "files" / summary["samples/path"]).read_text())
    record = read_run(finished_run)
    assert table["columns"] == list(record.columns)
    assert sorted(r[0] for r in table["data"]) == ["RLAIF-V-1", "mmmu_x", "wildvision_a"]
    assert [list(r) for r in record.rows] == table["data"]


def test_wandb_without_a_login_says_to_log_in_or_go_offline(finished_run, tmp_path, monkeypatch, wandb_env):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.netrc login
    monkeypatch.setenv("NETRC", str(tmp_path / "home" / ".netrc"))
    for name in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(UsageError, match=r"--log-to wandb: .*\(or set WANDB_MODE=offline"):
        log_run(finished_run, ["wandb"], log_dir=tmp_path / "logs")


# --- through the command line ------------------------------------------------------------------------------


def test_run_log_to_tensorboard_prints_where_and_keeps_the_run_dir_last(tmp_path, capsys):
    pytest.importorskip("tensorboardX")
    from harness.cli import main

    data = make_data_dir(tmp_path / "data", [row("wildvision_a", "wildvision-battle")])
    code = main(["run", "--tasks", "vlrewardbench", "--model", "scripted", "--data-dir", str(data),
                 "--output", str(tmp_path / "runs"), "--no-cache", "-q", "--log-to", "tensorboard",
                 "--log-dir", str(tmp_path / "logs")])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    run_dir = Path(out[-1])
    assert out[-2] == f"logged to tensorboard: {tmp_path / 'logs' / 'tensorboard' / run_dir.name}"
    assert list((tmp_path / "logs" / "tensorboard" / run_dir.name).glob("events.out.tfevents.*"))


def test_run_log_to_an_unknown_target_fails_before_the_run(tmp_path, capsys):
    from harness.cli import main

    data = make_data_dir(tmp_path / "data", [row("wildvision_a", "wildvision-battle")])
    code = main(["run", "--tasks", "vlrewardbench", "--model", "scripted", "--data-dir", str(data),
                 "--output", str(tmp_path / "runs"), "--no-cache", "-q", "--log-to", "mlflow"])
    assert code == 2
    assert "--log-to mlflow: valid targets are" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # nothing was judged or written
