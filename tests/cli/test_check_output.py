"""`mlspec build --check` says what drifted and how to fix it (DESIGN.md "Reviewable output"):
per drifted file the first lines of a unified diff (at most 20 per file, 200 lines in all,
then one line counting what was left out), changed / missing / unexpected told apart, then
once the command that regenerates the output; the same in `--format json`."""

from __future__ import annotations

import difflib
import json
import shlex
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
FULL = (ROOT / "examples" / "fraud-detector.yaml").read_text()
MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()
ONLINE = MINIMAL + """  rollout:
    analysis:
      prometheus: {address: http://prometheus.monitoring:9090}
      metrics:
        - {name: error-rate, query: "sum(rate(errors[5m]))", max: 0.01}
"""
COMMAND = "to update the output, run: "


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory with the fraud-detector spec, built into `deploy` (relative paths, as in CI)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "fraud.yaml").write_text(FULL)
    assert run("build", "models", "-o", "deploy", "--platform", "none").exit_code == 0
    return tmp_path


def _check(*more: str):
    return run("build", "models", "-o", "deploy", "--platform", "none", "--check", *more)


def _headers(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("deploy/")]


def _drift_block(stderr: str) -> list[str]:
    """The lines of the drift report: from the first file header to the end."""
    lines = stderr.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("deploy/"))
    return lines[first:]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_one_changed_file_shows_its_diff_and_the_command_once(repo):
    rollout = repo / "deploy/prod/fraud-detector/rollout.yaml"
    rollout.write_text(rollout.read_text().replace("replicas: 6", "replicas: 7"))
    before = _tree(repo / "deploy")
    result = _check()
    assert result.exit_code == 1
    assert _headers(result.stderr) == [
        "deploy/prod/fraud-detector/rollout.yaml:1:1: error: changed: differs from what the spec compiles to"]
    block = _drift_block(result.stderr)
    assert "  -  replicas: 7" in block and "  +  replicas: 6" in block
    assert "  --- a/prod/fraud-detector/rollout.yaml" in block and "  +++ b/prod/fraud-detector/rollout.yaml" in block
    assert block[-2] == "mlspec: 1 file(s) differ from what the specs compile to (1 changed, 0 missing, 0 unexpected)"
    assert [line for line in block if line.startswith(COMMAND)] == [
        COMMAND + "mlspec build models -o deploy --platform none"]
    assert _tree(repo / "deploy") == before  # --check writes nothing


def test_an_up_to_date_tree_prints_no_diff_and_exits_0(repo):
    result = _check()
    assert result.exit_code == 0 and "up to date" in result.stderr
    assert COMMAND not in result.stderr and "error:" not in result.stderr


def test_a_missing_file_is_told_apart_and_shows_what_the_build_creates(repo):
    job = repo / "deploy/staging/fraud-detector/job-eval.yaml"
    text = job.read_text()
    job.unlink()
    result = _check()
    assert result.exit_code == 1
    lines = text.splitlines()
    assert _headers(result.stderr) == [
        f"deploy/staging/fraud-detector/job-eval.yaml:1:1: error: missing: the build creates it (diff: first 20 of "
        f"{len(lines) + 3} lines)"]
    block = _drift_block(result.stderr)
    assert block[1:4] == ["  --- /dev/null", "  +++ b/staging/fraud-detector/job-eval.yaml", f"  @@ -0,0 +1,{len(lines)} @@"]
    assert block[4:21] == ["  +" + line for line in lines[:17]]
    assert "left out: " + str(len(lines) + 3 - 20) + " diff line(s)" in block[-2]


