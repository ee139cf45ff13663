"""Behaviour vs release stamps: every changed object of a diff is a behaviour hunk or
counted on the stamps-only line, by stripping the stamps (one definition,
`records/stamps.py`) from both sides and comparing what is left."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from mlspec.cli.main import main
from mlspec.pipeline import core, resolve
from mlspec.records import diff, stamps

ROOT = Path(__file__).resolve().parents[2]
FRAUD = (ROOT / "examples" / "fraud-detector.yaml").read_text()


def _release(text: str) -> str:
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import diff_sizes

    return diff_sizes.release(text)


def test_the_stamp_keys_are_the_pins_resolve_writes():
    compiled = core.compile_document(FRAUD, "fraud.yaml")  # features and an owner: every pin there is
    doc = compiled.items[0].release.spec
    written = set(resolve._pins(doc))
    assert written == stamps.PIN_ANNOTATIONS
    assert "mlspec.dev/platform-digest" in stamps.STAMP_ANNOTATIONS
    # nearest neighbours: mlspec's other keys on objects are no stamps
    labels = compiled.items[0].release.labels
    assert "mlspec.dev/environment" in labels and "mlspec.dev/environment" not in stamps.STAMP_ANNOTATIONS
    assert not {"mlspec.dev/rollback-from", "mlspec.dev/rollback-to"} & stamps.STAMP_ANNOTATIONS


def _obj(labels: dict[str, str], annotations: dict[str, str], match: dict[str, str] | None = None) -> dict:
    return {"metadata": {"labels": labels, "annotations": annotations},
            "spec": {"selector": {"matchLabels": match or {"a": "b"}},
                     "template": {"metadata": {"labels": labels, "annotations": annotations}}}}


def test_a_stamp_is_a_key_in_labels_or_annotations_and_nowhere_else():
    v1 = {stamps.VERSION_LABEL: "1.0.0", "team": "risk"}
    v2 = {stamps.VERSION_LABEL: "1.1.0", "team": "risk"}
    pins1 = {"mlspec.dev/model-version": "1.0.0", "mlspec.dev/spec-digest": "sha256:1", "keep": "x"}
    pins2 = {"mlspec.dev/model-version": "1.1.0", "mlspec.dev/spec-digest": "sha256:2", "keep": "x"}
    assert not stamps.behaviour_changed(_obj(v1, pins1), _obj(v2, pins2))  # pod template labels too
    # the neighbouring label, the neighbouring annotation, and the version key in a selector
    assert stamps.behaviour_changed(_obj(v1, pins1), _obj({**v2, "team": "fraud"}, pins2))
    assert stamps.behaviour_changed(_obj(v1, pins1), _obj(v2, {**pins2, "keep": "y"}))
    assert stamps.behaviour_changed(_obj(v1, pins1), _obj(v2, {**pins2, "mlspec.dev/rollback-to": "1.0.0"}))
    assert stamps.behaviour_changed(_obj(v1, pins1, {stamps.VERSION_LABEL: "1.0.0"}),
                                    _obj(v2, pins2, {stamps.VERSION_LABEL: "1.1.0"}))
    # a value that merely looks like a stamp, in data, is behaviour
    assert stamps.behaviour_changed({"data": {stamps.VERSION_LABEL: "1"}}, {"data": {stamps.VERSION_LABEL: "2"}})


def _compare(old: str, new: str) -> diff.SpecDiff:
    return diff.compare(core.compile_document(old, "fraud.yaml"), core.compile_document(new, "fraud.yaml"))


def test_a_release_shows_behaviour_hunks_and_counts_the_rest_as_stamps():
    d = _compare(FRAUD, _release(FRAUD))
    files = core.to_files(core.compile_document(FRAUD, "fraud.yaml").items, "fraud.yaml")
    # every file changed, each exactly once: a hunk or a stamps-only object (kustomizations do not change)
    assert sorted([*d.manifests, *d.stamped]) == sorted(p for p in files if not p.endswith("kustomization.yaml"))
    assert "prod/fraud-detector/rollout.yaml" in d.manifests  # the new model rolls out
    assert "prod/fraud-detector/configmap-gate.yaml" in d.manifests
    assert "prod/fraud-detector/service-stable.yaml" in d.stamped
    assert "prod/fraud-detector/networkpolicy-serving.yaml" in d.stamped
    assert d.stamp_line == f"{len(d.stamped)} objects: release stamps only (2026.11.3 -> 2026.12.1)"
    objects = [{f"{i.directory}/{name}": obj for i in core.compile_document(text, "fraud.yaml").items
                for name, obj in i.objects.items()} for text in (FRAUD, _release(FRAUD))]
    for path in d.stamped:  # what stripping says, object by object: equal without stamps, not with them
        assert objects[0][path] != objects[1][path]
        assert stamps.strip(objects[0][path]) == stamps.strip(objects[1][path])


def test_a_label_every_object_carries_is_behaviour_everywhere():
    d = _compare(FRAUD, FRAUD.replace("labels: {team: risk}", "labels: {team: fraud}"))
    assert d.stamped == [] and d.stamp_line is None
    assert "prod/fraud-detector/service-stable.yaml" in d.manifests


def test_a_threshold_change_is_behaviour_for_the_gate_and_stamps_for_the_rest():
    d = _compare(FRAUD, FRAUD.replace("{metric: auc, min: 0.92}", "{metric: auc, min: 0.93}"))
    assert "prod/fraud-detector/configmap-gate.yaml" in d.manifests
    assert "prod/fraud-detector/service-stable.yaml" not in d.manifests
    # the version did not move: the line names the stamp that did (while objects carry it)
    if d.stamped:
        assert d.stamp_line == f"{len(d.stamped)} objects: release stamps only (mlspec.dev/spec-digest)"


def test_every_format_carries_the_stamps_line(tmp_path):
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(FRAUD)
    new.write_text(_release(FRAUD))
    outputs = {fmt: CliRunner().invoke(main, ["diff", str(old), str(new), "--format", fmt])
               for fmt in ("text", "markdown", "json")}
    assert all(r.exit_code == 0 for r in outputs.values()), {k: r.output for k, r in outputs.items()}
    data = json.loads(outputs["json"].stdout)
    line = data["stamps"]["line"]
    assert line.endswith("objects: release stamps only (2026.11.3 -> 2026.12.1)")
    assert data["stamps"]["count"] == len(data["stamps"]["paths"]) > 0
    assert not set(data["stamps"]["paths"]) & set(data["manifests"])
    assert f"\n  {line}\n" in outputs["text"].stdout
    assert line in outputs["markdown"].stdout
    # stamps-only objects have no hunk in any format
    assert "+++ b/prod/fraud-detector/service-stable.yaml" not in outputs["text"].stdout
    assert "service-stable.yaml" not in outputs["markdown"].stdout
