"""Issue 28: what a platform file gives every spec, judged one step beside the case each
names: its defaults inside each spec's build budget and scanned once, environments keyed
by the names the platform declares, and messages a platform line causes naming their spec."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_platform import H, PLATFORM, REG, SPEC, _repo, run

from mlspec.files import loader
from mlspec.pipeline import policy
from mlspec.platform import platformfile

HEADER = "apiVersion: mlspec.dev/v1alpha1\nkind: Platform\nspec:\n"


# --- the build budget: the spec and the defaults merged under it --------------------------


def _padding(chars: int) -> str:
    """`serving: {env: [...]}` holding exactly `chars` characters of keys and values."""
    values = [100_000] * (chars // 100_000) + [chars % 100_000]  # scalars well below the 256 KiB limit
    overhead = len("serving") + len("env") + sum(len("name") + len(f"P{i}") + len("value") for i in range(len(values)))
    values[-1] -= overhead
    assert values[-1] >= 0
    items = ", ".join(f"{{name: P{i}, value: {'x' * n}}}" for i, n in enumerate(values))
    return f"serving: {{env: [{items}]}}"


def _padded(chars: int, where: str = "global", base: str = HEADER) -> str:
    """A platform file whose defaults (global, or environment `big`'s) hold `chars` characters."""
    if where == "global":
        return base + f"  defaults: {{{_padding(chars)}}}\n"
    return base + f"  environments:\n    small: {{}}\n    big:\n      defaults: {{{_padding(chars)}}}\n"


def test_default_chars_count_each_key_and_scalar_once_per_occurrence():
    platform = platformfile.parse(_padded(100), "p.yaml")
    assert policy.default_chars(platform) == {None: 100}
    envs = platformfile.parse(_padded(300, "env"), "e.yaml")
    assert policy.default_chars(envs) == {None: 0, "small": 0, "big": 300}
    # an alias repeats what it names: counted as often as a build sees it
    aliased = platformfile.parse(HEADER + "  defaults:\n    serving: {nodeSelector: {ab: &v cd, ef: *v}}\n", "a.yaml")
    assert policy.default_chars(aliased) == {None: len("serving" "nodeSelector" "ab" "cd" "ef" "cd")}


def _spec(envs: int) -> loader.Document:
    names = "".join(f"    e{i}: {{}}\n" for i in range(envs))
    return loader.load(SPEC.replace("NAME", "churn").split("  environments:\n")[0] + "  environments:\n" + names,
                       "models/churn.yaml")


def test_the_budget_counts_the_spec_and_the_defaults_one_past_the_bound_and_at_it():
    spec = _spec(64)
    per_env = loader.MAX_BUILD_CHARS // 64 - spec.chars  # defaults that fill the budget exactly
    at = platformfile.parse(_padded(per_env), "p.yaml")
    assert policy.budget_problem(at, spec, [f"e{i}" for i in range(64)], True) is None
    over = platformfile.parse(_padded(per_env + 1), "p.yaml")
    found = policy.budget_problem(over, spec, [f"e{i}" for i in range(64)], True)
    assert found is not None and (found.source, found.line, found.col) == ("p.yaml", 4, 3)  # at `defaults`
    assert found.message.startswith(f"spec models/churn.yaml: 64 environment(s) of a spec of {spec.chars} characters "
                                    f"with {64 * (per_env + 1)} characters of platform defaults") and \
        found.rule == "spec-too-large"
    # one environment fewer (`--env`) is within it
    assert policy.budget_problem(over, spec, [f"e{i}" for i in range(63)], True) is None
    assert policy.budget_problem(None, spec, [f"e{i}" for i in range(64)], True) is None


def _spec_of(chars: int, envs: list[str]) -> loader.Document:
    """A spec of exactly `chars` characters (an annotation pads it) declaring `envs`."""
    def load(pad: int) -> loader.Document:
        text = SPEC.replace("NAME", "churn").split("  environments:\n")[0] + "  environments:\n"
        text = text.replace("  owner: team-a\n", f"  owner: team-a\n  annotations: {{acme.example/pad: '{'x' * pad}'}}\n")
        return loader.load(text + "".join(f"    {e}: {{}}\n" for e in envs), "models/churn.yaml")
    return load(chars - load(0).chars)


def test_an_environments_defaults_count_for_that_environment_only():
    envs = [f"e{i}" for i in range(63)]
    spec = _spec_of(loader.MAX_BUILD_CHARS // 64 - 10, [*envs, "big"])  # 640 characters below the budget
    platform = platformfile.parse(_padded(1000, "env"), "e.yaml")
    assert policy.budget_problem(platform, spec, [*envs, "e63"], True) is None  # no environment of these has defaults
    found = policy.budget_problem(platform, spec, [*envs, "big"], True)
    assert found is not None and (found.source, found.line, found.col) == ("e.yaml", 7, 7)  # `environments.big.defaults`
    assert "with 1000 characters of platform defaults" in found.message
    # a spec without `spec.environments` gets no environment's defaults
    assert policy.budget_problem(platform, spec, ["big"] * 64, False) is None


def test_a_spec_over_the_budget_by_the_platforms_defaults_is_refused_at_the_platform_naming_it(tmp_path, monkeypatch):
    platform = PLATFORM.split("  environments:\n")[0].replace(  # no environments: any name is known
        "      securityContext:", "      env: " + _padding(270_000).split("env: ")[1][:-1] + "\n      securityContext:", 1)
    repo = _repo(tmp_path / "repo", platform, names=("churn", "fraud"))
    monkeypatch.chdir(repo)
    spec = repo / "models" / "churn.yaml"
    spec.write_text(spec.read_text().split("  environments:\n")[0] + "  environments:\n"
                    + "".join(f"    e{i}: {{}}\n" for i in range(64)))
    result = run("build", "models", "-o", "out")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and not (repo / "out").exists()
    lines = result.stderr.splitlines()
    # the two-environment spec beside it is within the budget: one error, naming the spec over it
    assert len(lines) == 1 and lines[0].startswith(".mlspec/platform.yaml:4:3: error: spec models/churn.yaml: "
                                                   "64 environment(s)"), lines
    assert lines[0].endswith("[spec-too-large]")


# --- the platform's text is scanned once, each environment's defaults too ------------------

SECRET = "[{name: DB_PASSWORD, value: hunter2}]"


@pytest.mark.parametrize("where, line", [("global", 8), ("prod", 21), ("staging", 23)])
def test_a_credential_in_any_defaults_of_the_platform_is_refused_once_at_its_line(tmp_path, monkeypatch, where, line):
    if where == "global":
        platform = PLATFORM.replace("      securityContext:", f"      env: {SECRET}\n      securityContext:", 1)
    elif where == "prod":
        platform = PLATFORM.replace("{serving: {replicas: 4}}", f"{{serving: {{replicas: 4, env: {SECRET}}}}}")
    else:
        platform = PLATFORM.replace("    staging: {}", f"    staging: {{defaults: {{serving: {{env: {SECRET}}}}}}}")
    repo = _repo(tmp_path / "repo", platform)
    monkeypatch.chdir(repo)
    result = run("validate", "models")
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    # once for the file, not once per spec (three specs take these defaults)
    assert len(lines) == 1 and lines[0].startswith(f".mlspec/platform.yaml:{line}:"), lines
    assert "looks like a secret value (`DB_PASSWORD` names a credential)" in lines[0]
    assert "[credential-in-spec]" in lines[0]


def test_a_credential_in_the_spec_beside_platform_defaults_is_still_found(tmp_path, monkeypatch):
    repo = _repo(tmp_path / "repo", names=("churn",))
    monkeypatch.chdir(repo)
    spec = repo / "models" / "churn.yaml"
    spec.write_text(spec.read_text().replace("  evaluation:\n", f"  serving: {{env: {SECRET}}}\n  evaluation:\n", 1))
    result = run("validate", "models")
    assert result.exit_code == 1
    assert result.stderr.startswith("models/churn.yaml:15:"), result.stderr
    assert "`DB_PASSWORD` names a credential" in result.stderr
    # with an invalid value beside it, both are reported
    spec.write_text(spec.read_text().replace("    seed: 7", "    seed: seven"))
    result = run("validate", "models")
    assert "`DB_PASSWORD` names a credential" in result.stderr and "spec.training.seed" in result.stderr


# --- per-environment policy keyed by the names the platform declares ---------------------

PROD_ONLY = PLATFORM.replace("    staging: {}\n", "")


def _env_repo(root: Path, platform: str, envs: str, monkeypatch) -> tuple[Path, object]:
    repo = _repo(root, platform, names=("churn",))
    monkeypatch.chdir(repo)
    spec = repo / "models" / "churn.yaml"
    spec.write_text(spec.read_text().replace("    staging: {}\n    prod: {}\n", envs))
    return repo, run("build", "models", "-o", "out")


def test_an_environment_the_platform_does_not_declare_is_an_error_listing_the_known_ones(tmp_path, monkeypatch):
    repo, result = _env_repo(tmp_path / "repo", PROD_ONLY, "    production: {serving: {replicas: 1}}\n", monkeypatch)
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        "models/churn.yaml:24:5: error: environment `production` is not one the platform file declares (prod; "
        ".mlspec/platform.yaml:19): its per-environment defaults and policy would not apply; name it as the "
        "platform does, or declare it there (`production: {}` for the global ones only) [unknown-environment]"]
    assert not (repo / "out").exists()


def test_the_known_environment_gets_its_own_policy(tmp_path, monkeypatch):
    _, result = _env_repo(tmp_path / "repo", PROD_ONLY, "    prod: {serving: {replicas: 1}}\n", monkeypatch)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "models/churn.yaml:24:32: error: in environment `prod`: `spec.serving.replicas` is 1; at least 3 required "
        "(policy minReplicas, .mlspec/platform.yaml:22) [platform-policy]"]


