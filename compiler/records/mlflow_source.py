"""`mlspec release --from-mlflow REF`: a training record read from an MLflow run.

MLflow's own client (the optional extra `mlspec-gitops[mlflow]`, imported only
here) reads the run from the tracking server named by `MLFLOW_TRACKING_URI` and
downloads the model's artifacts, so `release` digests the bytes themselves.
What each pin is taken from (README "MLflow"):

- `version`: the registered model version (`models:/NAME/VERSION`, `models:/NAME@ALIAS`);
- `artifact.uri`: where the store keeps those artifacts (the version's download URI);
  `release` refuses a scheme the pods cannot fetch (s3, gs, https, hf) unless `--artifact` names
  where the same bytes live;
- `code`: the tags `mlflow.source.git.commit` and `mlflow.source.git.repoURL`;
- `seed`: the param `seed` (the name is configurable);
- `data`: the tag `mlspec.data.version`, else the run's training dataset input
  (its MLflow digest is the version; its source the uri); `data.digest` only from
  the tag `mlspec.data.digest`: MLflow's dataset digest is no SHA-256 of the bytes;
- `environment`: the tags `mlspec.training.image` and `mlspec.training.lockfileDigest`;
- `runId`: `mlflow:<run id>`; `format`: `mlflow` when the artifacts hold `MLmodel`.

Every value read (tags, the seed param, a dataset's digest and source) is held to a
spec's budget (`loader.SPEC`): one value's characters, a number's digits, a source's
nesting. A value past it is an error naming it, as in a spec.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from mlspec.files.errors import Diagnostic, RecordError
from mlspec.files.loader import SPEC
from mlspec.records.record import API_VERSION, KIND

# mlspec-gitops is on no package index: `pip install 'mlspec-gitops[mlflow]'` fails as typed.
INSTALL = ("the extra `mlflow` (install mlspec's wheel or Git URL with `[mlflow]`, e.g. "
           "`pipx install 'mlspec-gitops[mlflow] @ git+URL@COMMIT'`; README.md, Install)")
TAG_COMMIT, TAG_REPO = "mlflow.source.git.commit", "mlflow.source.git.repoURL"
TAG_DATA_VERSION, TAG_DATA_DIGEST = "mlspec.data.version", "mlspec.data.digest"
TAG_IMAGE, TAG_LOCKFILE = "mlspec.training.image", "mlspec.training.lockfileDigest"
TAG_SIGNATURE = "mlspec.signature.bundle"  # where the model's OMS bundle is (a uri the pods fetch)
CONTEXT_TAG = "mlflow.data.context"  # what `mlflow.log_input(..., context="training")` sets
# The run's tags a record is made of: only these are read (and held to the budget).
READ_TAGS = (TAG_COMMIT, TAG_REPO, TAG_DATA_VERSION, TAG_DATA_DIGEST, TAG_IMAGE, TAG_LOCKFILE, TAG_SIGNATURE)
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')  # a JSON string, escapes included

# What in MLflow gives each record key: `release` names it beside the flag for a pin
# the run lacks.
PROVIDES = {
    "version": "a models:/NAME/VERSION or models:/NAME@ALIAS reference (the registered version)",
    "artifact.uri": "the model version's artifact location in MLflow's store",
    "code.repo": f"the run's tag `{TAG_REPO}`",
    "code.commit": f"the run's tag `{TAG_COMMIT}` (MLflow sets it when the training script runs in a Git checkout)",
    "seed": "the run's param `seed` (or the param --seed-param names)",
    "data.uri": "the source of the run's training dataset input",
    "data.version": f"the run's tag `{TAG_DATA_VERSION}`, or its training dataset input "
                    "(mlflow.log_input(dataset, context=\"training\"))",
    "data.digest": f"the run's tag `{TAG_DATA_DIGEST}`",
    "environment.image": f"the run's tag `{TAG_IMAGE}`",
    "environment.lockfileDigest": f"the run's tag `{TAG_LOCKFILE}`",
    "runId": "the run",
    "format": "the model's artifacts (`mlflow` when they hold MLmodel)",
    "artifact.signatureBundle": f"the run's tag `{TAG_SIGNATURE}`",
}

# MLflow's client retries a failed request for minutes by default (7 retries,
# exponential backoff, 120 s per request): a release against a server that is down
# must fail in seconds. Reading a run sends nothing to MLflow's usage telemetry
# either: release talks to the user's tracking server and store only. A value the
# user set wins.
_CLIENT_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # stderr is for diagnostics
    "MLFLOW_DISABLE_TELEMETRY": "true",
}

_REFS = (
    re.compile(r"models:/(?P<name>[^/@]+)/(?P<version>[0-9]+)"),
    re.compile(r"models:/(?P<name>[^/@]+)@(?P<alias>[^/@]+)"),
    re.compile(r"runs:/(?P<run>[^/]+)/(?P<path>[^/].*)"),
)

T = TypeVar("T")


@dataclass(frozen=True)
class _Located:
    """What a reference resolves to: the run, the store location, the registered version."""

    ref: str
    run_id: str
    store_uri: str
    version: str | None


def _error(ref: str, message: str) -> RecordError:
    return RecordError([Diagnostic(ref, 1, 1, message)])


def _parse(ref: str) -> dict[str, str]:
    for pattern in _REFS:
        if match := pattern.fullmatch(ref):
            return {k: v for k, v in match.groupdict().items() if v is not None}
    raise _error(ref, "an MLflow reference is `models:/NAME/VERSION`, `models:/NAME@ALIAS` or `runs:/RUN_ID/PATH`")


@contextlib.contextmanager
def _client_defaults() -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in _CLIENT_DEFAULTS}
    for key, value in _CLIENT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)


def _ask(ref: str, what: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """One request to the tracking server; its failure is the user's to fix, not a traceback."""
    from mlflow.exceptions import MlflowException

    try:
        return call(*args, **kwargs)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise _error(ref, f"{what}: {exc.message}") from None
        server = os.environ.get("MLFLOW_TRACKING_URI")
        raise _error(ref, f"{what}: the MLflow tracking server {server} (MLFLOW_TRACKING_URI) failed: "
                     f"{exc.message}") from None


