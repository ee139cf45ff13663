"""The release ledger as data: loading (absent, damaged, unreadable), what a record keeps when
a version is built again, metrics, and the canonical spec digest."""

from __future__ import annotations

import pytest
from conftest import ROOT

from mlspec.files.errors import LedgerError, PathError
from mlspec.pipeline.core import Context, build
from mlspec.records import ledger
from mlspec.records.ledger import Ledger

MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()
FULL = (ROOT / "examples" / "fraud-detector.yaml").read_text()


def built(text: str = MINIMAL, source: str = "models/churn.mlspec.yaml"):
    return build(text.encode(), source, None, Context())


def test_absent_ledgers_are_empty_and_a_file_in_the_way_is_refused(tmp_path):
    assert ledger.load(tmp_path, "churn") == Ledger("churn", None, [])
    assert ledger.load_all(tmp_path) == {}
    (tmp_path / "_ledger").write_text("a file where the ledger directory should be")
    # read through safepath: a file in the way is a refused path, not "nothing recorded"
    with pytest.raises(PathError) as info:
        ledger.load(tmp_path, "churn")
    [diag] = info.value.diagnostics
    assert (diag.source, diag.line, diag.col, diag.message) == (str(tmp_path / "_ledger"), 1, 1, "is not a directory")
    with pytest.raises(PathError) as info:  # listing the ledgers refuses it too: it is not "no history"
        ledger.load_all(tmp_path)
    assert [(d.source, d.message) for d in info.value.diagnostics] == [(str(tmp_path / "_ledger"), "is not a directory")]


def _write(tmp_path, name: str, text: str):
    (tmp_path / "_ledger").mkdir(exist_ok=True)
    path = tmp_path / "_ledger" / f"{name}.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "expected"), [
    ("apiVersion: mlspec.dev/v1alpha1\nkind: Other\nmodel: churn\nreleases: []\n",
     [(2, 1, '`kind` is string "Other", expected \'ReleaseLedger\'')]),
    ("kind: ReleaseLedger\nmodel: other\nreleases: []\n", [(1, 1, "`the document` has no `apiVersion`")]),
    ("apiVersion: mlspec.dev/v1alpha1\nkind: ReleaseLedger\nmodel: churn\nreleases: {}\n",
     [(4, 1, "`releases` is a mapping, expected a list")]),
    ("kind: ReleaseLedger\nmodel: churn\n", [(1, 1, "`the document` has no `apiVersion`, `releases`")]),
    ("- kind: ReleaseLedger\n", [(1, 1, "the document root must be a mapping, not a list")]),
    ("kind: [unclosed\n", [(2, 1, "invalid YAML: did not find expected ',' or ']' while parsing a flow sequence")]),
])
def test_a_damaged_ledger_is_reported_at_its_damaged_place(tmp_path, text, expected):
    path = _write(tmp_path, "churn", text)
    with pytest.raises(LedgerError) as info:
        ledger.load(tmp_path, "churn")
    assert [(d.source, d.line, d.col, d.message) for d in info.value.diagnostics] == [
        (str(path), line, col, f"the ledger is damaged: {problem}; restore it from Git") for line, col, problem in expected]


def test_a_directory_in_place_of_the_ledger_file_is_refused_not_read_as_empty(tmp_path):
    (tmp_path / "_ledger" / "churn.yaml").mkdir(parents=True)
    with pytest.raises(PathError) as info:
        ledger.load(tmp_path, "churn")
    [diag] = info.value.diagnostics
    assert (diag.source, diag.line, diag.col, diag.message) == (
        str(tmp_path / "_ledger" / "churn.yaml"), 1, 1, "is a directory, not a file")


def test_a_ledger_the_system_cannot_open_is_an_error_at_the_ledger_not_an_empty_one(tmp_path):
    # `history NAME` / `rollback` take the name from the command line: a name the file system
    # refuses (ENAMETOOLONG, an OSError that is not "absent") must not read as "nothing recorded"
    (tmp_path / "_ledger").mkdir()
    name = "x" * 300
    with pytest.raises(LedgerError) as info:
        ledger.load(tmp_path, name)
    [diag] = info.value.diagnostics
    assert (diag.source, diag.line, diag.col) == (str(tmp_path / "_ledger" / f"{name}.yaml"), 1, 1)
    assert diag.message.startswith("cannot read the ledger: ") and len(diag.message) > len("cannot read the ledger: ")


def test_record_dump_load_round_trip_and_load_all(tmp_path):
    first = ledger.record(Ledger("churn"), built())
    assert first.current == "1.0.0"
    [entry] = first.releases
    assert list(entry) == ["version", "source", "specDigest", "pins", "environments", "spec", "digest"]
    assert entry["digest"] == ledger.entry_digest(entry) != entry["specDigest"]  # sealed over the whole entry
    assert not ledger.unsealed(first)
    assert entry["source"] == "churn.mlspec.yaml"  # the file name, not the path it was built from
    assert entry["specDigest"] == ledger.digest(entry["spec"])
    text = ledger.dump(first)
    assert text.startswith("# mlspec release ledger: written by `mlspec build` and `mlspec gate --record`.")
    _write(tmp_path, "churn", text)
    _write(tmp_path, "other", ledger.dump(Ledger("other")))
    assert ledger.load(tmp_path, "churn") == first
    assert ledger.load_all(tmp_path) == {"churn": first, "other": Ledger("other")}
    assert ledger.relpath("churn") == "_ledger/churn.yaml"