def test_only_the_second_environment_of_a_spec_is_unknown(tmp_path, monkeypatch):
    _, result = _env_repo(tmp_path / "repo", PROD_ONLY, "    prod: {serving: {replicas: 1}}\n    prd: {}\n", monkeypatch)
    lines = result.stderr.splitlines()
    assert [line.split(": error: ")[0] for line in lines] == ["models/churn.yaml:24:32", "models/churn.yaml:25:5"]
    assert "in environment `prod`: `spec.serving.replicas` is 1" in lines[0]
    assert "environment `prd` is not one the platform file declares (prod;" in lines[1]


def test_an_environment_declared_without_rules_gets_the_global_ones_only(tmp_path, monkeypatch):
    platform = PLATFORM.replace("    requireOwner: true\n", "    requireOwner: true\n    minReplicas: 1\n")
    repo = _repo(tmp_path / "repo", platform, names=("churn",))
    monkeypatch.chdir(repo)
    spec = repo / "models" / "churn.yaml"
    spec.write_text(spec.read_text().replace("  owner: team-a\n", "").replace(
        "    staging: {}\n", "    staging: {serving: {replicas: 2}}\n"))
    lines = run("build", "models", "-o", "out").stderr.splitlines()
    # staging: the global requireOwner, not prod's minReplicas 3 (its 2 replicas pass the global 1)
    assert [line for line in lines if "`staging`" in line] == [
        "models/churn.yaml:3:1: error: in environment `staging`: `metadata.owner` is required (policy requireOwner, "
        ".mlspec/platform.yaml:18) [platform-policy]"]
    assert any("in environment `prod`: `metadata.owner` is required" in line for line in lines)


