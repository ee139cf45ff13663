"""Hostile or damaged input through the real commands (issue 20): every refusal is
`path:line:col: error:`, exit 1, nothing written, no traceback, in a batch too."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec.cli.main import main
from mlspec.files import loader
from mlspec.pipeline import resolve

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()
POSITIONED = re.compile(r"^(?P<path>[^\n]+?):(?P<line>\d+):(?P<col>\d+): error: (?P<message>.+)$", re.MULTILINE)


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<dir>" for p in sorted(root.rglob("*"))}


def refused(result, source: str, message: str) -> list[re.Match[str]]:
    """Exit 1, one or more positioned errors at `source`, one of them with `message`."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    found = [m for m in POSITIONED.finditer(result.stderr) if m["path"] == source]
    assert any(message in m["message"] for m in found), result.stderr
    return found


def with_hyperparameters(text: str, lines: str) -> str:
    return text.replace("    seed: 7\n", "    seed: 7\n    hyperparameters:\n" + lines)


# --- damaged ledgers: every consumer refuses at the ledger --------------------------

LEDGER_HEAD = "apiVersion: mlspec.dev/v1alpha1\nkind: ReleaseLedger\nmodel: churn\ncurrent: '1.0.0'\n"
DAMAGED = {
    "release-is-a-number": (LEDGER_HEAD + "releases: [1]\n", "5:12", "`releases[0]` is number 1, expected a mapping"),
    "no-pins": (LEDGER_HEAD + "releases:\n- {version: '1.0.0', source: a.yaml, specDigest: x, spec: {}}\n", "6:3",
                "`releases[0]` has no `pins`"),
    "alias-bomb": (LEDGER_HEAD + "releases:\n- version: '1.0.0'\n  metrics:\n    l0: &l0 [x, x]\n" + "".join(
        f"    l{i}: &l{i} [*l{i - 1}, *l{i - 1}]\n" for i in range(1, 31)), "9:14", "an alias (`*l0`)"),
}


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, Path]:
    spec = tmp_path / "churn.yaml"
    spec.write_text(MINIMAL)
    out = tmp_path / "deploy"
    assert run("build", spec, "-o", out).exit_code == 0
    return spec, out


def _commands(spec: Path, out: Path, metrics: Path) -> dict[str, list[object]]:
    return {
        "build": ["build", spec, "-o", out],
        "build --check": ["build", spec, "-o", out, "--check"],
        "build --stdout --ledger": ["build", spec, "--stdout", "--ledger", out],
        "gate": ["gate", spec, "--metrics", metrics, "-o", out],
        "gate --record": ["gate", spec, "--metrics", metrics, "--record", "-o", out],
        "history": ["history", "churn", "-o", out],
        "rollback": ["rollback", "churn", "--to", "0.9.0", "-o", out],
    }


@pytest.mark.parametrize("damage", sorted(DAMAGED))
def test_every_command_that_reads_a_damaged_ledger_refuses_at_the_ledger(repo, tmp_path, damage):
    spec, out = repo
    text, position, message = DAMAGED[damage]
    path = out / "_ledger" / "churn.yaml"
    path.write_text(text)
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"f1": 0.9}))
    before = snapshot(out)
    for name, args in _commands(spec, out, metrics).items():
        result = run(*args)
        found = refused(result, str(path), message)
        assert f"{found[0]['line']}:{found[0]['col']}" == position, (name, result.stderr)
        assert all("the ledger is damaged" in m["message"] for m in found), (name, result.stderr)
        assert snapshot(out) == before, f"{name} wrote something"


# --- spec-side attacks, in a batch of worker processes -----------------------------

ATTACKS = {
    # (what replaces `seed: 7` / is added, the message)
    "m1": (MINIMAL.replace("seed: 7", "seed: " + "9" * 5000), "a number of 5000 characters"),
    "m3": (with_hyperparameters(MINIMAL, "      s: 1" + ":1" * 20_000 + "\n"), "a number of 40001 characters"),
    "m5": (with_hyperparameters(MINIMAL, "      a0: &big " + "x" * 100_000 + "\n" + "".join(
        f"      a{i}: *big\n" for i in range(1, 161))), "document expands to more than 2097152 characters"),
    "m7": (with_hyperparameters(MINIMAL, "      lr: 1.0e+999\n"), "out of the range of a number"),
    "m9": (MINIMAL.replace("    thresholds:", "    timeout: 10000000000000000000000h\n    thresholds:"),
           "is not a duration"),
}


