"""`--from-mlflow` (`mlflow_source.fetch_record`) against MLflow's own client and a real
local store: runs, dataset inputs, logged models and registered versions made by
`MlflowClient` in a file store under tmp (the test venv has `mlflow-skinny`: no SQL
store, no pandas; the file store is MLflow's own, opted into with
`MLFLOW_ALLOW_FILE_STORE`). What each pin is taken from, each with its nearest wrong
neighbour; the values read within a spec's budget. Fast (about a second of setup):
the mutation run's tests for `mlflow_source`. The real tracking server, S3 and pods:
tests/harness/test_mlflow_release.py."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlspec.files.errors import RecordError
from mlspec.files.loader import SPEC
from mlspec.records import mlflow_source
from mlspec.records.mlflow_source import fetch_record
from cli.test_release import SPEC as RELEASE_SPEC

mlflow = pytest.importorskip("mlflow")  # the extra is in requirements/test.txt: never skipped there
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Dataset, DatasetInput, InputTag  # noqa: E402

CONTEXT = "mlflow.data.context"
DIGEST_A, DIGEST_B = "sha256:" + "a" * 64, "sha256:" + "b" * 64
ENV = {"MLFLOW_ALLOW_FILE_STORE": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}


@dataclass
class Store:
    root: Path
    uri: str
    client: Any
    experiment: str
    runs: dict[str, str] = field(default_factory=dict)     # name -> run id
    models: dict[str, Any] = field(default_factory=dict)   # run name -> its logged model "model"

    def run(self, name: str, *, tags: dict[str, str] | None = None, params: dict[str, str] | None = None,
            datasets: list[tuple[str, str, str | None]] = (), model: bool = False, files: bool = False) -> str:
        """A finished run; `datasets`: (digest, source uri, context or None); `model`: it logs a
        model named `model` (bytes naming the run); `files`: run artifacts under `model/`."""
        run_id = self.client.create_run(self.experiment, run_name=name).info.run_id
        for key, value in (tags or {}).items():
            self.client.set_tag(run_id, key, value)
        for key, value in (params or {}).items():
            self.client.log_param(run_id, key, value)
        if datasets:
            self.client.log_inputs(run_id, datasets=[
                DatasetInput(Dataset(name=f"d{i}", digest=digest, source_type="s3", source=f'{{"uri": "{uri}"}}'),
                             tags=[InputTag(CONTEXT, context)] if context else [])
                for i, (digest, uri, context) in enumerate(datasets)])
        if model:
            logged = self.client.create_logged_model(experiment_id=self.experiment, name="model", source_run_id=run_id)
            self.client.log_model_artifacts(logged.model_id, str(self._bytes(f"{name}-model", mlmodel=True)))
            self.client.finalize_logged_model(logged.model_id, "READY")
            self.models[name] = logged
        if files:
            self.client.log_artifacts(run_id, str(self._bytes(f"{name}-files", mlmodel=False)), artifact_path="model")
        self.client.set_terminated(run_id)
        self.runs[name] = run_id
        return run_id

    def _bytes(self, what: str, mlmodel: bool) -> Path:
        folder = self.root / "src" / what
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.bin").write_text(what)
        if mlmodel:
            (folder / "MLmodel").write_text("flavors: {}\n")
        return folder

    def fetch(self, ref: str, tmp: Path, **kwargs: Any) -> tuple[dict[str, Any], Path]:
        return fetch_record(ref, dest=tmp / "download", **kwargs)


def _tagged(**tags: str) -> dict[str, str]:
    return {getattr(mlflow_source, key): value for key, value in tags.items()}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    root = tmp_path_factory.mktemp("mlflow")
    uri = (root / "mlruns").as_uri()
    saved = {key: os.environ.get(key) for key in (*ENV, "MLFLOW_TRACKING_URI")}
    os.environ.update({**ENV, "MLFLOW_TRACKING_URI": uri})
    try:
        client = MlflowClient()
        s = Store(root, uri, client, client.create_experiment("churn", artifact_location=(root / "artifacts").as_uri()))
        # two runs logging a model under the same name, one registered under an alias
        s.run("one", model=True, params={"seed": "11"}, tags=_tagged(TAG_COMMIT="1" * 40))
        s.run("two", model=True, params={"seed": "22"}, tags=_tagged(TAG_COMMIT="2" * 40))
        client.create_registered_model("churn")
        client.create_model_version("churn", source=f"models:/{s.models['two'].model_id}", run_id=s.runs["two"],
                                    model_id=s.models["two"].model_id)
        client.set_registered_model_alias("churn", "champion", "1")
        # a run without a logged model, registered with the source of another run's model
        s.run("plain", files=True, params={"seed": "33"})
        client.create_model_version("churn", source=f"models:/{s.models['one'].model_id}", run_id=s.runs["plain"],
                                    model_id=s.models["one"].model_id)
        client.create_registered_model("orphan")
        client.create_model_version("orphan", source=(root / "src").as_uri())  # registered without a run
        yield s
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


# --- runs:/RUN/PATH pins only that run's own logged model --------------------------------

@pytest.mark.parametrize("name", ["one", "two"])
def test_runs_ref_pins_that_runs_own_logged_model(store, tmp_path, name):
    other = {"one": "two", "two": "one"}[name]
    record, local = store.fetch(f"runs:/{store.runs[name]}/model", tmp_path)
    assert record["artifact"] == {"uri": store.models[name].artifact_location}
    assert store.models[other].artifact_location != store.models[name].artifact_location
    assert (local / "model.bin").read_text() == f"{name}-model" and record["format"] == "mlflow"
    assert record["runId"] == f"mlflow:{store.runs[name]}" and record["seed"] == {"one": 11, "two": 22}[name]
    assert "version" not in record  # a run is no registered version


def test_runs_ref_without_its_own_model_is_its_own_artifacts_not_a_registered_model(store, tmp_path):
    """`plain` logged no model, but a registered version names it as its run with
    the source of `one`'s model: `runs:/PLAIN/model` is plain's own files."""
    record, local = store.fetch(f"runs:/{store.runs['plain']}/model", tmp_path)
    run = store.client.get_run(store.runs["plain"])
    assert record["artifact"] == {"uri": f"{run.info.artifact_uri}/model"}
    assert (local / "model.bin").read_text() == "plain-files" and "format" not in record  # no MLmodel there


def test_runs_ref_below_the_model_is_below_its_location(store, tmp_path):
    record, local = store.fetch(f"runs:/{store.runs['one']}/model/model.bin", tmp_path)
    assert record["artifact"]["uri"] == f"{store.models['one'].artifact_location}/model.bin"
    assert local.read_text() == "one-model" and "format" not in record


def test_a_registered_version_pins_its_run_and_its_source(store, tmp_path):
    """Version 1: `two`'s model; version 2: `one`'s model registered with the run `plain`."""
    for ref in ("models:/churn/1", "models:/churn@champion"):
        record, local = store.fetch(ref, tmp_path / ref[-1])
        assert record["version"] == "1" and record["runId"] == f"mlflow:{store.runs['two']}"
        assert record["artifact"] == {"uri": store.models["two"].artifact_location} and record["seed"] == 22
        assert (local / "model.bin").read_text() == "two-model" and record["format"] == "mlflow"
    record, local = store.fetch("models:/churn/2", tmp_path / "2")
    assert record["version"] == "2" and record["runId"] == f"mlflow:{store.runs['plain']}" and record["seed"] == 33
    assert record["artifact"] == {"uri": store.models["one"].artifact_location}
    assert (local / "model.bin").read_text() == "one-model"


@pytest.mark.parametrize(("ref", "message"), [
    ("models:/churn@gone", "registered model `churn` has no alias `gone` (its aliases: `champion`)"),
    ("models:/orphan@x", "registered model `orphan` has no alias `x` (its aliases: none)"),
    ("models:/churn/9", "registered model `churn` has no version 9: "),
    ("models:/nothing/1", "cannot read registered model `nothing`: "),
    ("models:/orphan/1", "version 1 of `orphan` was registered without a run: it records no training pins"),
    ("runs:/0123456789abcdef0123456789abcdef/model", "cannot read run 0123456789abcdef0123456789abcdef: "),
    ("models:/churn", "an MLflow reference is `models:/NAME/VERSION`, `models:/NAME@ALIAS` or `runs:/RUN_ID/PATH`"),
    ("runs:/abc", "an MLflow reference is"),
    ("runs:/abc//model", "an MLflow reference is"),
    ("models:/churn/1/x", "an MLflow reference is"),
    ("models:/churn/v1", "an MLflow reference is"),
])
def test_a_reference_that_names_nothing_is_an_error_at_the_reference(store, tmp_path, ref, message):
    with pytest.raises(RecordError) as info:
        store.fetch(ref, tmp_path)
    (d,) = info.value.diagnostics
    assert (d.source, d.line, d.col) == (ref, 1, 1) and message in d.message, d.message
    assert "tracking server" not in d.message  # a name that is not there is no server failure
    assert not (tmp_path / "download").exists() or not any((tmp_path / "download").iterdir())


def test_an_alias_names_a_version_the_others_do_not(store, tmp_path):
    store.client.set_registered_model_alias("churn", "next", "2")
    try:
        record, _ = store.fetch("models:/churn@next", tmp_path)
        assert record["version"] == "2" and record["runId"] == f"mlflow:{store.runs['plain']}"
    finally:
        store.client.delete_registered_model_alias("churn", "next")


def test_artifacts_that_cannot_be_downloaded_are_an_error(store, tmp_path):
    ref = f"runs:/{store.runs['one']}/missing"
    with pytest.raises(RecordError) as info:
        store.fetch(ref, tmp_path)
    (d,) = info.value.diagnostics
    run = store.client.get_run(store.runs["one"])
    assert d.source == ref and d.message.startswith(
        f"cannot download the model's artifacts from `{run.info.artifact_uri}/missing`: "), d.message


# --- the data version: only the training dataset, and the two data tags apart ------------------

def _data(store: Store, tmp: Path, name: str, **kwargs: Any) -> dict[str, Any] | None:
    run_id = store.run(name, files=True, **kwargs)
    record, _ = store.fetch(f"runs:/{run_id}/model", tmp)
    return record.get("data")


@pytest.mark.parametrize(("datasets", "data"), [
    # the evaluation set logged first: its place is not what decides
    ([("d-eval", "s3://d/eval", "evaluation"), ("d-train", "s3://d/train", "training")],
     {"version": "d-train", "uri": "s3://d/train"}),
    ([("d-train", "s3://d/train", "training"), ("d-val", "s3://d/val", "validation")],
     {"version": "d-train", "uri": "s3://d/train"}),
    ([("d-train", "s3://d/train", "training"), ("d-none", "s3://d/none", None)],
     {"version": "d-train", "uri": "s3://d/train"}),
    ([("d-eval", "s3://d/eval", "evaluation")], None),
    ([("d-val", "s3://d/val", "validation")], None),
    ([("d-test", "s3://d/test", "test")], None),
    ([("d-none", "s3://d/none", None)], {"version": "d-none", "uri": "s3://d/none"}),  # the run's one dataset
    ([("d-none", "s3://d/none", None), ("d-eval", "s3://d/eval", "evaluation")], None),
    ([("d-none", "s3://d/none", None), ("d-other", "s3://d/other", None)], None),
    ([("d-1", "s3://d/1", "training"), ("d-2", "s3://d/2", "training")], None),  # no single version
    ([], None),
], ids=["evaluation-and-training", "training-and-validation", "training-and-no-context", "evaluation-only",
        "validation-only", "test-only", "one-without-context", "no-context-and-evaluation",
        "two-without-context", "two-training", "none"])
def test_only_the_training_dataset_gives_the_data_version(store, tmp_path, datasets, data):
    assert _data(store, tmp_path, "data", datasets=datasets) == data


def test_a_context_tag_of_another_key_is_no_context(store, tmp_path):
    run_id = store.run("other-key", files=True)
    store.client.log_inputs(run_id, datasets=[
        DatasetInput(Dataset(name=n, digest=n, source_type="s3", source='{"uri": "s3://d/x"}'),
                     tags=[InputTag("purpose", "training")]) for n in ("a", "b")])
    record, _ = store.fetch(f"runs:/{run_id}/model", tmp_path)
    assert "data" not in record


@pytest.mark.parametrize(("tags", "datasets", "data"), [
    ({"TAG_DATA_VERSION": "v7", "TAG_DATA_DIGEST": DIGEST_A}, [], {"version": "v7", "digest": DIGEST_A}),
    ({"TAG_DATA_VERSION": "v7"}, [], {"version": "v7"}),
    ({"TAG_DATA_DIGEST": DIGEST_A}, [], {"digest": DIGEST_A}),
    ({"TAG_DATA_VERSION": "v7", "TAG_DATA_DIGEST": DIGEST_B}, [("d-train", "s3://d/train", "training")],
     {"version": "v7", "digest": DIGEST_B, "uri": "s3://d/train"}),  # the tag beats the dataset's digest
    ({"TAG_DATA_DIGEST": DIGEST_B}, [("d-train", "s3://d/train", "training")],
     {"version": "d-train", "digest": DIGEST_B, "uri": "s3://d/train"}),  # MLflow's digest is no sha256
    ({"TAG_DATA_VERSION": ""}, [("d-train", "s3://d/train", "training")],
     {"version": "d-train", "uri": "s3://d/train"}),
], ids=["both", "version-only", "digest-only", "both-over-dataset", "digest-with-dataset", "empty-version-tag"])
def test_the_data_version_and_digest_tags_each_land_in_their_own_field(store, tmp_path, tags, datasets, data):
    assert _data(store, tmp_path, "tags", tags=_tagged(**tags), datasets=datasets) == data


def test_each_tag_gives_its_own_pin(store, tmp_path):
    tags = _tagged(TAG_REPO="https://git.example.com/churn", TAG_COMMIT="c" * 40, TAG_IMAGE="img@sha256:" + "1" * 64,
                   TAG_LOCKFILE=DIGEST_A, TAG_SIGNATURE="s3://b/model.sig")
    record, _ = store.fetch(f"runs:/{store.run('tags', files=True, tags=tags)}/model", tmp_path)
    assert record["code"] == {"repo": "https://git.example.com/churn", "commit": "c" * 40}
    assert record["environment"] == {"image": "img@sha256:" + "1" * 64, "lockfileDigest": DIGEST_A}
    assert record["artifact"]["signatureBundle"] == "s3://b/model.sig"
    assert (record["apiVersion"], record["kind"]) == ("mlspec.dev/v1alpha1", "TrainingRecord")
    # one of each pair without the other; neither: no section at all
    half = _tagged(TAG_COMMIT="d" * 40, TAG_LOCKFILE=DIGEST_B)
    record, _ = store.fetch(f"runs:/{store.run('half', files=True, tags=half)}/model", tmp_path / "h")
    assert record["code"] == {"commit": "d" * 40} and record["environment"] == {"lockfileDigest": DIGEST_B}
    assert "signatureBundle" not in record["artifact"]
    record, _ = store.fetch(f"runs:/{store.run('bare', files=True)}/model", tmp_path / "b")
    assert set(record) == {"apiVersion", "kind", "runId", "artifact"}


# --- the seed --------------------------------------------------------------------------

@pytest.mark.parametrize(("params", "kwargs", "seed"), [
    ({"seed": "0"}, {}, 0),
    ({"seed": "42", "random_state": "7"}, {}, 42),
    ({"seed": "42", "random_state": "7"}, {"seed_param": "random_state"}, 7),
    ({"random_state": "7"}, {}, None),
    ({"seed": "9" * SPEC.number}, {}, int("9" * SPEC.number)),  # at the budget: release's record check bounds it
])
def test_the_seed_is_the_named_param(store, tmp_path, params, kwargs, seed):
    record, _ = store.fetch(f"runs:/{store.run('seed', files=True, params=params)}/model", tmp_path, **kwargs)
    assert record.get("seed") == seed


@pytest.mark.parametrize("value", ["-1", "4.2", "1e3", " 1", "0x1", "seven", ""])
def test_a_seed_param_that_is_no_seed_is_an_error(store, tmp_path, value):
    run_id = store.run("seed", files=True, params={"seed": value})
    ref = f"runs:/{run_id}/model"
    with pytest.raises(RecordError) as info:
        store.fetch(ref, tmp_path)
    (d,) = info.value.diagnostics
    assert (d.source, d.line, d.col) == (ref, 1, 1)
    assert d.message == (f"the param `seed` of run {run_id} is `{value}`, not a seed (a non-negative integer): "
                         "name the seed's param with --seed-param, or give --seed")


# --- within a spec's budget -------------------------------------------------------------

def _refused(store: Store, tmp: Path, run_id: str) -> str:
    ref = f"runs:/{run_id}/model"
    with pytest.raises(RecordError) as info:
        store.fetch(ref, tmp)
    (d,) = info.value.diagnostics
    assert (d.source, d.line, d.col) == (ref, 1, 1)
    return d.message


@pytest.mark.parametrize("digits", [SPEC.number + 1, 5000])
def test_a_seed_param_past_the_number_budget_is_an_error(store, tmp_path, digits):
    run_id = store.run("seed", files=True, params={"seed": "5" * digits})
    assert _refused(store, tmp_path, run_id) == (f"the param `seed` of run {run_id} is {digits} characters: "
                                                 f"a number may have at most {SPEC.number}, as in a spec")


def _set_tag_in_store(store: Store, run_id: str, key: str, value: str) -> None:
    """MLflow's client refuses a tag past 8,000 characters; a store (another server, an
    edited database) can hold more: written as the file store keeps it."""
    path = store.root / "mlruns" / store.experiment / run_id / "tags" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value)


@pytest.mark.parametrize("tag", ["TAG_DATA_VERSION", "TAG_DATA_DIGEST", "TAG_COMMIT", "TAG_IMAGE", "TAG_SIGNATURE"])
def test_a_tag_past_the_scalar_budget_is_an_error(store, tmp_path, tag):
    run_id = store.run("huge", files=True)
    key = getattr(mlflow_source, tag)
    _set_tag_in_store(store, run_id, key, "x" * (SPEC.scalar + 1))
    assert _refused(store, tmp_path, run_id) == (f"the tag `{key}` of run {run_id} is {SPEC.scalar + 1} characters: "
                                                 f"a value may have at most {SPEC.scalar}, as in a spec")


def test_a_tag_at_the_scalar_budget_and_a_huge_tag_mlspec_does_not_read_pass(store, tmp_path):
    run_id = store.run("huge", files=True)
    _set_tag_in_store(store, run_id, mlflow_source.TAG_DATA_VERSION, "v" * SPEC.scalar)
    _set_tag_in_store(store, run_id, "notes", "x" * (SPEC.scalar + 1))
    record, _ = store.fetch(f"runs:/{run_id}/model", tmp_path)
    assert record["data"] == {"version": "v" * SPEC.scalar}


def _dataset(store: Store, source: str, digest: str = "d-train") -> str:
    """A run whose training dataset has `source` (named after its run: a store keeps one
    dataset per name and digest in an experiment)."""
    run_id = store.run("source", files=True)
    store.client.log_inputs(run_id, datasets=[DatasetInput(
        Dataset(name=run_id, digest=digest, source_type="s3", source=source), tags=[InputTag(CONTEXT, "training")])])
    return run_id


def _source_of_depth(depth: int) -> str:
    return '{"uri": "s3://d/t", "x": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


def test_a_dataset_source_nested_past_the_depth_budget_is_an_error(store, tmp_path):
    run_id = _dataset(store, _source_of_depth(SPEC.depth + 1))
    assert _refused(store, tmp_path, run_id) == (f"the source of the run's training dataset nests {SPEC.depth + 1} "
                                                 f"levels deep: at most {SPEC.depth}, as in a spec")
    deep = _dataset(store, _source_of_depth(100_000))  # json would recurse until Python stops it
    assert "nests 100000 levels deep" in _refused(store, tmp_path, deep)
    # a shallow branch closed before the deep one: each closing bracket is one level up, no more
    after = _dataset(store, '{"uri": "s3://d/t", "a": [[[[]]]], "x": ' + "[" * SPEC.depth + "]" * SPEC.depth + "}")
    assert f"nests {SPEC.depth + 1} levels deep" in _refused(store, tmp_path, after)


def test_a_dataset_source_at_the_depth_budget_is_read(store, tmp_path):
    # brackets inside its strings are not nesting (`"[[["`), nor an escaped quote's
    source = _source_of_depth(SPEC.depth)[:-1] + ', "note": "[[[{{\\" [[["}'
    record, _ = store.fetch(f"runs:/{_dataset(store, source)}/model", tmp_path)
    assert record["data"] == {"uri": "s3://d/t", "version": "d-train"}


@pytest.mark.parametrize("number", ["5" * (SPEC.number + 1), "0." + "5" * SPEC.number, "5" * 5000])
def test_a_dataset_source_holding_a_number_past_the_budget_is_an_error(store, tmp_path, number):
    run_id = _dataset(store, '{"uri": "s3://d/t", "rows": ' + number + "}")
    assert _refused(store, tmp_path, run_id) == (f"the source of the run's training dataset holds a number of "
                                                 f"{len(number)} characters: a number may have at most {SPEC.number}, "
                                                 "as in a spec")


@pytest.mark.parametrize(("source", "uri"), [
    ('{"uri": "s3://d/t", "rows": ' + "5" * SPEC.number + ', "ratio": 0.' + "5" * (SPEC.number - 2) + "}", "s3://d/t"),
    ('{"uri": "s3://d/t", "x": [' + ", ".join(["[]"] * (SPEC.depth + 1)) + "]}", "s3://d/t"),  # wide, not deep
    ('{"url": "https://d/t"}', "https://d/t"),
    ('{"uri": "", "url": "https://d/u"}', "https://d/u"),
    ('{"uri": 5}', None),
    ('["s3://d/t"]', None),
    ("s3://d/t", None),  # no JSON: no uri, the digest still the version
])
def test_a_dataset_source_gives_its_uri(store, tmp_path, source, uri):
    record, _ = store.fetch(f"runs:/{_dataset(store, source)}/model", tmp_path)
    assert record["data"] == ({"uri": uri} if uri else {}) | {"version": "d-train"}


def test_a_dataset_source_or_digest_past_the_scalar_budget_is_an_error(store, tmp_path):
    source = '{"uri": "s3://d/' + "t" * SPEC.scalar + '"}'
    message = _refused(store, tmp_path, _dataset(store, source))
    assert message == (f"the source of the run's training dataset is {len(source)} characters: a value may have at "
                       f"most {SPEC.scalar}, as in a spec")
    message = _refused(store, tmp_path, _dataset(store, '{"uri": "s3://d/t"}', digest="d" * (SPEC.scalar + 1)))
    assert message == (f"the digest of the run's training dataset is {SPEC.scalar + 1} characters: a value may have "
                       f"at most {SPEC.scalar}, as in a spec")


# --- the environment MLflow's client runs in -------------------------------------------

def test_without_a_tracking_uri_nothing_is_read(store, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    with pytest.raises(RecordError) as info:
        store.fetch("models:/churn/1", tmp_path)
    assert "MLFLOW_TRACKING_URI is not set" in str(info.value)


def test_a_tracking_server_that_refuses_is_an_error_naming_it(store, tmp_path, monkeypatch):
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        server = f"http://127.0.0.1:{closed.getsockname()[1]}"  # bound, never listening: refused
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
        with pytest.raises(RecordError) as info:
            store.fetch("models:/churn/1", tmp_path)
    (d,) = info.value.diagnostics
    assert d.message.startswith(f"cannot read registered model `churn`: the MLflow tracking server {server} "
                                "(MLFLOW_TRACKING_URI) failed: "), d.message


def test_the_client_defaults_hold_only_while_reading_and_a_users_value_wins(store, tmp_path, monkeypatch):
    seen: dict[str, str | None] = {}
    real = mlflow_source._download

    def spy(ref: str, uri: str, dest: Path) -> Path:
        seen.update({key: os.environ.get(key) for key in mlflow_source._CLIENT_DEFAULTS})
        return real(ref, uri, dest)

    monkeypatch.setattr(mlflow_source, "_download", spy)
    for key in mlflow_source._CLIENT_DEFAULTS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    store.fetch("models:/churn/1", tmp_path)
    assert seen == {**mlflow_source._CLIENT_DEFAULTS, "MLFLOW_HTTP_REQUEST_TIMEOUT": "3"}
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "3"
    assert not any(key in os.environ for key in mlflow_source._CLIENT_DEFAULTS if key != "MLFLOW_HTTP_REQUEST_TIMEOUT")


@pytest.mark.parametrize("seed", ["5" * 5000, "5" * (SPEC.number + 1)])
def test_release_from_a_run_past_the_budget_exits_1_writing_nothing(store, tmp_path, seed):
    """Through the command: the error at the reference, exit 1 (a traceback was exit 3)."""
    from click.testing import CliRunner

    from mlspec.cli.main import main

    spec = tmp_path / "churn.mlspec.yaml"
    spec.write_text(RELEASE_SPEC)
    ref = f"runs:/{store.run('cli', files=True, params={'seed': seed})}/model"
    result = CliRunner().invoke(main, ["release", str(spec), "--from-mlflow", ref, "--ledger", "none"])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"{ref}:1:1: error: the param `seed` of run ") and "Traceback" not in result.output
    assert spec.read_text() == RELEASE_SPEC


def test_without_mlflows_client_the_extra_is_named(store, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)  # what an install without the extra imports
    with pytest.raises(RecordError) as info:
        store.fetch("models:/churn/1", tmp_path)
    (d,) = info.value.diagnostics
    assert d.source == "models:/churn/1" and d.message.startswith(
        "--from-mlflow needs MLflow's client, which is not installed: the extra `mlflow`"), d.message


def _registered_by_source(store: Store, name: str, source: str, run: str) -> None:
    """A version whose download URI is its source, a logged model's `models:/m-…` URI (what
    a registry without a resolved storage location hands out): the store's own record of a
    version of `run`'s model, its resolved location removed and its source `source`."""
    store.client.create_registered_model(name)
    store.client.create_model_version(name, source=f"models:/{store.models[run].model_id}", run_id=store.runs[run])
    meta = store.root / "mlruns" / "models" / name / "version-1" / "meta.yaml"
    kept = [f"source: {source}\n" if line.startswith("source:") else line
            for line in meta.read_text().splitlines(True) if not line.startswith("storage_location:")]
    meta.write_text("".join(kept))
    assert store.client.get_model_version_download_uri(name, "1") == source