def test_a_platform_without_environments_knows_every_name(tmp_path, monkeypatch):
    platform = PLATFORM.split("  environments:\n")[0]
    _, result = _env_repo(tmp_path / "repo", platform, "    production: {}\n    canary-eu: {}\n", monkeypatch)
    assert result.exit_code == 0, result.output


def test_a_spec_without_environments_is_built_once_under_the_global_rules(tmp_path, monkeypatch):
    repo, result = _env_repo(tmp_path / "repo", PROD_ONLY, "", monkeypatch)
    spec = repo / "models" / "churn.yaml"
    spec.write_text(spec.read_text().replace("  environments:\n", ""))
    result = run("build", "models", "-o", "out")
    assert result.exit_code == 0, result.output
    assert (repo / "out" / "default" / "churn" / "rollout.yaml").is_file()


# --- messages a platform line causes name their spec ---------------------------------------

GPU = "      resources: {limits: {nvidia.com/gpu: 1}}\n"


def test_a_capacity_note_from_the_platforms_defaults_names_each_spec(tmp_path, monkeypatch):
    platform = PLATFORM.replace("      securityContext:", GPU + "      securityContext:", 1)
    repo = _repo(tmp_path / "repo", platform, names=("churn", "fraud"))
    monkeypatch.chdir(repo)
    result = run("validate", "models")
    assert result.exit_code == 0, result.output
    notes = sorted(line for line in result.stderr.splitlines() if "[capacity-note]" in line)
    # two specs (two environments each): four notes, none collapsed, each naming its spec
    assert len(notes) == 4 and all(line.startswith(".mlspec/platform.yaml:8:7: note: spec models/") for line in notes)
    assert [line.split(": note: ")[1].split(": in environment")[0] for line in notes] == [
        "spec models/churn.yaml", "spec models/churn.yaml", "spec models/fraud.yaml", "spec models/fraud.yaml"]


