"""`rollback.previous` is reconciled with the pins the named release recorded *in each
environment* (issue 28): an environment whose overlay changed a pin is compared with
that environment's record, not the base's, and every environment is checked, not only
the first one built. Each refusal has its neighbour that passes (every environment agrees)."""

from __future__ import annotations

import pytest

from mlspec.records import ledger
from test_reconcile import A_DIGEST, FULL, OTHER, Repo, spec_a, where

THREE = "    prod: {serving: {replicas: 6}}\n"
# A third environment, declared last: staging, prod, qa (sorted: prod, qa, staging), so
# whichever order the environments are built in, two of the three are not the first.
QA = "    qa: {namespace: risk-qa, serving: {replicas: 2}}\n"
PREV_DIGEST = f"digest: {A_DIGEST}}}\n      dataVersion"  # `rollback.previous.artifact.digest` in FULL


def three(text: str, overlay: dict[str, str] | None = None) -> str:
    """`text` with the environments staging, prod, qa; `overlay` {env: extra overlay keys}."""
    assert text.endswith(THREE), text[-200:]
    text = text + QA
    for env, extra in (overlay or {}).items():
        line = {"staging": "      namespace: risk-staging\n", "prod": THREE, "qa": QA}[env]
        new = (line[:-2] + f", {extra}}}\n" if env != "staging" else line + f"      {extra}\n")
        assert line in text
        text = text.replace(line, new, 1)
    return text


def released_a(tmp_path, env: str | None, pin: str = f"model: {{artifact: {{digest: '{OTHER}'}}}}") -> Repo:
    """Release 2026.10.1 recorded in staging, prod and qa; `env`'s overlay changes `pin`."""
    r = Repo(tmp_path)
    result = r.build(three(spec_a(), {env: pin} if env else None))
    assert result.exit_code == 0, result.output
    return r


def test_the_three_environments_of_release_a_are_recorded_apart(tmp_path):
    r = released_a(tmp_path, "qa")
    (entry,) = ledger.load(r.out, "fraud-detector").releases
    assert ledger.recorded_pins(entry, "qa")["artifact"]["digest"] == OTHER
    assert ledger.recorded_pins(entry, "prod")["artifact"]["digest"] == A_DIGEST
    assert ledger.recorded_pins(entry, "staging")["artifact"]["digest"] == A_DIGEST
    assert ledger.recorded_pins(entry, None)["artifact"]["digest"] == A_DIGEST


def test_a_previous_every_environment_agrees_with_builds(tmp_path):
    r = released_a(tmp_path, None)
    result = r.build(three(FULL))
    assert result.exit_code == 0, result.output
    assert ledger.load(r.out, "fraud-detector").current == "2026.11.3"


def test_an_overlay_pin_outside_the_previous_fields_does_not_refuse_previous(tmp_path):
    # prod's overlay changed a pin `rollback.previous` does not state: nothing to disagree with
    r = released_a(tmp_path, "prod", pin="training: {environment: {accelerator: nvidia-h100}}")
    result = r.build(three(FULL))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("env", ["staging", "prod", "qa"])
def test_previous_is_compared_with_each_environments_own_record(tmp_path, env):
    """Release A recorded another artifact digest in `env` only: a previous that states the
    base's digest is wrong for `env` (a rollback there restores the other bytes)."""
    r = released_a(tmp_path, env)
    text = three(FULL)
    message = r.refused(text, *where(text, A_DIGEST), f"recorded with '{OTHER}'")
    assert message.split(": error: ")[1].startswith(f"in environment `{env}`: `rollback.previous.artifact.digest` is ")
    result = r.build(text)
    errors = [e for e in result.stderr.splitlines() if ": error: " in e]
    assert len(errors) == 1, errors  # the environments that agree are not named


@pytest.mark.parametrize("env", ["staging", "prod", "qa"])
def test_previous_naming_one_environments_record_is_refused_in_the_others(tmp_path, env):
    """The neighbour: the previous states `env`'s digest, so the two other environments
    (whose record is the base's) refuse it, each named, `env` not."""
    r = released_a(tmp_path, env)
    text = three(FULL).replace(PREV_DIGEST, PREV_DIGEST.replace(A_DIGEST, OTHER), 1)
    result = r.build(text)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    line, col = where(text, OTHER)
    errors = [e for e in result.stderr.splitlines() if ": error: " in e]
    # the two others hold the base's record: one error at the field, naming neither
    (error,) = errors
    assert error.startswith(f"{r.spec}:{line}:{col}: error: `rollback.previous.artifact.digest` is '{OTHER}'")
    assert f"recorded with '{A_DIGEST}'" in error, error