def test_recording_a_version_again_keeps_its_evaluation_and_merges_environments():
    first = ledger.record(Ledger("churn"), built())
    evaluated = ledger.with_metrics(first, "1.0.0", {"f1": 0.9, "auc": 0.8}, passed=True)
    entry = evaluated.find("1.0.0")
    assert entry["metrics"] == {"auc": 0.8, "f1": 0.9} and list(entry["metrics"]) == ["auc", "f1"]
    assert entry["gate"] == "passed"
    assert first.find("1.0.0").get("metrics") is None  # with_metrics copies
    assert ledger.with_metrics(first, "1.0.0", {}, passed=False).find("1.0.0")["gate"] == "failed"
    again = built(MINIMAL + "  environments:\n    prod: {}\n")
    rebuilt = ledger.record(Ledger(evaluated.model, "0.9.0", evaluated.releases), again)
    [entry] = rebuilt.releases
    assert rebuilt.current == "1.0.0"
    assert sorted(entry["environments"]) == ["default", "prod"]  # the old environment is kept
    assert (entry["metrics"], entry["gate"]) == ({"auc": 0.8, "f1": 0.9}, "passed")
    assert entry["specDigest"] == ledger.digest(again.spec_record) != evaluated.find("1.0.0")["specDigest"]
    assert evaluated.find("1.0.0")["environments"] == {"default": entry["environments"]["default"]}


def test_a_new_version_is_appended_and_becomes_current():
    first = ledger.record(Ledger("churn"), built())
    second = ledger.record(first, built(MINIMAL.replace('version: "1.0.0"', 'version: "1.1.0"')
                                        .replace("model/churn/1.0.0", "model/churn/1.1.0")))
    assert [r["version"] for r in second.releases] == ["1.0.0", "1.1.0"]
    assert second.current == "1.1.0"
    assert len(first.releases) == 1  # record copies
    assert second.find("2.0.0") is None


def test_metrics_lists_only_releases_with_recorded_metrics():
    lg = Ledger("m", None, [{"version": "1", "metrics": {"a": 1.0}}, {"version": "2", "metrics": {}},
                            {"version": "3"}])
    assert lg.metrics() == {"1": {"a": 1.0}}


def test_pins_hold_the_features_only_when_declared():
    assert "features" not in built().pins
    assert sorted(built().pins) == ["artifact", "code", "data", "environment", "evaluation", "seed"]
    assert built().pins["evaluation"] == {  # what the model is judged on is pinned too
        "dataset": {"uri": "gs://data/churn-holdout", "version": "2026-11-01"},
        "image": "ghcr.io/acme/churn-eval@sha256:e152549725cff9fdf88e1a88d6b0520b876997ac110481f7d7a47a076a348f22"}
    no_schema = built(MINIMAL.replace("  serving:\n", "  features: {pipelineVersion: fp-1}\n  serving:\n")).pins
    assert no_schema["features"] == {"pipelineVersion": "fp-1"}  # an unset digest is absent, not null
    full = build(FULL.encode(), "f.yaml", None, Context()).pins
    assert list(full["environment"]) == ["image", "lockfileDigest", "accelerator"]  # YAML names, as in the spec
    assert full["features"] == {"pipelineVersion": "fp-17", "schemaDigest":
                                "sha256:7654100411969fa3cd0a93c8d70361ba4ce448324fe3ae0b0b30dccfce4e972b"}


def test_digest_is_canonical_json():
    assert ledger.digest({"b": 1, "a": "é"}) == ledger.digest({"a": "é", "b": 1})
    import hashlib

    assert ledger.digest({"b": 1, "a": "é"}) == "sha256:" + hashlib.sha256('{"a":"é","b":1}'.encode()).hexdigest()
    assert ledger.flat({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}
    assert ledger.flat(5) == {"": 5}


def test_entries_are_canonical_environments_sorted_and_unset_pins_left_out():
    two = built(MINIMAL + "  environments:\n    zeta: {}\n    alpha: {}\n")
    [entry] = ledger.record(Ledger("churn"), two).releases
    assert list(entry["environments"]) == ["alpha", "zeta"]
    again = ledger.record(ledger.record(Ledger("churn"), built()), two).releases[0]
    assert list(again["environments"]) == ["alpha", "default", "zeta"]
    pins = built().pins
    assert pins["data"] == {"uri": "gs://data/churn", "version": "2026-11-01"}  # no digest given: none recorded
    assert list(pins["environment"]) == ["image"]
    assert entry["spec"]["spec"]["environments"] == {"zeta": {}, "alpha": {}}  # the spec keeps its own order
    assert "replicas" not in entry["spec"]["spec"]["serving"]  # the spec as written, not its defaults


def test_a_pin_added_to_a_released_version_is_refused():
    first = ledger.record(Ledger("churn"), built())
    with pytest.raises(LedgerError) as info:
        ledger.record(first, built(MINIMAL.replace("  serving:\n", "  features: {pipelineVersion: fp-1}\n  serving:\n")))
    [diag] = info.value.diagnostics
    assert "(features.pipelineVersion: None -> 'fp-1')" in diag.message  # absent before: still a change
    assert diag.message.startswith("version '1.0.0' is already released with other pins")