def test_a_capacity_note_from_the_specs_own_field_points_at_the_spec_as_before(tmp_path, monkeypatch):
    repo = _repo(tmp_path / "repo", names=("churn",))
    monkeypatch.chdir(repo)
    spec = repo / "models" / "churn.yaml"
    spec.write_text(spec.read_text().replace("  evaluation:\n", "  serving:\n" + GPU.replace("  ", " ", 1)
                                             .replace("     ", "    ") + "  evaluation:\n", 1))
    notes = [line for line in run("validate", "models").stderr.splitlines() if "[capacity-note]" in line]
    assert notes and all(line.startswith("models/churn.yaml:16:5: note: in environment `") for line in notes), notes


def test_a_policy_error_from_the_platforms_defaults_names_each_spec(tmp_path, monkeypatch):
    platform = PLATFORM.replace("{serving: {replicas: 4}}", "{serving: {replicas: 2}}")
    repo = _repo(tmp_path / "repo", platform, names=("churn", "fraud"))
    monkeypatch.chdir(repo)
    result = run("build", "models", "-o", "out")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f".mlspec/platform.yaml:21:38: error: spec models/{name}.yaml: in environment `prod`: `spec.serving.replicas` "
        "is 2; at least 3 required (policy minReplicas, .mlspec/platform.yaml:22) [platform-policy]"
        for name in ("churn", "fraud")]
    # the spec's own value: at the spec, as before, naming no other file
    (repo / "models" / "fraud.yaml").unlink()
    spec = repo / "models" / "churn.yaml"
    spec.write_text(spec.read_text().replace("    prod: {}\n", "    prod: {serving: {replicas: 1}}\n"))
    assert run("build", "models", "-o", "out").stderr.startswith(
        "models/churn.yaml:25:32: error: in environment `prod`: `spec.serving.replicas` is 1;")