def _locate(client: Any, ref: str, target: dict[str, str]) -> _Located:
    if "run" in target:
        run = _ask(ref, f"cannot read run {target['run']}", client.get_run, target["run"])
        return _Located(ref, run.info.run_id, _run_location(client, ref, run, target["path"]), None)
    name = target["name"]
    model = _ask(ref, f"cannot read registered model `{name}`", client.get_registered_model, name)
    if "alias" in target:
        aliases = dict(model.aliases or {})
        if target["alias"] not in aliases:
            known = ", ".join(f"`{a}`" for a in sorted(aliases)) or "none"
            raise _error(ref, f"registered model `{name}` has no alias `{target['alias']}` (its aliases: {known})")
        version = str(aliases[target["alias"]])
    else:
        version = target["version"]
    found = _ask(ref, f"registered model `{name}` has no version {version}", client.get_model_version, name, version)
    if not found.run_id:
        raise _error(ref, f"version {version} of `{name}` was registered without a run: it records no training pins")
    where = _ask(ref, f"cannot locate the artifacts of `{name}` version {version}",
                 client.get_model_version_download_uri, name, version)
    return _Located(ref, found.run_id, _store_location(client, ref, where), version)


def _run_location(client: Any, ref: str, run: Any, path: str) -> str:
    """`runs:/RUN/PATH`: a model the run logged under that name (MLflow 3 keeps those
    apart from the run's files), else the run's own artifacts at PATH."""
    name, _, rest = path.partition("/")
    models = _ask(ref, f"cannot list the models of run {run.info.run_id}", client.search_logged_models,
                  experiment_ids=[run.info.experiment_id], filter_string=f"name = '{name}'")
    for logged in models:
        if logged.source_run_id == run.info.run_id:
            return f"{logged.artifact_location.rstrip('/')}/{rest}".rstrip("/")
    return f"{run.info.artifact_uri.rstrip('/')}/{path}".rstrip("/")


def _store_location(client: Any, ref: str, uri: str) -> str:
    """The store's own URI: a download URI may itself name a logged model (`models:/m-…`)."""
    if match := re.fullmatch(r"models:/(m-[^/]+)(/.*)?", uri):
        logged = _ask(ref, f"cannot read logged model {match[1]}", client.get_logged_model, match[1])
        return f"{logged.artifact_location.rstrip('/')}{match[2] or ''}"
    return uri


def _training_datasets(inputs: Any) -> list[Any]:
    """The datasets logged with `context="training"`; else a run's one dataset input without a context."""
    datasets = list(getattr(inputs, "dataset_inputs", None) or [])
    training = [d for d in datasets if any(t.key == CONTEXT_TAG and t.value == "training" for t in d.tags)]
    if training or len(datasets) != 1 or any(t.key == CONTEXT_TAG for t in datasets[0].tags):
        return [d.dataset for d in training]
    return [datasets[0].dataset]


def _bounded(ref: str, what: str, value: str) -> str:
    """`value` when it is no longer than one scalar of a spec may be."""
    if len(value) > SPEC.scalar:
        raise _error(ref, f"{what} is {len(value)} characters: a value may have at most {SPEC.scalar}, as in a spec")
    return value