@pytest.mark.parametrize("below", ["", "/model.bin"])
def test_a_download_uri_naming_a_logged_model_is_that_models_location(store, tmp_path, below):
    name = f"linked{below.replace('/', '-').replace('.', '-')}"
    _registered_by_source(store, name, f"models:/{store.models['two'].model_id}{below}", "two")
    record, local = store.fetch(f"models:/{name}/1", tmp_path)
    assert record["artifact"] == {"uri": store.models["two"].artifact_location + below}
    assert ((local / "model.bin") if not below else local).read_text() == "two-model"


def test_a_download_uri_naming_a_logged_model_that_is_gone_is_an_error(store, tmp_path):
    _registered_by_source(store, "gone", "models:/m-0123456789abcdef0123456789abcdef", "two")
    with pytest.raises(RecordError) as info:
        store.fetch("models:/gone/1", tmp_path)
    (d,) = info.value.diagnostics
    assert d.message.startswith("cannot read logged model m-0123456789abcdef0123456789abcdef: "), d.message


def test_release_from_a_run_writes_its_pins_and_the_digest_of_the_downloaded_bytes(store, tmp_path):
    """The command end to end (its download directory exists already: a temporary one)."""
    from click.testing import CliRunner

    from mlspec.cli.main import main
    from mlspec.pod import digest

    spec = tmp_path / "churn.mlspec.yaml"
    spec.write_text(RELEASE_SPEC)
    tags = _tagged(TAG_COMMIT="e" * 40, TAG_DATA_VERSION="2026-12-01")
    run_id = store.run("release", model=True, params={"seed": "12"}, tags=tags)
    result = CliRunner().invoke(main, ["release", str(spec), "--from-mlflow", f"runs:/{run_id}/model",
                                       "--version", "1.1.0",
                                       "--artifact", "s3://models/churn/1.1.0/", "--ledger", "none"])
    assert result.exit_code == 0, result.output
    released = yaml.safe_load(spec.read_text())["spec"]
    expected = digest.digest(str(store.root / "src" / "release-model"))  # the bytes the run logged
    assert released["model"]["artifact"] == {"uri": "s3://models/churn/1.1.0/", "digest": expected}
    assert released["model"]["format"] == "mlflow" and released["training"]["runId"] == f"mlflow:{run_id}"
    assert (released["training"]["seed"], released["training"]["code"]["commit"]) == (12, "e" * 40)
    assert released["training"]["data"]["version"] == "2026-12-01"
