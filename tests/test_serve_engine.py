"""The managed engine (harness/serve/engine.py) against a stand-in executable (tests/fake_engine.py), never a real
vLLM or SGLang: the command lines each replica gets, health waiting, failures quoting the engine's log, the
`openai` adapter judging through the replicas, and stopping (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.serve import engine as eng
from harness.serve.engine import EngineConfig, ManagedEngine

FAKE = Path(__file__).with_name("fake_engine.py")
STAND_IN = f"{shlex.quote(sys.executable)} {shlex.quote(str(FAKE))}"


def config(tmp_path: Path, **overrides: object) -> EngineConfig:
    values: dict[str, object] = dict(engine="vllm", model_path="CodeGoat24/UnifiedReward-2.0-qwen-7b",
                                     executable=STAND_IN, log_dir=str(tmp_path / "logs"), startup_timeout=20.0,
                                     stop_timeout=5.0)
    values.update(overrides)
    return EngineConfig(**values)  # type: ignore[arg-type]


def flags(argv: tuple[str, ...] | list[str]) -> dict[str, str | None]:
    """`--flag value` / `--switch` pairs of a command line."""
    out: dict[str, str | None] = {}
    for i, token in enumerate(argv):
        if token.startswith("--"):
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            out[token] = nxt if nxt is not None and not nxt.startswith("--") else None
    return out


def gone(pid: int, wait: float = 5.0) -> bool:
    """Whether `pid` has exited (a zombie waiting for a parent that is not us counts as exited)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            os.kill(pid, 0)
            state = Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1].split()[0]
        except (ProcessLookupError, FileNotFoundError):
            return True
        except (OSError, IndexError):
            state = "?"
        if state == "Z":
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def no_parent_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


# ---- command lines ------------------------------------------------------------------------------------------

def test_vllm_command_has_the_qwen_family_flags(tmp_path: Path) -> None:
    [replica] = eng.plan(config(tmp_path, base_port=9100), tmp_path)
    argv = list(replica.argv)
    assert argv[:4] == [sys.executable, str(FAKE), "serve", "CodeGoat24/UnifiedReward-2.0-qwen-7b"]
    got = flags(argv)
    assert json.loads(got["--limit-mm-per-prompt"] or "") == {"image": 32}
    assert got["--host"] == "127.0.0.1" and got["--port"] == "9100"
    assert got["--served-model-name"] == "CodeGoat24/UnifiedReward-2.0-qwen-7b"
    assert "--enable-prefix-caching" in got and "--trust-remote-code" in got
    assert "--default-chat-template-kwargs" not in got  # only for Qwen3.5 checkpoints
    assert "--chat-template" not in got


def test_vllm_qwen35_turns_thinking_off(tmp_path: Path) -> None:
    [replica] = eng.plan(config(tmp_path, model_path="CodeGoat24/UnifiedReward-2.0-qwen35-9b", base_port=9100),
                         tmp_path)
    assert json.loads(flags(replica.argv)["--default-chat-template-kwargs"] or "") == {"enable_thinking": False}


def test_sglang_llava_gets_the_chatml_llava_template_and_multi_image_parts(tmp_path: Path) -> None:
    cfg = config(tmp_path, engine="sglang", model_path="CodeGoat24/UnifiedReward-7b-v1.5", base_port=9100)
    [replica] = eng.plan(cfg, tmp_path)
    argv = list(replica.argv)
    assert argv[2:5] == ["-m", "sglang.launch_server", "--model-path"]
    got = flags(argv)
    assert got["--chat-template"] == "chatml-llava" and got["--mem-fraction-static"] == "0.85"
    assert "--limit-mm-per-prompt" not in got  # a vLLM flag


def test_sglang_qwen_keeps_the_tokenizer_template(tmp_path: Path) -> None:
    cfg = config(tmp_path, engine="sglang", model_path="CodeGoat24/UnifiedReward-qwen-7b", base_port=9100)
    assert "--chat-template" not in flags(eng.plan(cfg, tmp_path)[0].argv)