def test_each_attack_in_a_parallel_batch_is_an_error_of_its_own_spec(tmp_path):
    specs = tmp_path / "specs"
    specs.mkdir()
    for i in range(10):  # enough specs for worker processes (specfiles.PARALLEL_FROM)
        name = f"m{i}"
        text, _ = ATTACKS.get(name, (MINIMAL, ""))
        (specs / f"{name}.yaml").write_text(text.replace("name: churn", f"name: churn-{i}"))
    out = tmp_path / "out"
    for args in (["build", specs, "-o", out, "-j", "2"], ["validate", specs], ["build", specs, "--stdout", "--env", "default"]):
        result = run(*args)
        for name, (_, message) in ATTACKS.items():
            refused(result, str(specs / f"{name}.yaml"), message)
        named = {m["path"] for m in POSITIONED.finditer(result.stderr)}
        assert named == {str(specs / f"{name}.yaml") for name in ATTACKS}, result.stderr
    assert not out.exists()


# --- environments: a count and a cost -------------------------------------------


def environments(count: int) -> str:
    return "  environments:\n" + "".join(f"    e{i}: {{}}\n" for i in range(count))


def test_environments_are_capped_at_the_limit(tmp_path):
    spec = tmp_path / "many.yaml"
    spec.write_text(MINIMAL + environments(loader.MAX_ENVIRONMENTS))
    assert run("validate", spec).exit_code == 0
    spec.write_text(MINIMAL + environments(loader.MAX_ENVIRONMENTS + 1))
    [found] = refused(run("validate", spec), str(spec), f"`spec.environments`: {loader.MAX_ENVIRONMENTS + 1} entries; "
                      f"at most {loader.MAX_ENVIRONMENTS} are allowed")
    assert found["line"] == str(MINIMAL.count("\n") + 1)


def test_environments_times_spec_text_is_bounded_exactly(monkeypatch, tmp_path):
    text = MINIMAL + environments(3)
    chars = loader.load(text).chars
    spec = tmp_path / "s.yaml"
    spec.write_text(text)
    monkeypatch.setattr(resolve, "MAX_BUILD_CHARS", 3 * chars)  # three environments of this spec: the limit
    assert run("validate", spec).exit_code == 0
    monkeypatch.setattr(resolve, "MAX_BUILD_CHARS", 3 * chars - 1)
    refused(run("validate", spec), str(spec), f"3 environments of a spec of {chars} characters is more than mlspec "
            "builds from one spec")
    out = tmp_path / "out"
    assert run("build", spec, "--env", "e1", "-o", out).exit_code == 0  # one at a time fits


def test_a_large_spec_with_many_environments_is_refused_at_the_real_limit(tmp_path):
    # 3 x 250,000 characters (each under the 256 KiB scalar limit) and 64 environments:
    # 48 million characters of spec to build, more than 16 Mi allows
    spec = tmp_path / "big.yaml"
    spec.write_text(with_hyperparameters(MINIMAL, "".join(f"      h{i}: {'x' * 250_000}\n" for i in range(3)))
                    + environments(loader.MAX_ENVIRONMENTS))
    refused(run("validate", spec), str(spec), "64 environments of a spec of")
    assert run("build", spec, "--stdout", "--env", "e7").exit_code == 0


# --- numbers Kubernetes has to hold ----------------------------------------------


def test_the_longest_duration_and_largest_counts_still_compile_into_kubernetes_ranges():
    from mlspec import compile_spec

    text = MINIMAL.replace("    thresholds:", "    timeout: 999999h9999999m999999999s\n    thresholds:")
    files = compile_spec(text, "s.yaml")
    job = next(v for k, v in files.items() if "/job-eval" in k)
    seconds = 999999 * 3600 + 9999999 * 60 + 999999999
    assert f"activeDeadlineSeconds: {seconds}\n" in job and seconds + resolve.WAIT_SLACK < 2**63
    assert seconds * 10**9 < 2**63  # what Argo Rollouts' Go durations hold, in nanoseconds
