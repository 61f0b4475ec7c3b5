"""`harness push`: a finished run uploaded to a dataset repo of a LOCAL stand-in of the hub's HTTP API.

The stand-in implements exactly the endpoints huggingface_hub's `HfApi.create_repo`, `create_branch` and
`create_commit` call for small files (huggingface_hub 2.x, hf_api.py and _commit_api.py):
`POST /api/repos/create`, `POST /api/datasets/{repo}/branch/{branch}`, `POST /api/datasets/{repo}/preupload/{rev}`
(answered "regular" for every file, so no LFS or xet transfer is asked for) and
`POST /api/datasets/{repo}/commit/{rev}` (NDJSON: a header line, then one `file` line per file with base64
content). It writes the committed files to a folder, and the tests compare them byte for byte with the run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

import harness
from harness.errors import UsageError
from harness.push import PushFailed, plan_push, push_run

from .conftest import make_data_dir, row

TOKEN = "hf_" + "T" * 34  # the shape of a real token, so the secret patterns would know it


@dataclass
class HubStandIn:
    """What the stand-in received: repos created, branches, commits (header + files), every request line."""

    root: Path
    token: str
    repos: dict[str, dict[str, Any]] = field(default_factory=dict)
    branches: list[tuple[str, str]] = field(default_factory=list)
    commits: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    url: str = ""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest's output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 - create_repo's fallback (repo_info) after a refused token
                hub.requests.append(f"GET {self.path.split('?', 1)[0]}")
                if self.headers.get("Authorization") != f"Bearer {hub.token}":
                    return self.reply(401, {"error": "Invalid credentials in Authorization header"})
                return self.reply(404, {"error": "not implemented by the stand-in"})

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.split("?", 1)[0]
                hub.requests.append(f"POST {path}")
                if self.headers.get("Authorization") != f"Bearer {hub.token}":
                    return self.reply(401, {"error": "Invalid credentials in Authorization header"})
                if path == "/api/repos/create":
                    return self.create_repo(json.loads(body))
                parts = path.split("/")  # ['', 'api', 'datasets', owner, name, action, revision...]
                if len(parts) < 7 or parts[:3] != ["", "api", "datasets"]:
                    return self.reply(404, {"error": f"no such endpoint {path}"})
                repo, action, revision = f"{parts[3]}/{parts[4]}", parts[5], "/".join(parts[6:])
                if repo not in hub.repos:
                    return self.reply(404, {"error": f"Repository {repo} not found"})
                if action == "branch":
                    hub.branches.append((repo, revision))
                    return self.reply(200, {})
                if action == "preupload":
                    files = json.loads(body)["files"]
                    return self.reply(200, {"files": [{"path": f["path"], "uploadMode": "regular",
                                                       "shouldIgnore": False, "oid": None} for f in files]})
                if action == "commit":
                    return self.commit(repo, revision, body)
                return self.reply(404, {"error": f"no such endpoint {path}"})

            def create_repo(self, payload: dict[str, Any]) -> None:
                repo = f"{payload['organization']}/{payload['name']}"
                if repo in hub.repos:
                    return self.reply(409, {"error": "You already created this dataset repo",
                                            "url": f"{hub.url}/datasets/{repo}"})
                hub.repos[repo] = payload
                return self.reply(200, {"url": f"{hub.url}/datasets/{repo}"})

            def commit(self, repo: str, revision: str, body: bytes) -> None:
                assert self.headers.get("Content-Type") == "application/x-ndjson"
                lines = [json.loads(line) for line in body.splitlines() if line.strip()]
                header, files = lines[0], lines[1:]
                assert header["key"] == "header" and all(f["key"] == "file" for f in files), lines
                written = []
                for item in files:
                    assert item["value"]["encoding"] == "base64"
                    target = hub.root / repo / revision / item["value"]["path"]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(base64.b64decode(item["value"]["content"]))
                    written.append(item["value"]["path"])
                oid = hashlib.sha1(body).hexdigest()
                hub.commits.append({"repo": repo, "revision": revision, "header": header["value"], "files": written})
                return self.reply(200, {"commitUrl": f"{hub.url}/datasets/{repo}/commit/{oid}", "commitOid": oid,
                                        "pullRequestUrl": None})

            def reply(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


@pytest.fixture
def hub(tmp_path, monkeypatch) -> Iterator[HubStandIn]:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    stand_in = HubStandIn(root=tmp_path / "hub", token=TOKEN)
    server = ThreadingHTTPServer(("127.0.0.1", 0), stand_in.handler())
    stand_in.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A real two-sample run of the scripted judge (one sample fails on purpose, so an error line is there)."""
    root = tmp_path_factory.mktemp("run")
    data = make_data_dir(root / "data", [row("wildvision_a", "wildvision-battle"),
                                         row("RLAIF-V-1", "rlaif-v", ranking=(1, 0))])
    outcome = harness.evaluate(tasks=["vlrewardbench"], model="scripted", model_args={"fail_rate": 0.3},
                               data_dir=data, output=root / "runs", progress="none", use_cache=False,
                               cache_path=root / "cache.sqlite")
    return Path(outcome.dir)