def test_engine_args_replace_the_recommended_flag_of_the_same_name(tmp_path: Path) -> None:
    cfg = config(tmp_path, base_port=9100, engine_args="--limit-mm-per-prompt.image 8 --gpu_memory_utilization=0.5 "
                                                       "--max-model-len 8192")
    argv = list(eng.plan(cfg, tmp_path)[0].argv)
    assert "--limit-mm-per-prompt" not in argv and "--gpu-memory-utilization" not in argv
    assert argv[-5:] == ["--limit-mm-per-prompt.image", "8", "--gpu_memory_utilization=0.5", "--max-model-len", "8192"]


def test_engine_args_may_not_move_the_port(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--port is set by the launcher"):
        eng.plan(config(tmp_path, engine_args="--port 1234"), tmp_path)


def test_family_from_a_local_checkpoints_config(tmp_path: Path) -> None:
    ckpt = tmp_path / "my-judge"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"model_type": "llava_onevision"}))
    cfg = config(tmp_path, engine="sglang", model_path=str(ckpt), base_port=9100)
    assert flags(eng.plan(cfg, tmp_path)[0].argv)["--chat-template"] == "chatml-llava"
    assert eng.judge_of(cfg).family == "llava"


def test_one_replica_per_gpu_with_its_own_port_and_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5,6")
    replicas = eng.plan(config(tmp_path, gpus=2), tmp_path)
    assert [r.gpu for r in replicas] == ["3", "5"]
    assert len({r.port for r in replicas}) == 2
    with pytest.raises(UsageError, match="only 3 GPU"):
        eng.plan(config(tmp_path, gpus=4), tmp_path)
    with pytest.raises(UsageError, match="at least 1"):
        eng.plan(config(tmp_path, gpus=0), tmp_path)


def test_credentials_are_masked_in_the_shown_command(tmp_path: Path) -> None:
    cfg = config(tmp_path, base_port=9100, engine_args="--api-key sk-abcdefghijklmnopqrstuv --hf-token=hf_x")
    shown = eng.plan(cfg, tmp_path)[0].shown()
    assert "sk-abcdefghijklmnopqrstuv" not in shown and "hf_x" not in shown
    assert "--api-key '***'" in shown or "--api-key ***" in shown


def test_missing_executable_is_one_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no vllm anywhere
    with pytest.raises(UsageError, match="pip install vllm"):
        eng.plan(config(tmp_path, executable=None), tmp_path)
    with pytest.raises(UsageError, match="not an executable"):
        eng.plan(config(tmp_path, executable=str(tmp_path / "nope")), tmp_path)


def test_cli_flags_build_the_config() -> None:
    parser = argparse.ArgumentParser()
    eng.add_engine_arguments(parser)
    args = parser.parse_args(["--engine", "sglang", "--model-path", "M", "--gpus", "2", "--engine-args", "--x 1"])
    cfg = eng.engine_config(args, family="llava")
    assert cfg is not None and (cfg.engine, cfg.model_path, cfg.gpus, cfg.engine_args, cfg.family) == (
        "sglang", "M", 2, "--x 1", "llava")
    assert eng.engine_config(parser.parse_args([])) is None
    with pytest.raises(UsageError, match="give --engine"):
        eng.engine_config(parser.parse_args(["--model-path", "M"]))


# ---- running the stand-in -----------------------------------------------------------------------------------

