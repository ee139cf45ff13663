"""`rollback.previous` is reconciled with the pins the named release recorded *in each
environment* (issue 28): an environment whose overlay changed a pin is compared with
that environment's record, not the base's, and every environment is checked, not only
the first one built. Each refusal has its neighbour that passes (every environment agrees)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlspec.files import layout
from mlspec.files.loader import Document
from mlspec.pipeline import core
from mlspec.pipeline.resolve import Context
from mlspec.records import ledger, reconcile
from mlspec.records.releases import RecordedMetrics
from test_reconcile import A_DIGEST, A_SCHEMA, FULL, OTHER, Repo, spec_a, where

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


# --- which ledger: the namespaced layout reads NAMESPACE/NAME, and only with a valid namespace --

def _namespaced_past(out: Path) -> None:
    """Release 2026.10.1 of risk/fraud-detector in the namespaced ledger (no flat one)."""
    built = core.build(spec_a(), "a.yaml")
    path = out / ledger.relpath("risk/fraud-detector")
    path.parent.mkdir(parents=True)
    path.write_text(ledger.dump(ledger.record(ledger.Ledger("risk/fraud-detector"), built)))


def _doc(metadata: dict) -> Document:
    return Document("s.yaml", {"metadata": metadata, "spec": {}})


@pytest.mark.parametrize(("metadata", "found"), [
    ({"name": "fraud-detector", "namespace": "risk"}, True),
    ({"name": "fraud-detector", "namespace": "payments"}, False),  # the same name in another namespace
    ({"name": "fraud-detector"}, False),  # `resolve` reports the missing namespace
    ({"name": "fraud-detector", "namespace": 7}, False),
    ({"name": "fraud-detector", "namespace": "Risk_Team"}, False),  # no DNS label: no file is named after it
    ({"name": "Fraud_Detector", "namespace": "risk"}, False),  # no DNS label either
    ({"namespace": "risk"}, False),  # validation reports the missing name
    ({"name": 7, "namespace": "risk"}, False),
])
def test_the_namespaced_layout_reconciles_with_the_namespace_and_names_ledger(tmp_path, metadata, found):
    _namespaced_past(tmp_path)
    # a ledger where an invalid namespace or name would lead: never read
    (tmp_path / "_ledger" / "Risk_Team").mkdir()
    for invalid in ("Risk_Team/fraud-detector", "risk/Fraud_Detector"):
        shutil.copy(tmp_path / ledger.relpath("risk/fraud-detector"), tmp_path / ledger.relpath(invalid))
    context = Context(recorded_metrics=RecordedMetrics(tmp_path), layout=layout.NAMESPACED)
    past = reconcile.ledger_of(_doc(metadata), context)
    assert (past is not None) is found
    if found:
        assert past.model == "risk/fraud-detector" and [r["version"] for r in past.releases] == ["2026.10.1"]


def test_the_flat_layout_reads_the_names_ledger_whatever_the_namespace(tmp_path):
    r = Repo(tmp_path)
    assert r.build(spec_a()).exit_code == 0
    context = Context(recorded_metrics=RecordedMetrics(r.out))
    for metadata in ({"name": "fraud-detector", "namespace": "risk"}, {"name": "fraud-detector"}):
        past = reconcile.ledger_of(_doc(metadata), context)
        assert past is not None and past.model == "fraud-detector"
    assert reconcile.ledger_of(_doc({"name": "other"}), context) is None  # no releases: nothing to reconcile


# --- a pin on one side only -------------------------------------------------------------

def test_a_pin_added_or_removed_on_rebuild_is_refused_quoting_none(tmp_path):
    r = Repo(tmp_path)
    lockfile = "sha256:d6f5483103ee386e1f3453bff6da949b7d95fe942218d3774a449e38bbd9317f"
    without = spec_a().replace(f"      lockfileDigest: {lockfile}\n", "")
    assert without != spec_a() and r.build(without).exit_code == 0
    text = spec_a()
    r.refused(text, *where(text, lockfile), f"(environment.lockfileDigest: recorded None, this spec '{lockfile}')")
    r2 = Repo(tmp_path / "2")
    r2.out.parent.mkdir(exist_ok=True)
    assert r2.build(spec_a()).exit_code == 0
    # at the section that lost it (`spec.training.environment`, where its first key stands)
    message = r2.refused(without, *where(without, "image: registry.acme.example/risk/trainer"),
                         "(environment.lockfileDigest: recorded 'sha256:d6f548")
    assert "this spec None)" in message


def test_a_previous_field_left_out_is_not_compared_in_an_environment_that_recorded_it(tmp_path):
    """Release A recorded a feature schema digest in prod only (its overlay), none in the base:
    `fill` has nothing to take, and a previous that leaves the field out is not refused in
    prod (the field it states, the pipeline version, still is compared there)."""
    r = Repo(tmp_path)
    base_only = spec_a().replace(f"    schemaDigest: {A_SCHEMA}\n", "")
    prod = base_only.replace("prod: {serving: {replicas: 6}}",
                             f"prod: {{serving: {{replicas: 6}}, features: {{schemaDigest: '{A_SCHEMA}'}}}}")
    assert prod != base_only != spec_a() and r.build(prod).exit_code == 0
    result = r.build(FULL)
    assert result.exit_code == 0, result.output
    wrong = FULL.replace('featurePipelineVersion: "fp-16"', 'featurePipelineVersion: "fp-15"')
    errors = [e for e in r.build(wrong).stderr.splitlines() if ": error: " in e]
    assert len(errors) == 1 and "`rollback.previous.featurePipelineVersion` is 'fp-15'" in errors[0], errors


# --- what every environment shares is one error, naming none --------------------------

def test_a_previous_that_is_wrong_in_every_environment_alike_is_one_error_naming_none(tmp_path):
    r = Repo(tmp_path)
    assert r.build(spec_a()).exit_code == 0
    never = FULL.replace('      version: "2026.10.1"', '      version: "2026.09.9"').replace(
        'baseline: "2026.10.1"', 'baseline: "2026.09.9"')
    between = FULL.replace('version: "2026.11.3"', 'version: "2026.10.2"').replace(
        "fraud-detector/2026.11.3/", "fraud-detector/2026.10.2/")
    for text, quoted in ((never, "which fraud-detector's ledger does not record"),
                         (between, None), (FULL, "current release of fraud-detector is '2026.10.2'")):
        result = r.build(text)
        if quoted is None:  # 2026.10.2 is released: 2026.11.3 naming 2026.10.1 now skips it
            assert result.exit_code == 0, result.output
            continue
        errors = [e for e in result.stderr.splitlines() if ": error: " in e]
        assert result.exit_code == 1 and len(errors) == 1, errors
        assert quoted in errors[0] and "in environment" not in errors[0]
    # a rebuild of 2026.10.2 with another previous: one error, naming no environment
    again = between.replace('      version: "2026.10.1"', '      version: "2026.10.0"').replace(
        'baseline: "2026.10.1"', 'baseline: "2026.10.0"')
    errors = [e for e in r.build(again).stderr.splitlines() if ": error: " in e]
    assert len(errors) == 1 and "keeps the `previous`" in errors[0] and "in environment" not in errors[0], errors