def test_an_unexpected_file_is_one_the_build_no_longer_produces_and_a_foreign_one_is_not(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    spec = tmp_path / "models" / "churn.yaml"
    spec.write_text(ONLINE)
    assert run("build", "models", "-o", "deploy", "--platform", "none").exit_code == 0
    (tmp_path / "deploy/default/churn/notes.yaml").write_text("kept: by a person\n")  # not mlspec's: never drift
    online = (tmp_path / "deploy/default/churn/analysistemplate-online.yaml").read_text()
    spec.write_text(MINIMAL)  # no online analysis any more
    result = _check()
    assert result.exit_code == 1
    headers = _headers(result.stderr)
    assert "deploy/default/churn/analysistemplate-online.yaml:1:1: error: unexpected: built before but no longer " \
           "produced (stale; the next build removes it) (diff: first 20 of " \
           f"{len(online.splitlines()) + 3} lines)" in headers
    assert not any("notes.yaml" in h for h in headers)
    block = _drift_block(result.stderr)
    start = block.index(next(h for h in headers if "analysistemplate-online" in h))
    assert block[start + 1:start + 3] == ["  --- a/default/churn/analysistemplate-online.yaml", "  +++ /dev/null"]
    assert "unexpected" in block[-2] and "1 unexpected" in block[-2]


def _rewrite_every_line(path: Path) -> tuple[str, str]:
    old = path.read_text()
    new = "".join(line + " # edited\n" for line in old.splitlines())
    path.write_text(new)
    return old, new


def test_thirty_drifted_files_stay_within_200_lines_and_count_the_rest(repo):
    edited = {}
    for path in sorted((repo / "deploy").glob("*/fraud-detector/*.yaml")):
        edited[f"{path.relative_to(repo / 'deploy')}"] = _rewrite_every_line(path)
    assert len(edited) >= 30
    result = _check()
    assert result.exit_code == 1
    block = _drift_block(result.stderr)
    assert len(block) <= 200 + 2  # the drift, then the count and the command
    summary, command = block[-2:]
    assert command == COMMAND + "mlspec build models -o deploy --platform none"
    # per file: a header and at most 20 diff lines
    shown: dict[str, int] = {}
    for line in block[:-2]:
        if line.startswith("deploy/"):
            current = line.split(":", 1)[0][len("deploy/"):]
            shown[current] = 0
        else:
            shown[current] += 1
    assert shown and all(n <= 20 for n in shown.values()) and len(shown) < len(edited)
    # what was left out, counted with the real diff of every file (on disk -> built)
    total = sum(len(list(difflib.unified_diff(new.splitlines(), old.splitlines(), lineterm="")))
                for old, new in edited.values())
    assert summary == (f"mlspec: {len(edited)} file(s) differ from what the specs compile to ({len(edited)} changed, "
                       f"0 missing, 0 unexpected); left out: {total - sum(shown.values())} diff line(s) and "
                       f"{len(edited) - len(shown)} file(s) (at most 20 diff lines per file, 200 lines in all)")


def test_a_huge_single_line_value_is_cut(repo):
    rollout = repo / "deploy/prod/fraud-detector/rollout.yaml"
    rollout.write_text("x" * 1_000_000)
    for fmt in ("text", "json"):
        result = _check("--format", fmt)
        assert result.exit_code == 1
        out = result.stderr if fmt == "text" else result.stdout
        assert len(out) < 20_000
        assert max(len(line) for line in out.splitlines()) < 400
    diff = json.loads(result.stdout)["files"][0]["diff"]
    cut = next(line for line in diff if line.startswith("-x"))
    assert cut.startswith("-" + "x" * 199 + " [... ") and cut.endswith(" more characters]")
    assert json.loads(result.stdout)["files"][0]["truncated"] is True


def test_json_carries_the_same_information_in_a_stable_shape(repo):
    rollout = repo / "deploy/prod/fraud-detector/rollout.yaml"
    rollout.write_text(rollout.read_text().replace("replicas: 6", "replicas: 7"))
    (repo / "deploy/staging/fraud-detector/job-eval.yaml").unlink()
    result = _check("--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)  # one document on stdout: warnings inside it
    assert list(report) == ["upToDate", "files", "counts", "leftOut", "limits", "command", "argv", "warnings"]
    assert report["upToDate"] is False
    assert [(f["path"], f["kind"], f["truncated"]) for f in report["files"]] == [
        ("deploy/prod/fraud-detector/rollout.yaml", "changed", False),
        ("deploy/staging/fraud-detector/job-eval.yaml", "missing", True)]
    assert all(list(f) == ["path", "kind", "message", "diff", "diffLines", "truncated"] for f in report["files"])
    changed = report["files"][0]
    assert "-  replicas: 7" in changed["diff"] and changed["diffLines"] == len(changed["diff"])
    assert len(report["files"][1]["diff"]) == 20 < report["files"][1]["diffLines"]
    assert report["counts"] == {"changed": 1, "missing": 1, "unexpected": 0}
    assert report["leftOut"] == {"files": 0, "diffLines": report["files"][1]["diffLines"] - 20}
    assert report["limits"] == {"fileLines": 20, "totalLines": 200}
    assert report["argv"] == ["mlspec", "build", "models", "-o", "deploy", "--platform", "none"]
    assert report["command"] == shlex.join(report["argv"])
    assert report["warnings"] == []  # the example's default steps are ones its pods can meet
    clean = run("build", "models", "-o", "deploy", "--platform", "none")
    assert clean.exit_code == 0
    up = _check("--format", "json")
    assert up.exit_code == 0 and json.loads(up.stdout)["upToDate"] is True and json.loads(up.stdout)["files"] == []


def test_the_printed_command_runs_and_turns_check_green(repo):
    (repo / "models" / "fraud.yaml").write_text(FULL.replace("prod: {serving: {replicas: 6}}",
                                                             "prod: {serving: {replicas: 8}}"))
    staging = _tree(repo / "deploy" / "staging")
    result = run("build", "models", "-o", "deploy", "--env", "prod", "--platform", "none", "--check")
    assert result.exit_code == 1
    commands = [line[len(COMMAND):] for line in result.stderr.splitlines() if line.startswith(COMMAND)]
    assert commands == ["mlspec build models -o deploy --env prod --platform none"]  # as given, without --check
    done = subprocess.run(shlex.split(commands[0]), cwd=repo, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    again = run("build", "models", "-o", "deploy", "--env", "prod", "--platform", "none", "--check")
    assert again.exit_code == 0, again.stderr
    assert _tree(repo / "deploy" / "staging") == staging  # --env prod: the neighbour environment untouched


def test_the_command_quotes_what_a_shell_would_split(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my models").mkdir()
    (tmp_path / "my models" / "churn.yaml").write_text(MINIMAL)
    result = run("build", "my models", "-o", "out dir", "--platform", "none", "--check")
    assert result.exit_code == 1
    command = next(line[len(COMMAND):] for line in result.stderr.splitlines() if line.startswith(COMMAND))
    assert shlex.split(command) == ["mlspec", "build", "my models", "-o", "out dir", "--platform", "none"]


def test_github_format_is_one_annotation_per_file_carrying_its_diff(repo):
    rollout = repo / "deploy/prod/fraud-detector/rollout.yaml"
    rollout.write_text(rollout.read_text().replace("replicas: 6", "replicas: 7"))
    result = _check("--format", "github")
    assert result.exit_code == 1
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert len(annotations) == 1
    assert annotations[0].startswith("::error file=deploy/prod/fraud-detector/rollout.yaml,line=1,col=1::changed: ")
    assert "%0A-  replicas: 7%0A+  replicas: 6%0A" in annotations[0]  # the diff, one line per annotation line
    assert result.stdout.splitlines()[-1] == COMMAND + "mlspec build models -o deploy --platform none"


def test_a_directory_another_model_claims_is_reported_before_the_budget_runs_out():
    from mlspec.cli import checkreport
    from mlspec.files.drift import CLAIMED, Drift, unified

    changed = [unified(f"prod/m{i:02}/rollout.yaml", "changed", "changed: x", b"a\n" * 30, "b\n" * 30)
               for i in range(30)]
    claimed = Drift("zz/other", CLAIMED, "holds the manifests of model x, not of y")
    lines = checkreport.text([*changed, claimed], Path("deploy"), ["mlspec", "build", "m", "-o", "deploy"]).splitlines()
    assert lines[0] == "deploy/zz/other:1:1: error: holds the manifests of model x, not of y"
    assert lines[1].startswith("deploy/prod/m00/rollout.yaml:1:1: error: changed: x")
    assert len(lines) <= 202 and "1 claimed" in lines[-2]
