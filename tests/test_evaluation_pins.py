"""What a released version is judged on is pinned like the model: its evaluation dataset
and evaluator image may not change under the same version (in an overlay neither), an
entry recorded before they were pins is held to its recorded spec, and `mlspec diff`
reports a changed evaluation input as a loosening."""

from __future__ import annotations

import json

from test_reconcile import FULL, OTHER, Repo, spec_a, where

from mlspec.records import ledger

HOLDOUT = "s3://acme-data/transactions-holdout/v42.parquet"
EASY = "s3://acme-data/transactions-holdout/easy.parquet"
PROD = "prod: {serving: {replicas: 6}}"


def test_an_overlay_cannot_change_the_evaluation_dataset_of_a_released_version(tmp_path):
    r = Repo(tmp_path)
    assert r.build(spec_a()).exit_code == 0
    text = spec_a().replace(PROD, f"prod: {{serving: {{replicas: 6}}, evaluation: {{dataset: {{uri: '{EASY}'}}}}}}")
    message = r.refused(text, *where(text, f"'{EASY}'"), f"recorded '{HOLDOUT}'")
    assert "in environment `prod`" in message and "evaluation.dataset.uri" in message


def test_an_entry_recorded_before_evaluation_pins_is_held_to_its_recorded_spec(tmp_path):
    r = Repo(tmp_path)
    assert r.build(spec_a()).exit_code == 0
    path = r.out / ledger.relpath("fraud-detector")
    lg = ledger.load(r.out, "fraud-detector")
    (entry,) = lg.releases
    del entry["pins"]["evaluation"]  # as an earlier mlspec sealed it
    entry["digest"] = ledger.entry_digest(entry)
    path.write_text(ledger.dump(lg))
    assert r.build(spec_a()).exit_code == 0  # the same inputs: a rebuild is fine
    text = spec_a().replace(HOLDOUT, EASY)
    r.refused(text, *where(text, EASY), f"(evaluation.dataset.uri: recorded '{HOLDOUT}'")


def _diff(tmp_path, old: str, new: str, *flags: str):
    a, b = tmp_path / "old.yaml", tmp_path / "new.yaml"
    a.write_text(old)
    b.write_text(new)
    return Repo(tmp_path).mlspec("diff", a, b, *flags)


def test_diff_fails_on_a_changed_evaluation_dataset_or_image(tmp_path):
    for old, new, label in ((HOLDOUT, EASY, "evaluation dataset"), ('"v42-holdout"', '"v42-easy"',
                             "evaluation dataset version"),
                            ("@sha256:1bbd174404efbce95f1af489ef93f4aa0f4d55718f24c3504682216afa7b7fb1",
                             "@" + OTHER, "evaluation image")):
        result = _diff(tmp_path, FULL, FULL.replace(old, new, 1), "--fail-on-loosened")
        assert result.exit_code == 1, result.output
        assert f"  WARNING: {label}: " in result.stdout and "(what the model is judged on)" in result.stdout
        assert "1 evaluation input(s) changed" in result.stderr
    as_json = json.loads(_diff(tmp_path, FULL, FULL.replace(HOLDOUT, EASY), "--format", "json").stdout)
    assert as_json["judged"] == [{"field": "evaluation dataset", "old": HOLDOUT, "new": EASY}]


def test_diff_names_the_environment_whose_overlay_changes_the_evaluation_dataset(tmp_path):
    new = FULL.replace(PROD, f"prod: {{serving: {{replicas: 6}}, evaluation: {{dataset: {{uri: '{EASY}'}}}}}}")
    assert new != FULL
    result = _diff(tmp_path, FULL, new, "--fail-on-loosened", "--format", "markdown")
    assert result.exit_code == 1
    assert "> Evaluation: evaluation dataset (prod) changed: " in result.stdout


def test_diff_of_other_changes_is_no_loosening(tmp_path):
    result = _diff(tmp_path, FULL, FULL.replace("replicas: 6", "replicas: 7"), "--fail-on-loosened")
    assert result.exit_code == 0 and "WARNING" not in result.stdout, result.output
