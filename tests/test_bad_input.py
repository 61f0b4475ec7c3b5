"""Bad input: usage errors exit 2 with one line; per-sample problems are counted and the run goes on;
`--strict` stops at the first one, naming it."""

from __future__ import annotations

import json

import pytest

from harness.cli import main

from .conftest import make_data_dir, only_run_dir, read_jsonl, row


def cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("args, needle", [
    (["--tasks", "nope", "--model", "scripted"], "unknown task 'nope'; valid names: editreward_bench_editscore, "
                                                 "editreward_bench_tiger, genai_bench_edit, genai_bench_image, "),
    (["--tasks", "vlrewardbench", "--model", "gpt9"],
     "unknown model 'gpt9'; valid names: hf, openai, pickscore, "),
    (["--tasks", "vlrewardbench", "--model", "scripted", "--protocol", "loose"],
     "no protocol 'loose'; valid names: official, strict, unifiedreward"),
    (["--tasks", "vlrewardbench", "--model", "scripted", "--model-args", "temprature=0"],
     "model 'scripted' has no argument 'temprature'"),
    (["--tasks", "vlrewardbench", "--model", "replay"], "model 'replay' needs path=..."),
    (["--tasks", "vlrewardbench", "--model", "scripted", "--split", "train"], "no split 'train'; valid names: test"),
])
def test_usage_errors_are_one_line_exit_2(capsys, tmp_path, args, needle):
    code, out, err = cli(capsys, "run", *args, "--output", str(tmp_path))
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir()), "nothing may be written for a usage error"