def run_files(run_dir: Path) -> dict[str, bytes]:
    return {p.relative_to(run_dir).as_posix(): p.read_bytes() for p in run_dir.rglob("*")
            if p.is_file() and not p.name.startswith(".")}


def test_push_uploads_the_run_byte_for_byte_in_one_named_commit(hub, finished_run):
    url = push_run(finished_run, "me/reward-evals", token=TOKEN, endpoint=hub.url)

    run_id = finished_run.name
    assert hub.repos["me/reward-evals"]["type"] == "dataset"
    assert hub.repos["me/reward-evals"].get("visibility") != "private"
    assert len(hub.commits) == 1 and url == f"{hub.url}/datasets/me/reward-evals/commit/" + url.rsplit("/", 1)[1]
    commit = hub.commits[0]
    assert commit["revision"] == "main"
    assert commit["header"]["summary"] == f"harness run {run_id}: model scripted-v1; tasks vlrewardbench"
    assert "vlrewardbench [strict]" in commit["header"]["description"]  # the run's summary as the description
    local = run_files(finished_run)
    assert set(local) == {"run.json", "results.json", "vlrewardbench.samples.jsonl"}
    uploaded = hub.root / "me/reward-evals" / "main" / "runs" / run_id
    assert run_files(uploaded) == local
    assert (finished_run / ".lock").exists() and not (uploaded / ".lock").exists()  # the lock is not the record
    assert hub.requests == ["POST /api/repos/create", "POST /api/datasets/me/reward-evals/preupload/main",
                            "POST /api/datasets/me/reward-evals/commit/main"]


def test_push_again_into_an_existing_repo_on_a_branch_and_folder(hub, finished_run):
    push_run(finished_run, "me/reward-evals", token=TOKEN, endpoint=hub.url)
    push_run(finished_run, "me/reward-evals", token=TOKEN, endpoint=hub.url, path_in_repo="ci/baseline/",
             revision="gate", private=True)

    assert len(hub.repos) == 1 and len(hub.commits) == 2  # the existing repo (409) was reused, not an error
    assert hub.branches == [("me/reward-evals", "gate")]
    second = hub.commits[1]
    assert second["revision"] == "gate"
    assert sorted(second["files"]) == ["ci/baseline/results.json", "ci/baseline/run.json",
                                       "ci/baseline/vlrewardbench.samples.jsonl"]
    assert run_files(hub.root / "me/reward-evals" / "gate" / "ci" / "baseline") == run_files(finished_run)


def test_private_repo_is_created_private(hub, finished_run):
    push_run(finished_run, "me/private-evals", token=TOKEN, endpoint=hub.url, private=True)
    assert hub.repos["me/private-evals"]["visibility"] == "private"


def test_the_cli_entry_prints_the_commit_url_last_and_never_the_token(hub, finished_run, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", hub.url)  # read once at import
    from harness.cli import main as harness_main

    assert harness_main(["push", str(finished_run), "--repo", "me/cli-evals"]) == 0  # `harness push` itself
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    run_id = finished_run.name
    assert lines[0] == f"pushed 3 files of run {run_id} to dataset me/cli-evals under runs/{run_id}/"
    assert lines[-1].startswith(f"{hub.url}/datasets/me/cli-evals/commit/")
    assert TOKEN not in out.out + out.err


def test_a_refused_token_is_one_clear_error_without_the_token(hub, finished_run):
    wrong = "hf_" + "W" * 34
    with pytest.raises(PushFailed) as err:
        push_run(finished_run, "me/reward-evals", token=wrong, endpoint=hub.url)
    message = str(err.value)
    assert "refused the token" in message and "hf auth login" in message and wrong not in message
    assert hub.commits == []


def test_an_unreachable_hub_is_a_push_failure_not_a_traceback(finished_run, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(PushFailed, match="push to dataset repo me/reward-evals failed"):
        push_run(finished_run, "me/reward-evals", token=TOKEN, endpoint="http://127.0.0.1:9")  # discard port


# --- everything below fails before any request: the stand-in must see nothing ---------------------------


def test_an_unfinished_run_is_refused_naming_results_json(hub, finished_run, tmp_path):
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "run.json").write_bytes((finished_run / "run.json").read_bytes())
    with pytest.raises(UsageError, match=r"no results\.json \(an unfinished run"):
        push_run(unfinished, "me/reward-evals", token=TOKEN, endpoint=hub.url)
    (unfinished / "results.json").write_text("{not json")
    with pytest.raises(UsageError, match=r"results\.json: not readable as JSON"):
        push_run(unfinished, "me/reward-evals", token=TOKEN, endpoint=hub.url)
    with pytest.raises(UsageError, match="no such run directory"):
        push_run(tmp_path / "missing", "me/reward-evals", token=TOKEN, endpoint=hub.url)
    assert hub.requests == []


@pytest.mark.parametrize("repo", ["reward-evals", "me/", "/x", "me/evals/extra", "me/ev als", "me/evals--x", ""])
def test_a_repo_id_that_is_not_owner_slash_name_is_refused(hub, finished_run, repo):
    with pytest.raises(UsageError, match="--repo"):
        push_run(finished_run, repo, token=TOKEN, endpoint=hub.url)
    assert hub.requests == []


@pytest.mark.parametrize("path", ["../escape", "a/../../b", "", "/", "a\\b"])
def test_a_path_in_repo_outside_the_repo_is_refused(hub, finished_run, path):
    with pytest.raises(UsageError, match="--path-in-repo"):
        push_run(finished_run, "me/reward-evals", path_in_repo=path, token=TOKEN, endpoint=hub.url)
    assert hub.requests == []


def test_no_token_says_how_to_log_in(hub, finished_run, monkeypatch, tmp_path):
    import huggingface_hub

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)  # no stored login either
    with pytest.raises(UsageError, match=r"no Hugging Face token to push with: log in with `hf auth login`"):
        push_run(finished_run, "me/reward-evals", endpoint=hub.url)
    assert hub.requests == []


