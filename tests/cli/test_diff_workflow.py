"""The shipped GitHub Actions workflow keeps one comment per pull request, within the
limit, for a pull request touching 20 specs.

The workflow's own `run:` scripts (parsed out of deploy/github-actions/mlspec.yml) run
in a temporary Git repository with a base and a head commit. GitHub itself is
unreachable from the test machine, so `gh` is a recording stand-in on PATH: it keeps
the pull request's comments in a JSON file, answers `gh api` GET/POST/PATCH on the
comments endpoints as GitHub's REST API does, and applies `--jq` with the real `jq`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cmarkgfm
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import diff_sizes  # noqa: E402

from mlspec.records.diffmarkdown import LIMIT, MARKER  # noqa: E402

GH = r'''#!PYTHON
"""gh stand-in: `gh api [--paginate] [--method M] ENDPOINT [--jq F] [-F body=@FILE]`."""
import json, os, re, subprocess, sys

state_file = os.environ["GH_STATE"]
state = json.load(open(state_file))
args = sys.argv[1:]
assert args[0] == "api", args
method, jq, fields, endpoint, i = "GET", None, {}, None, 1
while i < len(args):
    a = args[i]
    if a == "--paginate":
        i += 1
    elif a in ("--method", "-X"):
        method, i = args[i + 1], i + 2
    elif a == "--jq":
        jq, i = args[i + 1], i + 2
    elif a in ("-F", "--field", "-f", "--raw-field"):
        key, value = args[i + 1].split("=", 1)
        if a in ("-F", "--field") and value.startswith("@"):
            value = open(value[1:]).read()
        fields[key], i = value, i + 2
    else:
        endpoint, i = a, i + 1
state["calls"].append({"method": method, "endpoint": endpoint, "fields": sorted(fields)})
listing = re.fullmatch(r"repos/([^/]+/[^/]+)/issues/(\d+)/comments", endpoint)
edit = re.fullmatch(r"repos/([^/]+/[^/]+)/issues/comments/(\d+)", endpoint)
out = None
if listing and method == "GET":
    out = [c for c in state["comments"] if c["pr"] == int(listing.group(2))]
elif listing and method == "POST":
    if len(fields["body"]) > 65536:
        sys.exit("HTTP 422: body is too long (maximum is 65536 characters)")
    out = {"id": 1000 + len(state["comments"]), "pr": int(listing.group(2)), "body": fields["body"]}
    state["comments"].append(out)
elif edit and method == "PATCH":
    if len(fields["body"]) > 65536:
        sys.exit("HTTP 422: body is too long (maximum is 65536 characters)")
    out = next(c for c in state["comments"] if c["id"] == int(edit.group(2)))
    out["body"] = fields["body"]
else:
    sys.exit(f"HTTP 404: {method} {endpoint}")
json.dump(state, open(state_file, "w"))
text = json.dumps(out)
if jq:
    text = subprocess.run(["jq", "-r", jq], input=text, capture_output=True, text=True, check=True).stdout
sys.stdout.write(text if text.endswith("\n") else text + "\n")
'''


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=ci", "-c", "user.email=ci@example.com", *args],
                   check=True, capture_output=True)


def _steps() -> dict[str, dict[str, object]]:
    workflow = yaml.safe_load((ROOT / "deploy" / "github-actions" / "mlspec.yml").read_text())
    return {s["name"]: s for s in workflow["jobs"]["mlspec"]["steps"] if "name" in s}


def _push(repo: Path, env: dict[str, str]) -> None:
    """The workflow's diff and comment steps, as the runner would run them on a push."""
    steps = _steps()
    for name in ("ML-aware diff", "Comment on the pull request"):
        step = steps[name]
        if name.startswith("Comment"):
            assert step["if"] == "hashFiles('diff.md') != ''"
            if not (repo / "diff.md").exists():
                continue
        assert step.get("shell") == "bash"  # mapfile and arrays
        proc = subprocess.run(["bash", "-e", "-c", str(step["run"])], cwd=repo, env=env, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, (name, proc.stderr[-3000:])


def test_one_comment_per_pull_request_within_the_limit_for_20_specs(tmp_path):
    assert shutil.which("jq"), "jq (the real one) applies gh's --jq filters"
    base, head = diff_sizes.shapes()["pr-20-specs"]
    repo = tmp_path / "repo"
    diff_sizes.make_repo(repo, base, head)
    _git(repo, "branch", "main")
    _git(repo, "update-ref", "refs/remotes/origin/main", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "release 20 models")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(GH.replace("PYTHON", sys.executable, 1))
    (bin_dir / "gh").chmod(0o755)
    state = tmp_path / "gh-state.json"
    # someone else's comment on the same pull request, and mlspec's on another one: neither is edited
    state.write_text(json.dumps({"calls": [], "comments": [
        {"id": 1, "pr": 7, "body": "LGTM, but see the gate"},
        {"id": 2, "pr": 8, "body": MARKER + "\nanother pull request"}]}))
    env = {**os.environ, "PATH": os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), os.environ["PATH"]]),
           "GH_STATE": str(state), "GITHUB_BASE_REF": "main", "PR": "7", "REPO": "acme/models", "GH_TOKEN": "x"}

    _push(repo, env)
    first = json.loads(state.read_text())
    created = [c for c in first["comments"] if c["pr"] == 7 and c["id"] not in (1, 2)]
    assert len(created) == 1 and [c["method"] for c in first["calls"]] == ["GET", "POST"]
    body = created[0]["body"]
    assert body == (repo / "diff.md").read_text()
    assert len(body) <= LIMIT and body.startswith(MARKER + "\n")
    assert all(f"`model-{i:04d}`" in body for i in range(20))  # one document: every spec's summary
    html = cmarkgfm.github_flavored_markdown_to_html(body)
    assert html.count("<table>") >= 20 and "<img" not in html

    # The next push: a threshold tightened in one spec. The same comment is edited.
    spec = repo / "models" / "model-0003.mlspec.yaml"
    spec.write_text(spec.read_text().replace("{metric: auc, min: 0.9}", "{metric: auc, min: 0.93}"))
    _git(repo, "commit", "-qam", "tighten the gate")
    _push(repo, env)
    second = json.loads(state.read_text())
    assert [c["method"] for c in second["calls"]] == ["GET", "POST", "GET", "PATCH"]
    assert second["calls"][-1]["endpoint"] == f"repos/acme/models/issues/comments/{created[0]['id']}"
    mine = [c for c in second["comments"] if c["pr"] == 7 and c["id"] not in (1, 2)]
    assert len(mine) == 1 and "0.93" in mine[0]["body"] and len(mine[0]["body"]) <= LIMIT
    assert {c["id"]: c["body"] for c in second["comments"] if c["id"] in (1, 2)} == \
        {1: "LGTM, but see the gate", 2: MARKER + "\nanother pull request"}