def test_data_dir_without_data_jsonl(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = cli(capsys, "run", "--tasks", "vlrewardbench", "--model", "scripted", "--data-dir", str(empty),
                       "--output", str(tmp_path / "runs"))
    assert code == 2
    assert f"--data-dir {empty}: no data.jsonl there" in err


def broken_dir(tmp_path):
    rows = [
        row("wildvision_ok", "wildvision-battle"),
        row("wildvision_missing_image", "wildvision-battle"),
        row("wildvision_corrupt_image", "wildvision-battle"),
        {k: v for k, v in row("RLHF-no-response", "rlhf-v").items() if k != "response"},
        row("RLHF-bad-ranking", "rlhf-v", ranking=(0, 0)),
        row("RLHF-ok", "rlhf-v"),
    ]
    data = make_data_dir(tmp_path / "data", rows)
    (data / rows[1]["image_path"]).unlink()
    (data / rows[2]["image_path"]).write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with open(data / "data.jsonl", "a") as f:
        f.write('{"id": "torn", "query": \n')  # a malformed JSON line
    return data


def test_bad_rows_and_media_are_counted_and_the_run_completes(capsys, tmp_path):
    data = broken_dir(tmp_path)
    code, out, err = cli(capsys, "run", "--tasks", "vlrewardbench", "--model", "scripted", "--data-dir", str(data),
                         "--output", str(tmp_path / "runs"), "--model-args",
                         "replies=Overall Judgment: Answer 1 is better.")
    assert code == 0, err
    run_dir = only_run_dir(tmp_path / "runs")
    assert out.strip().splitlines()[-1] == str(run_dir)
    records = {r["id"]: r for r in read_jsonl(run_dir / "vlrewardbench.samples.jsonl")}
    assert len(records) == 7
    assert "line-7" in records  # the malformed line is named by its line number
    assert records["wildvision_ok"]["status"] == "ok"
    missing = records["wildvision_missing_image"]
    assert (missing["status"], missing["stage"]) == ("error", "media")
    assert "images/wildvision-battle/wildvision_missing_image.jpg: image file not found" in missing["reason"]
    corrupt = records["wildvision_corrupt_image"]
    assert (corrupt["status"], corrupt["stage"]) == ("error", "media") and "corrupt or unreadable" in corrupt["reason"]
    assert "field 'response' must be a list of 2 strings" in records["RLHF-no-response"]["reason"]
    assert "field 'human_ranking' must be [0, 1] or [1, 0], got [0, 0]" in records["RLHF-bad-ranking"]["reason"]
    assert "malformed JSON" in records["line-7"]["reason"] and records["line-7"]["stage"] == "load"
    results = json.loads((run_dir / "results.json").read_text())["tasks"]["vlrewardbench"]
    assert results["counts"] == {"n": 7, "n_invalid": 0, "n_error": 5}
    assert results["errors"] == {"error/media": 2, "error/load": 3}


def test_strict_stops_on_a_malformed_row_before_any_judging(capsys, tmp_path):
    data = make_data_dir(tmp_path / "data", [row("wildvision_ok", "wildvision-battle"),
                                            row("RLHF-bad", "rlhf-v", ranking=(2, 0))])
    code, _, err = cli(capsys, "run", "--tasks", "vlrewardbench", "--model", "scripted", "--data-dir", str(data),
                       "--output", str(tmp_path / "runs"), "--strict")
    assert code == 1
    assert "sample 'RLHF-bad' failed at load: data.jsonl line 2 (id RLHF-bad)" in err


def test_empty_reply_is_invalid_with_its_reason(capsys, tmp_path):
    data = make_data_dir(tmp_path / "data", [row("wildvision_a", "wildvision-battle")])
    replay = tmp_path / "replies.jsonl"
    replay.write_text(json.dumps({"id": "wildvision_a", "response": ""}) + "\n")
    code, _, err = cli(capsys, "run", "--tasks", "vlrewardbench", "--model", "replay", "--model-args",
                       f"path={replay}", "--data-dir", str(data), "--output", str(tmp_path / "runs"))
    assert code == 0, err
    record = read_jsonl(only_run_dir(tmp_path / "runs") / "vlrewardbench.samples.jsonl")[0]
    assert (record["status"], record["reason"]) == ("invalid", "empty reply")


def test_strict_stops_naming_the_sample(capsys, tmp_path):
    data = make_data_dir(tmp_path / "data", [row("wildvision_ok", "wildvision-battle"),
                                            row("wildvision_missing_image", "wildvision-battle")])
    (data / "images/wildvision-battle/wildvision_missing_image.jpg").unlink()
    code, _, err = cli(capsys, "run", "--tasks", "vlrewardbench", "--model", "scripted", "--data-dir", str(data),
                       "--output", str(tmp_path / "runs"), "--strict")
    assert code == 1
    assert "sample 'wildvision_missing_image' failed at media" in err
    assert not (only_run_dir(tmp_path / "runs") / "results.json").exists()


def test_replay_without_a_reply_for_a_sample_is_an_error(capsys, tmp_path):
    data = make_data_dir(tmp_path / "data", [row("wildvision_a", "wildvision-battle"),
                                            row("wildvision_b", "wildvision-battle")])
    replay = tmp_path / "replies.jsonl"
    replay.write_text(json.dumps({"id": "wildvision_a", "response": "Answer 1 is better"}) + "\n")
    code, _, _ = cli(capsys, "run", "--tasks", "vlrewardbench", "--model", "replay", "--model-args", f"path={replay}",
                     "--data-dir", str(data), "--output", str(tmp_path / "runs"))
    assert code == 0
    records = {r["id"]: r for r in read_jsonl(only_run_dir(tmp_path / "runs") / "vlrewardbench.samples.jsonl")}
    assert records["wildvision_b"]["status"] == "error"
    assert records["wildvision_b"]["reason"] == "no reply for id 'wildvision_b' in replies.jsonl"


# ---- failures knowable before the work fail before it (one line, exit 2, no run directory) -----------

def test_bad_seed_fails_before_any_judging(tmp_path, capsys):
    data = make_data_dir(tmp_path / "d", [row("RLAIF-V-1", "rlaif-v")])
    code, _, err = cli(capsys, "run", "--tasks", "vlrewardbench", "--model", "scripted", "--data-dir", str(data),
                       "--seed", "-3", "--output", str(tmp_path / "runs"))
    assert code == 2 and err.count("\n") == 1 and "--seed -3" in err
    assert not (tmp_path / "runs").exists()


def test_every_tasks_data_is_checked_before_the_first_task_is_judged(tmp_path, capsys):
    data = make_data_dir(tmp_path / "d", [row("RLAIF-V-1", "rlaif-v")])  # no image_generation.jsonl
    code, _, err = cli(capsys, "run", "--tasks", "vlrewardbench,genai_bench_image", "--model", "scripted",
                       "--data-dir", str(data), "--output", str(tmp_path / "runs"))
    assert code == 2 and "image_generation.jsonl" in err
    assert not (tmp_path / "runs").exists()  # vlrewardbench was not judged first


@pytest.mark.parametrize("where", ["output", "cache"])
def test_output_and_cache_locations_must_be_writable_directories(where, tmp_path, capsys):
    data = make_data_dir(tmp_path / "d", [row("RLAIF-V-1", "rlaif-v")])
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    output = blocker / "runs" if where == "output" else tmp_path / "runs"
    extra = ["--cache-path", str(blocker / "judgments.sqlite")] if where == "cache" else []
    code, _, err = cli(capsys, "run", "--tasks", "vlrewardbench", "--model", "scripted", "--data-dir", str(data),
                       "--output", str(output), *extra)
    assert code == 2 and f"{blocker} is a file, not a directory" in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_cuda_device_on_a_machine_without_one_is_one_line(tmp_path, capsys):
    pytest.importorskip("transformers")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    from reward.testing.tiny_models import save_tiny

    judge = save_tiny("qwen2_vl", tmp_path / "judge")
    data = make_data_dir(tmp_path / "d", [row("RLAIF-V-1", "rlaif-v")])
    code, _, err = cli(capsys, "run", "--tasks", "vlrewardbench", "--model", "hf", "--model-args",
                       f"pretrained={judge},device=cuda:0", "--data-dir", str(data), "--output", str(tmp_path / "r"))
    assert code == 2 and err.count("\n") == 1 and "device=cuda:0" in err and "device=cpu" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("argv, extra", [(["run", "--tasks", "vlrewardbench", "--model", "hf", "--model-args",
                                           "pretrained=x"], "hf"),
                                         (["convert-llava", "src", "dst"], "hf")])
def test_a_command_without_its_extra_names_the_install(argv, extra, tmp_path):
    """A core install (torch absent, simulated by blocking the import in a fresh interpreter)."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['torch'] = None; from harness.cli import main; "
            f"raise SystemExit(main({argv!r}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**__import__("os").environ, "PYTHONPATH": str(__import__("pathlib").Path(
                              __file__).resolve().parents[1])})
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert f"needs the `{extra}` extra" in line and f'-e ".[{extra}]"' in line and "Traceback" not in proc.stderr


def test_an_unreachable_hub_is_one_line_at_once_with_what_to_do(monkeypatch, tmp_path, capsys):
    """No name resolution (no network): no hub client call and its retries, a one-line answer instead."""
    import socket

    import datasets

    def no_dns(*args, **kwargs):
        raise socket.gaierror("Name or service not known")

    def must_not_run(*args, **kwargs):
        raise AssertionError("the hub client was called")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(datasets, "load_dataset", must_not_run)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for task in ("vlrewardbench", "genai_bench_image", "videogen_rewardbench"):
        code, _, err = cli(capsys, "run", "--tasks", task, "--model", "scripted", "--output", str(tmp_path / "r"))
        assert code == 2 and err.count("\n") == 1, err
        assert "does not resolve" in err and "--data-dir" in err and "HF_HUB_OFFLINE=1" in err
    assert not (tmp_path / "r").exists()
    pytest.importorskip("transformers")
    data = make_data_dir(tmp_path / "d", [row("RLAIF-V-1", "rlaif-v")])
    code, _, err = cli(capsys, "run", "--tasks", "vlrewardbench", "--model", "hf", "--model-args",
                       "pretrained=CodeGoat24/UnifiedReward-qwen-7b", "--data-dir", str(data), "--output",
                       str(tmp_path / "r"))
    assert code == 2 and "not a local directory and the hub is unreachable" in err