def test_offline_mode_is_refused_before_any_request(hub, finished_run, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UsageError, match="HF_HUB_OFFLINE is set"):
        push_run(finished_run, "me/reward-evals", token=TOKEN, endpoint=hub.url)
    assert hub.requests == []


def copy_run(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for name, data in run_files(src).items():
        (dst / name).write_bytes(data)
    return dst


def test_a_file_holding_the_token_is_never_uploaded(hub, finished_run, tmp_path):
    run = copy_run(finished_run, tmp_path / "leaky")
    with open(run / "vlrewardbench.samples.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"id": "x", "status": "error", "reason": f"echoed {TOKEN}"}) + "\n")
    with pytest.raises(UsageError) as err:
        push_run(run, "me/reward-evals", token=TOKEN, endpoint=hub.url)
    assert "vlrewardbench.samples.jsonl contains your Hugging Face token" in str(err.value)
    assert TOKEN not in str(err.value)
    assert hub.requests == []


@pytest.mark.parametrize("where, value", [("api_key", "not-redacted-at-all"), ("base_url", "sk-" + "a" * 24)])
def test_a_header_holding_a_credential_in_clear_is_refused(hub, finished_run, tmp_path, where, value):
    run = copy_run(finished_run, tmp_path / "unredacted")
    results = json.loads((run / "results.json").read_text())
    results["model"]["args"][where] = value
    (run / "results.json").write_text(json.dumps(results))
    with pytest.raises(UsageError, match=rf"results\.json: field model\.args\.{where} holds what looks like a cred"):
        plan_push(run, "me/reward-evals")
    assert hub.requests == []


def test_redacted_and_empty_credentials_pass_the_check(finished_run, tmp_path):
    run = copy_run(finished_run, tmp_path / "redacted")
    results = json.loads((run / "results.json").read_text())
    results["model"]["args"].update(api_key="***", token="")
    (run / "results.json").write_text(json.dumps(results))
    plan = plan_push(run, "me/reward-evals")
    assert [f.relative for f in plan.files] == ["results.json", "run.json", "vlrewardbench.samples.jsonl"]


def test_hidden_temporary_and_linked_files_stay_out_subfolders_go_in(finished_run, tmp_path):
    run = copy_run(finished_run, tmp_path / "extras")
    (run / ".lock").write_text("")
    (run / ".results.json.abc.tmp").write_text("{}")
    (run / "lmms-eval").mkdir()
    (run / "lmms-eval" / "raw.json").write_text("{}")
    (tmp_path / "outside.txt").write_text("not the run's")
    (run / "link.txt").symlink_to(tmp_path / "outside.txt")
    (run / "linked-dir").symlink_to(tmp_path, target_is_directory=True)
    plan = plan_push(run, "me/reward-evals")
    assert [f.relative for f in plan.files] == ["results.json", "run.json", "vlrewardbench.samples.jsonl",
                                                "lmms-eval/raw.json"]


@pytest.mark.network
def test_push_to_the_real_hub(finished_run):
    """Pushes to a real dataset repo: set HF_TOKEN (write access) and HARNESS_PUSH_TEST_REPO=OWNER/NAME."""
    repo = os.environ.get("HARNESS_PUSH_TEST_REPO")
    if not repo or not os.environ.get("HF_TOKEN"):
        pytest.skip("set HF_TOKEN and HARNESS_PUSH_TEST_REPO=OWNER/NAME to push to the real hub")
    from huggingface_hub import HfApi

    url = push_run(finished_run, repo, path_in_repo=f"harness-tests/{finished_run.name}", private=True)
    assert "/commit/" in url
    listed = set(HfApi().list_repo_files(repo, repo_type="dataset"))
    assert {f"harness-tests/{finished_run.name}/{name}" for name in run_files(finished_run)} <= listed
