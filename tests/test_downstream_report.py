"""Tables 8 and 9 regenerated from downstream runs through `harness report`: a VBench run whose dimension
scores give T2V-Turbo's published Quality/Semantic lands in Table 8's baseline row with Δ = 0, and a
PartiPrompts scoring run is placed by the generator it scored (Table 9's SDXL-Turbo row), not by the scorer."""

from __future__ import annotations

import json
from typing import Any

from alignment.generate import PromptItem, generate
from harness.cli import main
from reward.scores import ScoresAdapter
from tasks.vbench import VBenchResultsAdapter

from .test_downstream import StubImagePolicy, read_jsonl, run_task, scores_at


class SDXLTurboStub(StubImagePolicy):
    def identity(self) -> dict[str, Any]:
        return {"model": "stabilityai/sdxl-turbo", "policy": "stub-image"}


def test_tables_8_and_9_from_downstream_runs(tmp_path, capsys):
    results = tmp_path / "evaluation_results"
    results.mkdir()
    raw = scores_at(0.8271, 0.7393)
    (results / "all_eval_results.json").write_text(json.dumps({d: [s, []] for d, s in raw.items()}))
    run_task(tmp_path, "vbench", VBenchResultsAdapter(str(results), name="T2V-Turbo"))

    images = tmp_path / "sdxl-turbo-parti"
    generate(SDXLTurboStub(), [PromptItem("PartiPrompts-0000", "a red cube")], 2, images, naming="index", seed=0)
    scores = tmp_path / "pick.jsonl"
    scores.write_text("".join(json.dumps({"media": r["path"], "score": 21.5}) + "\n"
                              for r in read_jsonl(images / "manifest.jsonl")))
    run_task(tmp_path, "partiprompts_gen", ScoresAdapter(path=str(scores), name="pickscore-v1"), images,
             protocol="pickscore")

    capsys.readouterr()
    assert main(["report", "--runs", str(tmp_path / "runs"), "--table", "8"]) == 0
    table8 = capsys.readouterr().out
    row = next(line for line in table8.splitlines() if line.startswith("| T2V-Turbo (baseline)"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2].startswith("80.95") and cells[3:5] == ["80.95", "0.00"]  # Total: ours, paper, Δ
    assert cells[5].startswith("82.71") and cells[6:8] == ["82.71", "0.00"]  # Quality
    assert main(["report", "--runs", str(tmp_path / "runs"), "--table", "9"]) == 0
    table9 = capsys.readouterr().out
    row = next(line for line in table9.splitlines() if line.startswith("| SDXL-Turbo (baseline)"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert "stabilityai/sdxl-turbo" in cells[1]
    assert cells[2].startswith("21.50") and cells[3] == "43.24" and cells[4] == "-21.74"