def test_two_replicas_start_serve_the_openai_adapter_and_stop(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.records import Generation, PreparedRequest, Request
    from reward.openai_api import OpenAIAdapter

    record = tmp_path / "record"
    record.mkdir()
    monkeypatch.setenv("FAKE_ENGINE_RECORD", str(record))
    monkeypatch.setenv("FAKE_ENGINE_REPLY", "Final Score: 4")
    with ManagedEngine(config(tmp_path, gpus=2)) as engine:
        assert engine.alive() == [True, True]
        args = engine.model_args()
        urls = args["base_url"].split("|")
        assert urls == [f"{r.url}/v1" for r in engine.replicas] and len(set(urls)) == 2
        assert args["model"] == "CodeGoat24/UnifiedReward-2.0-qwen-7b" and args["family"] == "unifiedreward-2.0"
        seen = {json.loads(p.read_text())["cuda"] for p in record.glob("*.json")}
        assert seen == {"0", "1"}
        pids = [json.loads(p.read_text())["pid"] for p in record.glob("*.json")]

        adapter = OpenAIAdapter.from_args(eng.merged_model_args(engine, "openai", {"concurrency": "4"}))
        requests = [PreparedRequest(Request(f"k{i}", f"s{i}", (f"rate {i}",), Generation(max_new_tokens=8)), (),
                                    f"h{i}") for i in range(6)]
        replies = list(adapter.generate(requests))
        adapter.close()
        assert sorted(r.key for r in replies) == [f"k{i}" for i in range(6)]
        assert all(r.ok and r.text == "Final Score: 4" for r in replies)
        import urllib.request

        served = [json.loads(urllib.request.urlopen(f"{r.url}/stats").read())["chat"] for r in engine.replicas]
        assert served == [3, 3]  # request i goes to replica i mod 2
    assert engine.alive() == []
    assert all(gone(pid) for pid in pids)


def test_an_engine_that_exits_is_reported_with_its_last_log_lines(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_ENGINE_MODE", "exit")
    with pytest.raises(UsageError) as caught:
        ManagedEngine(config(tmp_path, gpus=2)).start()
    message = str(caught.value)
    assert "exited with code 3 before it was healthy" in message
    assert "CUDA out of memory while loading weights" in message and "giving up" in message
    assert "replica-0.log" in message or "replica-1.log" in message


def test_an_engine_that_never_gets_healthy_times_out_and_is_killed(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    record = tmp_path / "record"
    record.mkdir()
    monkeypatch.setenv("FAKE_ENGINE_RECORD", str(record))
    monkeypatch.setenv("FAKE_ENGINE_MODE", "never")
    start = time.monotonic()
    with pytest.raises(UsageError, match=r"did not answer GET /health within 1.5 s(.|\n)*fake engine: loading"):
        ManagedEngine(config(tmp_path, startup_timeout=1.5)).start()
    assert time.monotonic() - start < 15
    [pid] = [json.loads(p.read_text())["pid"] for p in record.glob("*.json")]
    assert gone(pid)


def test_an_engine_that_ignores_sigterm_is_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = tmp_path / "record"
    record.mkdir()
    monkeypatch.setenv("FAKE_ENGINE_RECORD", str(record))
    monkeypatch.setenv("FAKE_ENGINE_MODE", "stubborn")
    engine = ManagedEngine(config(tmp_path, stop_timeout=0.5)).start()
    [pid] = [json.loads(p.read_text())["pid"] for p in record.glob("*.json")]
    engine.stop()
    assert gone(pid)
    assert "ignoring SIGTERM" in eng.log_tail(engine.replicas[0].log_path)
    engine.stop()  # idempotent


def test_workers_left_in_the_group_are_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = tmp_path / "record"
    record.mkdir()
    monkeypatch.setenv("FAKE_ENGINE_RECORD", str(record))
    monkeypatch.setenv("FAKE_ENGINE_MODE", "workers")
    engine = ManagedEngine(config(tmp_path, stop_timeout=2.0)).start()
    [info] = [json.loads(p.read_text()) for p in record.glob("*.json")]
    assert not gone(info["worker"], wait=0)
    engine.stop()
    assert gone(info["pid"]) and gone(info["worker"])


def test_merged_model_args_refuses_a_second_url_or_another_adapter(tmp_path: Path) -> None:
    engine = ManagedEngine(config(tmp_path))
    engine.replicas = eng.plan(config(tmp_path, base_port=9100), tmp_path)
    with pytest.raises(UsageError, match="give one"):
        eng.merged_model_args(engine, "openai", {"base_url": "http://x/v1"})
    with pytest.raises(UsageError, match="drop --model hf"):
        eng.merged_model_args(engine, "hf", {})
    assert eng.merged_model_args(engine, "openai", {"model": "X"})["model"] == "X"


def test_harness_serve_with_a_managed_engine_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m harness serve --engine vllm ...` in its own process starts two stand-in replicas, scores through
    them, and stops them when the service gets SIGTERM."""
    import re
    import selectors
    import signal
    import subprocess

    import numpy as np

    from harness.serve.client import RewardClient

    record = tmp_path / "record"
    record.mkdir()
    env = dict(os.environ, FAKE_ENGINE_RECORD=str(record),
               FAKE_ENGINE_REPLY="Alignment Score (1-5): 4\nCoherence Score (1-5): 3\nStyle Score (1-5): 2")
    service = subprocess.Popen(
        [sys.executable, "-m", "harness", "serve", "--engine", "vllm",
         "--model-path", "CodeGoat24/UnifiedReward-2.0-qwen-7b", "--gpus", "2", "--engine-exe", STAND_IN,
         "--engine-timeout", "30", "--port", "0", "--no-cache"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    assert service.stdout is not None
    seen, deadline = b"", time.monotonic() + 60
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(service.stdout, selectors.EVENT_READ)
            while (found := re.search(rb"reward service on (http://\S+?):? ", seen)) is None:
                assert time.monotonic() < deadline and service.poll() is None, seen.decode(errors="replace")
                if selector.select(0.2):
                    seen += os.read(service.stdout.fileno(), 65536)
        with RewardClient(found.group(1).decode()) as client:
            result = client.pointwise([("a cat", np.zeros((8, 8, 3), np.uint8))] * 4)
        assert result.rewards() == [3.0] * 4 and result.mask() == [True] * 4
        pids = [json.loads(p.read_text())["pid"] for p in record.glob("*.json")]
        assert len(pids) == 2 and not any(gone(pid, wait=0) for pid in pids)
    finally:
        service.send_signal(signal.SIGTERM)
        code = service.wait(60)
    assert code == 0
    assert all(gone(pid) for pid in pids)


def test_harness_run_with_a_managed_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`harness run --engine vllm ...`: the data is checked before the engine starts (a missing --data-dir starts
    nothing), then the run is judged through the stand-in's endpoint and the engine is stopped after it."""
    from harness.cli import main

    from .conftest import make_data_dir, only_run_dir, row

    record = tmp_path / "record"
    record.mkdir()
    monkeypatch.setenv("FAKE_ENGINE_RECORD", str(record))
    monkeypatch.setenv("FAKE_ENGINE_REPLY", "Overall Judgment: Answer 1 is better.")
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    engine = ["--engine", "vllm", "--model-path", "CodeGoat24/UnifiedReward-2.0-qwen-7b", "--engine-exe", STAND_IN,
              "--engine-timeout", "30"]
    assert main(["run", "--tasks", "vlrewardbench", "--data-dir", str(tmp_path / "missing"), "--output",
                 str(tmp_path / "runs"), *engine]) == 2
    assert list(record.glob("*.json")) == []  # refused before any engine started
    data = make_data_dir(tmp_path / "data", [row(f"r{i}", "povid", (0, 1)) for i in range(4)])
    assert main(["run", "--tasks", "vlrewardbench", "--data-dir", str(data), "--output", str(tmp_path / "runs"),
                 "--progress", "none", *engine]) == 0
    results = json.loads((only_run_dir(tmp_path / "runs") / "results.json").read_text())
    assert results["model"]["adapter"] == "openai" and results["model"]["family"] == "unifiedreward-2.0"
    assert results["tasks"]["vlrewardbench"]["counts"] == {"n": 4, "n_invalid": 0, "n_error": 0}
    [started] = [json.loads(p.read_text()) for p in record.glob("*.json")]
    assert gone(started["pid"])  # stopped when the run ended