def _depth(text: str) -> int:
    """How deep a JSON text's arrays and objects nest (its strings' brackets not counted)."""
    depth = deepest = 0
    for char in _STRINGS.sub('""', text):
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _number(ref: str, what: str, convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def bounded(text: str) -> Any:
        if len(text) > SPEC.number:
            raise _error(ref, f"{what} holds a number of {len(text)} characters: a number may have at most "
                         f"{SPEC.number}, as in a spec")
        return convert(text)
    return bounded


def _source_uri(ref: str, dataset: Any) -> str | None:
    """The uri in a dataset's source (MLflow keeps it as JSON), read within the budget."""
    if not isinstance(dataset.source, str):
        return None
    what = "the source of the run's training dataset"
    text = _bounded(ref, what, dataset.source)
    if (depth := _depth(text)) > SPEC.depth:
        raise _error(ref, f"{what} nests {depth} levels deep: at most {SPEC.depth}, as in a spec")
    try:
        source = json.loads(text, parse_int=_number(ref, what, int), parse_float=_number(ref, what, float))
    except ValueError:  # no JSON: a source type without a uri
        return None
    uri = source.get("uri") or source.get("url") if isinstance(source, dict) else None
    return uri if isinstance(uri, str) and uri else None


def _map(run: Any, located: _Located, seed_param: str) -> dict[str, Any]:
    """The record a run holds. A pin it lacks is left out: `release` lists each one a
    release needs, with the flag and the `PROVIDES` entry that would give it."""
    tags = {k: _bounded(located.ref, f"the tag `{k}` of run {located.run_id}", v)
            for k, v in run.data.tags.items() if k in READ_TAGS}
    params: dict[str, str] = dict(run.data.params)
    record: dict[str, Any] = {"apiVersion": API_VERSION, "kind": KIND, "runId": f"mlflow:{located.run_id}",
                              "artifact": {"uri": located.store_uri}}
    if tags.get(TAG_SIGNATURE):
        record["artifact"]["signatureBundle"] = tags[TAG_SIGNATURE]
    if located.version is not None:
        record["version"] = located.version
    if code := {k: v for k, v in (("repo", tags.get(TAG_REPO)), ("commit", tags.get(TAG_COMMIT))) if v}:
        record["code"] = code
    if seed_param in params:
        if len(params[seed_param]) > SPEC.number:
            raise _error(located.ref, f"the param `{seed_param}` of run {located.run_id} is "
                         f"{len(params[seed_param])} characters: a number may have at most {SPEC.number}, as in a spec")
        if not re.fullmatch(r"[0-9]+", params[seed_param]):
            raise _error(located.ref, f"the param `{seed_param}` of run {located.run_id} is "
                         f"`{params[seed_param]}`, not a seed (a non-negative integer): name the seed's param "
                         "with --seed-param, or give --seed")
        record["seed"] = int(params[seed_param])
    if data := _data(located.ref, run, tags):
        record["data"] = data
    if environment := {k: v for k, v in (("image", tags.get(TAG_IMAGE)), ("lockfileDigest", tags.get(TAG_LOCKFILE)))
                       if v}:
        record["environment"] = environment
    return record


def _data(ref: str, run: Any, tags: dict[str, str]) -> dict[str, Any]:
    """The tag `mlspec.data.version`, else the one training dataset's MLflow digest (a
    fingerprint MLflow computes from the data, the name it gives that snapshot); the
    dataset's source is the uri. Several training datasets name no single version."""
    datasets = _training_datasets(run.inputs)
    data: dict[str, Any] = {}
    if len(datasets) == 1 and (uri := _source_uri(ref, datasets[0])):
        data["uri"] = uri
    if version := tags.get(TAG_DATA_VERSION):
        data["version"] = version
    elif len(datasets) == 1:
        data["version"] = _bounded(ref, "the digest of the run's training dataset", datasets[0].digest)
    if digest := tags.get(TAG_DATA_DIGEST):
        data["digest"] = digest
    return data


def _download(ref: str, uri: str, dest: Path) -> Path:
    import mlflow.artifacts

    dest.mkdir(parents=True, exist_ok=True)
    try:
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dest)))
    except ImportError as exc:  # the store's client library (boto3 for s3://) is part of the extra
        raise _error(ref, f"cannot download `{uri}`: {exc}; {INSTALL} installs the clients mlspec supports") from None
    except Exception as exc:  # noqa: BLE001 - any store's failure (S3, GCS, HTTP) is the user's to fix
        raise _error(ref, f"cannot download the model's artifacts from `{uri}`: {type(exc).__name__}: {exc}") from None


def fetch_record(ref: str, *, dest: Path, seed_param: str = "seed") -> tuple[dict[str, Any], Path]:
    """The training record (a `TrainingRecord` document) of an MLflow model version or
    run, and the local copy of its artifacts, downloaded from the store into `dest` by
    MLflow's client. Pins the run does not hold are left out. Raises `RecordError` when
    MLflow cannot be read or the reference names nothing."""
    target = _parse(ref)
    with _client_defaults():
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise _error(ref, f"--from-mlflow needs MLflow's client, which is not installed: {INSTALL}") from None
        if not os.environ.get("MLFLOW_TRACKING_URI"):
            raise _error(ref, "MLFLOW_TRACKING_URI is not set: it names the MLflow tracking server to read "
                         "(e.g. https://mlflow.example.com)")
        client = MlflowClient()
        located = _locate(client, ref, target)
        run = _ask(ref, f"cannot read run {located.run_id}", client.get_run, located.run_id)
        record = _map(run, located, seed_param)
        local = _download(ref, located.store_uri, dest)
    if (local / "MLmodel").is_file():
        record["format"] = "mlflow"
    return record, local