def test_a_runtime_image_refused_by_the_registries_names_each_spec(tmp_path, monkeypatch):
    runtime = (f"  runtimes:\n    tf:\n      image: docker.io/tf/serving@sha256:{H}\n      port: 8501\n"
               "      protocol: v1\n")
    repo = _repo(tmp_path / "repo", PLATFORM + runtime, names=("churn", "fraud"))
    monkeypatch.chdir(repo)
    for name in ("churn", "fraud"):
        spec = repo / "models" / f"{name}.yaml"
        spec.write_text(spec.read_text().replace("  evaluation:\n", "  serving: {runtime: tf}\n  evaluation:\n", 1))
    result = run("validate", "models")
    lines = sorted(set(result.stderr.splitlines()))
    assert len(lines) == 4, lines  # each spec, each environment: nothing collapsed
    assert all(line.startswith(".mlspec/platform.yaml:26:14: error: spec models/") for line in lines), lines
    assert sum("spec models/churn.yaml: in environment `prod`" in line for line in lines) == 1


def test_an_error_a_platform_default_causes_names_each_spec(tmp_path, monkeypatch):
    platform = PLATFORM.replace("    rollout:\n", "    rollout:\n      steps: [{setWeight: 50}, {setWeight: 20}]\n", 1)
    repo = _repo(tmp_path / "repo", platform, names=("churn", "fraud"))
    monkeypatch.chdir(repo)
    lines = run("validate", "models").stderr.splitlines()
    assert [line.split(": canary weight")[0] for line in lines] == [
        ".mlspec/platform.yaml:15:44: error: spec models/churn.yaml", ".mlspec/platform.yaml:15:44: error: spec models/fraud.yaml"]


# --- specs of different platform files are never built under one --------------------------


def test_specs_of_two_repositories_with_different_platform_files_are_refused_together(tmp_path, monkeypatch):
    one = _repo(tmp_path / "one", names=("churn",))
    two = _repo(tmp_path / "two", PLATFORM.replace("    requireOwner: true\n", ""), names=("fraud",))
    monkeypatch.chdir(tmp_path)
    result = run("build", "one/models/churn.yaml", "two/models/fraud.yaml", "-o", "out")
    assert result.exit_code == 1 and not (tmp_path / "out").exists()
    assert result.stderr.startswith("one/models/churn.yaml:1:1: error: these specs belong to repositories with "
                                    "different platform files ("), result.stderr
    assert str(one / ".mlspec" / "platform.yaml") in result.stderr or "one/.mlspec/platform.yaml" in result.stderr
    # a repository without a platform file beside one with it: refused too (not built under the one)
    (two / ".mlspec" / "platform.yaml").unlink()
    again = run("build", "one/models/churn.yaml", "two/models/fraud.yaml", "-o", "out")
    assert again.exit_code == 1 and "different platform files" in again.stderr
    # the neighbours: one repository's specs build together; `--platform` chooses one for all
    assert run("validate", "one/models/churn.yaml", "one/models/churn.yaml").exit_code == 0
    chosen = run("validate", "one/models/churn.yaml", "two/models/fraud.yaml", "--platform", "one/.mlspec/platform.yaml")
    assert chosen.exit_code == 0, chosen.output


def test_the_registry_rule_covers_the_runtime_chosen_and_not_the_one_beside_it(tmp_path, monkeypatch):
    runtime = (f"  runtimes:\n    tf:\n      image: {REG}/tf/serving@sha256:{H}\n      port: 8501\n      protocol: v1\n"
               f"    other:\n      image: docker.io/x/y@sha256:{H}\n      port: 8501\n      protocol: v1\n")
    repo = _repo(tmp_path / "repo", PLATFORM + runtime, names=("churn",))
    monkeypatch.chdir(repo)
    spec = repo / "models" / "churn.yaml"
    spec.write_text(spec.read_text().replace("  evaluation:\n", "  serving: {runtime: tf}\n  evaluation:\n", 1))
    assert run("validate", "models").exit_code == 0
