"""`harness push RUN --repo OWNER/NAME`: upload a finished run directory to a Hugging Face dataset repo.

    python -m harness push runs/20260101T000000-scripted-1234abcd --repo me/reward-evals

The run's files (run.json, results.json, every `<task>.samples.jsonl`, and any folder a run keeps, such
as lmms-eval's raw output) land under `runs/<run_id>/` of the dataset repo in ONE commit whose message
names the run id, its tasks and its judge. The repo is created (public unless `--private`) when missing.

Everything that can be known locally is checked before the first request: the directory is a finished run
(results.json present and readable), the repo id has the OWNER/NAME shape, a token is available
(`HF_TOKEN` or `hf auth login`), the hub is not switched off (`HF_HUB_OFFLINE`), run.json and results.json
hold no credential in clear, and no file holds the token itself. The token is never printed.

The files go through `HfApi.create_commit` with the list of files that were checked, not `upload_folder`:
with `hf_xet` installed, huggingface_hub 2.x sends `upload_folder` through a pipelined uploader that may
split a folder into several commits; a run is small, and one commit of exactly the screened bytes is
what a reader of the repo should get.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator, Sequence

from .errors import HarnessError, UsageError
from .hub import TRUE
from .redaction import REDACTED, secret_fields

#: OWNER/NAME as the hub spells repo ids (huggingface_hub's own validator then checks the finer rules).
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
#: The files whose contents the harness wrote from its configuration: they must hold no credential in clear.
HEADER_FILES = ("run.json", "results.json")
LOGIN_ADVICE = "log in with `hf auth login` (or set HF_TOKEN to a token with write access)"


class PushFailed(HarnessError):
    """The hub refused or could not be reached; nothing or only part of the work happened (exit 1)."""


@dataclass(frozen=True)
class RunFile:
    relative: str  # POSIX path inside the run directory
    data: bytes  # the bytes that were checked, and the bytes that are uploaded


@dataclass(frozen=True)
class PushPlan:
    """What `push_run` would send, computed without a token or a network."""

    run_dir: Path
    run_id: str
    repo: str
    path_in_repo: str
    files: tuple[RunFile, ...]
    commit_message: str
    commit_description: str


def plan_push(run_dir: Path, repo: str, path_in_repo: str | None = None) -> PushPlan:
    """Check the run directory, the repo id and the path, and read the files to upload (UsageError on any
    problem, naming the file or field)."""
    from reports.runs import load_run  # the finished-run reader shared with report and compare

    run = load_run(Path(run_dir))  # RunError (a UsageError) names the missing or unreadable results.json
    check_repo_id(repo)
    run_id = run.run_id
    target = check_path_in_repo(path_in_repo if path_in_repo is not None else f"runs/{run_id}")
    files = tuple(_read_files(run.dir))
    for item in files:
        if item.relative in HEADER_FILES:
            _check_no_secret(run.dir / item.relative, item.data)
    tasks = ", ".join(run.tasks) or "(no task)"
    message = f"harness run {run_id}: model {run.model}; tasks {tasks}"
    from .summary import format_summary  # the summary `harness run` prints, as the commit's description

    description = format_summary(run.record)
    return PushPlan(run.dir, run_id, repo, target, files, message, description)


def push_run(run_dir: Path, repo: str, *, path_in_repo: str | None = None, private: bool = False,
             token: str | None = None, endpoint: str | None = None, revision: str | None = None) -> str:
    """Upload the finished run in `run_dir` to the dataset repo `repo` (created when missing) under
    `path_in_repo` (default `runs/<run_id>`) in one commit; returns the commit's URL.

    `token` defaults to huggingface_hub's (HF_TOKEN, then the stored login); `endpoint` to the hub's
    (HF_ENDPOINT or huggingface.co); `revision` is the branch to commit to (created from the default branch
    when missing; `refs/pr/N` commits to an open pull request). Raises UsageError before any request when
    the run, the arguments, the token or the files are not fit to push, and PushFailed when the hub refuses.
    """
    return send(plan_push(run_dir, repo, path_in_repo), private=private, token=token, endpoint=endpoint,
                revision=revision)


def send(plan: PushPlan, *, private: bool = False, token: str | None = None, endpoint: str | None = None,
         revision: str | None = None) -> str:
    """The checks that need the token, then the requests: create the repo, the branch, one commit."""
    if revision is not None and not revision.strip():
        raise UsageError("--revision is empty; leave it out to commit to the default branch")
    import huggingface_hub
    from huggingface_hub import CommitOperationAdd, HfApi, constants

    if constants.is_offline_mode() or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in TRUE:
        raise UsageError("HF_HUB_OFFLINE is set, so the hub client sends nothing: unset it to push")
    token = token or huggingface_hub.get_token()
    if not token:
        raise UsageError(f"no Hugging Face token to push with: {LOGIN_ADVICE}")
    for item in plan.files:
        if token.encode() in item.data:
            raise UsageError(f"{plan.run_dir / item.relative} contains your Hugging Face token; refusing to "
                             f"upload it (remove it from the file, and revoke the token if the file was shared)")

    from . import __version__

    api = HfApi(endpoint=endpoint, token=token, library_name="unified-reward-harness", library_version=__version__)
    operations = [CommitOperationAdd(path_in_repo=f"{plan.path_in_repo}/{item.relative}", path_or_fileobj=item.data)
                  for item in plan.files]
    # The network part: everything above fails without sending a request.
    try:
        api.create_repo(plan.repo, repo_type="dataset", private=private, exist_ok=True)
        if revision is not None and not revision.startswith("refs/"):
            api.create_branch(plan.repo, branch=revision, repo_type="dataset", exist_ok=True)
        info = api.create_commit(plan.repo, operations, commit_message=plan.commit_message,
                                 commit_description=plan.commit_description, repo_type="dataset", revision=revision)
    except _network_errors() as exc:
        raise PushFailed(_explain(exc, plan.repo, token)) from None
    return str(info.commit_url)


def check_repo_id(repo: str) -> str:
    if not REPO_ID.match(repo or ""):
        raise UsageError(f"--repo {repo!r} is not OWNER/NAME (a dataset repo id such as my-user/reward-evals)")
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo)
    except HFValidationError as exc:
        raise UsageError(f"--repo {repo!r}: {exc}") from None
    return repo


def check_path_in_repo(path: str) -> str:
    """A relative POSIX folder inside the repo, without `..` (the hub would reject it after the upload)."""
    text = path.strip()
    pure = PurePosixPath(text.rstrip("/"))
    if not text or text.startswith("/") or "\\" in text or not pure.parts or ".." in pure.parts:
        raise UsageError(f"--path-in-repo {path!r} must be a relative folder such as runs/my-run (no '..', no "
                         f"leading '/')")
    return str(pure)


def _read_files(run_dir: Path) -> Iterator[RunFile]:
    """Every regular file of the run, in a stable order, except what is not part of the record: hidden
    files and folders (the run's `.lock`), temporary files of an atomic write, and symbolic links (they
    may point outside the run)."""
    for root, dirs, names in os.walk(run_dir):  # followlinks=False: a linked folder is not walked into
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not os.path.islink(os.path.join(root, d)))
        for name in sorted(names):
            path = Path(root) / name
            if name.startswith(".") or name.endswith(".tmp") or path.is_symlink() or not path.is_file():
                continue
            yield RunFile(path.relative_to(run_dir).as_posix(), path.read_bytes())


def _check_no_secret(path: Path, data: bytes) -> None:
    """Refuse a run.json/results.json that holds a credential in clear: redaction (`harness.adapters.redact`)
    should have replaced it, so one found here is a bug to fix before anything is shared."""
    try:
        obj = json.loads(data)
    except ValueError as exc:
        raise UsageError(f"{path}: not readable as JSON ({exc})") from None
    for where in secret_fields(obj):
        raise UsageError(f"{path}: field {where} holds what looks like a credential; refusing to upload it "
                         f"(redact it to {REDACTED!r} first)")


def _network_errors() -> tuple[type[BaseException], ...]:
    from huggingface_hub.errors import HfHubHTTPError

    # The hub client's HTTP error base (httpx2's in huggingface_hub 2.x, whose refused connections and timeouts
    # are not OSErrors) sits in HfHubHTTPError's ancestry: taking it from there follows the client it uses.
    client_bases = tuple(base for base in HfHubHTTPError.__mro__ if base.__name__ == "HTTPError")
    return (HfHubHTTPError, OSError, *client_bases)


def _explain(exc: BaseException, repo: str, token: str) -> str:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    detail = " ".join(str(exc).split()).replace(token, REDACTED)[:400]  # a server echo must not show the token
    if status in (401, 403):
        return f"the hub refused the token for {repo} ({status}): {LOGIN_ADVICE}; {detail}"
    return f"push to dataset repo {repo} failed{f' ({status})' if status else ''}: {detail}"


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The `harness push` options (for harness/cli.py to mount as a subcommand)."""
    parser.add_argument("run", type=Path, help="a finished run directory (the last line `harness run` prints)")
    parser.add_argument("--repo", required=True, help="dataset repo OWNER/NAME (created when missing)")
    parser.add_argument("--path-in-repo", default=None, help="folder in the repo (default runs/<run_id>)")
    parser.add_argument("--private", action="store_true",
                        help="create the repo private (an existing repo keeps its visibility)")
    parser.add_argument("--revision", default=None,
                        help="branch to commit to (created when missing; default: the repo's default branch)")
    return parser


def main(args: argparse.Namespace | Sequence[str] | None = None) -> int:
    """Run `harness push`: one line saying what went where, then the commit URL last."""
    if not isinstance(args, argparse.Namespace):
        args = add_arguments(argparse.ArgumentParser(prog="harness push")).parse_args(args)
    plan = plan_push(args.run, args.repo, args.path_in_repo)
    url = send(plan, private=args.private, revision=args.revision)
    print(f"pushed {len(plan.files)} files of run {plan.run_id} to dataset {plan.repo} under {plan.path_in_repo}/")
    print(url)
    return 0
