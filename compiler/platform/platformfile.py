"""The platform file: defaults and policy written once for every spec of a repository.

One more input stage: `.mlspec/platform.yaml` is loaded with the spec's strict loader,
validated against models derived from the spec's own (so one source of truth), and
merged *under* each spec before `resolve`. It is read once per process; batch workers
receive the parsed `Platform`.
"""

from __future__ import annotations

import hashlib
import re
import types
import typing
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path as FsPath
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, Field, create_model

from mlspec.files import layout, loader, safepath
from mlspec.files.errors import Diagnostic, MlspecError, SpecError
from mlspec.files.loader import Document, Path, copy_data
from mlspec.platform import lookup, runtimes
from mlspec.platform.lookup import display as _display
from mlspec.platform.lookup import repo_file as repo_file  # re-exported: commands ask it
from mlspec.platform.runtimes import RuntimeDefinition
from mlspec.spec import fields, model, overlay, scan

HOME = lookup.HOME
NONE = "none"  # `--platform none`: ignore the repository's platform file


# --- the models ------------------------------------------------------------------


def _partial_type(annotation: Any) -> Any:
    """`annotation` with every model in it replaced by its all-optional copy; models
    inside lists stay whole (a list in the defaults replaces the spec's, as in overlays)."""
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return partial(annotation)
    if origin is typing.Annotated:
        inner, *extra = typing.get_args(annotation)
        return typing.Annotated[(_partial_type(inner), *extra)]
    if origin in (typing.Union, types.UnionType):
        args = tuple(_partial_type(a) for a in typing.get_args(annotation))
        return typing.Union[args]
    if origin is dict:
        key, value = typing.get_args(annotation)
        return dict[key, _partial_type(value)]  # type: ignore[misc, valid-type]
    return annotation


@lru_cache(maxsize=None)
def partial(cls: type[BaseModel]) -> type[BaseModel]:
    """An all-optional copy of the spec model `cls`: same names, aliases, types and
    validators, every field defaulting to absent. Platform defaults are such a copy of
    `ModelDeployment.spec` without `environments` (the platform has its own)."""
    partial_fields: dict[str, Any] = {}
    for name, info in cls.model_fields.items():
        if cls is model.Spec and name == "environments":
            continue
        # pydantic keeps a field's constraints and validators (`PinnedImage`'s digest
        # check, `ge=0`) in `metadata`, apart from the annotation: both are carried over.
        annotation = _partial_type(info.annotation)
        if info.metadata:
            annotation = typing.Annotated[(annotation, *info.metadata)]
        partial_fields[name] = (annotation | None, Field(default=None, alias=info.alias, description=info.description,
                                                 json_schema_extra=info.json_schema_extra, examples=info.examples))
    return create_model(f"Partial{cls.__name__}", __base__=fields.Strict, __doc__=cls.__doc__, **partial_fields)


if typing.TYPE_CHECKING:
    Defaults: Any  # the partial spec model, made by `_complete` on first use


def _complete() -> None:
    """Make `Defaults` (an all-optional copy of ~30 spec models) and finish the platform
    file's models on first use: a build without a platform file never pays for them."""
    if "Defaults" not in globals():
        globals()["Defaults"] = partial(model.Spec)
        for cls in (PlatformEnvironment, PlatformSpec, PlatformFile):  # each resolves `Defaults` in its fields
            cls.model_rebuild(force=True)


class Policy(fields.Strict):
    """Rules every spec must meet; each one optional. An environment's rules replace the global ones rule by rule."""

    allowed_registries: list[str] | None = Field(
        default=None, description="Every image of the output starts with one of these prefixes, e.g. `registry.acme.example/`.")
    require_owner: bool | None = Field(default=None, description="`metadata.owner` must be set.")
    require_data_digest: bool | None = Field(default=None, description="`spec.training.data.digest` must be set.")
    min_replicas: int | None = Field(default=None, ge=0, description="`spec.serving.replicas` at least this.")
    max_first_step_weight: int | None = Field(default=None, ge=0, le=100,
                                              description="The first canary `setWeight` at most this.")
    require_relative_threshold: bool | None = Field(
        default=None, description="Once a previous release exists (`spec.rollback`), a `maxDrop` threshold is required.")
    require_traffic_routing: bool | None = Field(
        default=None, description="Exact traffic weights: a `rollout.trafficRouting` router, or the blue-green strategy.")
    require_signature: bool | None = Field(
        default=None, description="`spec.model.artifact.signature` must be set: every pod verifies an OpenSSF Model "
        "Signing bundle over the artifact before it starts.")
    max_peak_pods: int | None = Field(
        default=None, ge=1, description="The most pods a rollout may run at once (its capacity note's peak, counted "
        "at `maxReplicas` with autoscaling).")
    max_peak_extended_resources: dict[str, fields.Quantity] | None = Field(
        default=None, description="The most of each extended resource a rollout may request at its peak, e.g. "
        "`{nvidia.com/gpu: 8}`.")


class PlatformEnvironment(fields.Strict):
    defaults: Defaults | None = Field(
        default=None, description="Defaults for this environment: between the platform's defaults and the spec.")
    policy: Policy | None = Field(default=None, description="Rules for this environment (tighten or relax the global ones).")


class AttestationKey(fields.Strict):
    """A public key whose signatures on release attestations the platform trusts."""

    name: fields.DnsLabel = Field(description="Who holds the private key, e.g. `ci-main` (the protected branch's job).")
    public_key: str = Field(pattern=r"^-----BEGIN PUBLIC KEY-----\n", description="The Ed25519 public key, PEM "
                            "(SubjectPublicKeyInfo); a signature's `keyid` is the hex sha256 of its DER encoding.")


class Trust(fields.Strict):
    """Whose signatures the platform trusts (docs/trust.md)."""

    attestation_keys: list[AttestationKey] = Field(
        default_factory=list, description="With keys listed, `build`, `--check`, `diff --base` and `rollback` refuse a "
        "release whose attestation is missing, signed by an unlisted key or disagrees with its ledger entry (unsigned "
        "releases only after the last signed one); `maxDrop` baselines and rollback targets must be signed.")


class PlatformSpec(fields.Strict):
    layout: Literal["flat", "namespaced"] = Field(
        default="flat", description="Where models live in the output: `flat` (`OUT/<env>/<name>/`, "
        "`OUT/_ledger/<name>.yaml`: model names are unique) or `namespaced` (`OUT/<env>/<namespace>/<name>/`, "
        "`OUT/_ledger/<namespace>/<name>.yaml`: every spec sets `metadata.namespace`, and commands name a model "
        "`NAMESPACE/NAME`).")
    output: str | None = Field(
        default=None, description="The repository's output directory (manifests and release ledgers), relative to "
        "the repository root (the directory holding `.git`). Commands use it when `-o` is not given (`build`, "
        "`history`, `gate --record`, `rollback`, and the ledger of `release` and `diff`), from any subdirectory. "
        "Default: `deploy`. It stays inside the repository: relative, no `..`, no symbolic link on the way.",
        examples=["deploy", "gitops/models"])
    defaults: Defaults | None = Field(
        default=None, description="Any part of `ModelDeployment.spec`, deep-merged under every spec (the spec wins).")
    policy: Policy | None = Field(default=None, description="Rules every spec must meet.")
    environments: dict[fields.DnsLabel, PlatformEnvironment] = Field(
        default_factory=dict, description="Per-environment defaults and policy.")
    trust: Trust | None = Field(default=None, description="Keys that sign release attestations.")
    runtimes: dict[fields.DnsLabel, RuntimeDefinition] = Field(
        default_factory=dict, description="Model servers a spec picks with `serving.runtime` (like KServe's "
        "`ClusterServingRuntime`); one named like a built-in replaces it.")


class PlatformFile(fields.Strict):
    """An mlspec platform file: defaults and policy for every spec of a repository."""

    api_version: Literal["mlspec.dev/v1alpha1"] = Field(description="Always `mlspec.dev/v1alpha1`.")
    kind: Literal["Platform"] = Field(description="Always `Platform`.")
    spec: PlatformSpec = Field(default_factory=PlatformSpec, description="Defaults and policy.")


# --- loading ---------------------------------------------------------------------


@dataclass(frozen=True)
class Platform:
    """A validated platform file as loaded data with positions: small and picklable
    (plain data only), so batch workers receive it parsed, not re-read."""

    doc: Document
    digest: str

    @property
    def source(self) -> str:
        return self.doc.source

    @property
    def output(self) -> str | None:
        value = value_at(self.doc.data, ("spec", "output"))
        return str(value) if value is not None else None

    @property
    def layout(self) -> str:
        return str(value_at(self.doc.data, ("spec", "layout")) or layout.FLAT)

    @property
    def attestation_keys(self) -> list[tuple[str, str, tuple[str, int, int]]]:
        """`(name, public key PEM, (file, line, col))` of every trusted attestation key."""
        keys = value_at(self.doc.data, ("spec", "trust", "attestationKeys")) or []
        return [(k["name"], k["publicKey"], self.doc.locate(("spec", "trust", "attestationKeys", i, "publicKey"),
                                                            key=False)[0:1] + self.doc.position(
            ("spec", "trust", "attestationKeys", i, "publicKey"), key=False)) for i, k in enumerate(keys)]


def parse(text: str | bytes, source: str) -> Platform:
    """Load and validate a platform file; `SpecError` positioned in it on any problem."""
    raw = text.encode("utf-8", "replace") if isinstance(text, str) else text
    doc = loader.load(raw, source)
    try:
        _complete()
        PlatformFile.model_validate(doc.data)
    except pydantic.ValidationError as exc:
        from mlspec.spec import check

        raise SpecError(sorted(set(check.pydantic_problems(doc, exc, root=PlatformFile)))) from None
    own = value_at(doc.data, ("spec", "runtimes")) or {}
    problems = [loader.diagnostic(doc, ("spec", "runtimes", name, *path), f"runtime `{name}`: {message}",
                                    rule="runtime-invalid", key=False)
                for name, body in own.items()
                for path, message in runtimes.definition_problems(RuntimeDefinition.model_validate(body))]
    output = value_at(doc.data, ("spec", "output"))
    if isinstance(output, str) and (why := output_problem(output)) is not None:
        problems.append(loader.diagnostic(doc, ("spec", "output"), f"`spec.output` {output!r} {why}",
                                          rule="invalid-value", key=False))
    # what reaches every pod of every spec (runtimes, defaults, each environment's): the scan a
    # spec gets (credentials, characters kustomize cannot carry, `{{`), once here, not per spec
    for root in (("spec", "runtimes"), ("spec", "defaults"), ("spec", "environments")):
        problems += scan.text_problems(doc, root)
    if problems:
        raise SpecError(sorted(set(problems)))
    return Platform(doc, "sha256:" + hashlib.sha256(raw).hexdigest())


def output_problem(output: str) -> str | None:
    """Why `spec.output` cannot be the repository's output directory, or None."""
    parts = output.replace("\\", "/").split("/")
    if output.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", output):
        return "is absolute: it names a directory relative to the repository root (e.g. `deploy`)"
    if ".." in parts:
        return "leaves the repository (`..`): it names a directory inside it, relative to its root"
    if all(p in ("", ".") for p in parts):
        return "is the repository root itself: name a directory below it (e.g. `deploy`)"
    return None


def read(path: str) -> Platform:
    root, rel = safepath.named(path)
    try:
        text = safepath.read(root, rel, loader.SPEC.bytes)  # never through a link, bounded, regular files only
    except OSError as exc:
        raise SpecError.at(path, 1, 1, f"cannot read the platform file: {exc.strerror}") from None
    return parse(text, path)


_KIND = re.compile(rb"^kind:\s*[\"']?Platform[\"']?\s*(#.*)?$", re.MULTILINE)


def is_platform_file(path: str) -> bool:
    """A file (not a directory) whose top level says `kind: Platform`."""
    try:  # through the safe-path layer: a FIFO or a link is no platform file (and is never opened)
        directory, name = safepath.parent_and_name(*safepath.named(path))
        with directory:
            return directory.kind(name) == "file" and bool(_KIND.search(directory.head(name, 64 * 1024)))
    except (OSError, MlspecError):
        return False


def find(choice: str | None, specs: list[str]) -> Platform | None:
    """The platform of a command: `--platform FILE`, none with `--platform none`, else
    the repository's `.mlspec/platform.yaml` (one per command: specs of several
    repositories with different platform files are refused)."""
    if choice == NONE:
        return None
    if choice is not None:
        return read(choice)
    found = {repo_file(s) for s in specs}
    files = sorted(str(f) for f in found if f is not None)
    if len(found) > 1 and files:
        raise SpecError([Diagnostic(s, 1, 1, "these specs belong to repositories with different platform files "
                                    f"({', '.join(files)}); build them separately or choose one with --platform")
                         for s in specs[:1]])
    return read(_display(FsPath(files[0]))) if files else None


def with_platform(context: Any, platform: Platform | None) -> Any:
    """`context` (a `resolve.Context`) carrying the platform, and its digest for the lineage
    (only there: a platform edit changes the objects whose behaviour it changes, no others)."""
    if platform is None:
        return context
    return replace(context, platform=platform, layout=platform.layout,
                   lineage={**context.lineage, "platformDigest": platform.digest})


# --- merging under a spec -------------------------------------------------------


def under(platform: Platform | None, doc: Document, env: str | None) -> Document:
    """`doc` with the platform's defaults (and environment `env`'s) merged under its
    `spec`: the spec wins, maps merge, lists replace. A value from the platform keeps
    its position in the platform file, so an error in it points there."""
    if platform is None:
        return doc
    data = copy_data(doc.data)
    spec = data.get("spec")
    if not isinstance(spec, dict):
        return doc  # the spec's own error is reported first
    # The nearer layer first: what it sets, a farther one does not.
    layers: list[Path] = [("spec", "environments", env, "defaults")] if env is not None else []
    layers.append(("spec", "defaults"))
    merged = Document(doc.source, data, dict(doc.marks), dict(doc.key_marks), dict(doc.plain), chars=doc.chars, origins=dict(doc.origins))
    for prefix in layers:
        value = value_at(platform.doc.data, prefix)
        if isinstance(value, dict):
            grafted: dict[Path, Path] = {}
            _graft(spec, prefix, ("spec",), _pruned(value, spec), grafted)
            _copy_marks(merged, platform.doc, grafted)
    # The nearer choice wins: a runtime's own image beats the platform's default serving
    # image (meant for the default runtime); the spec's own `serving.image` beats both.
    serving = spec.get("serving")
    if isinstance(serving, dict) and merged.origins.get(("spec", "serving", "image")) == platform.source:
        chosen = runtimes.registry(platform).get(str(serving.get("runtime", "mlserver")))
        if chosen is not None and chosen.image is not None:
            del serving["image"]
    return merged


def _pruned(layer: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """The layer without what the spec's own rollout choice excludes: a router is one
    choice, and a strategy drops the other strategy's settings (as overlays do). A
    default `artifact.signature` (the verifier image, a key) completes a spec's own
    signature and never signs an artifact the spec does not (its bundle is per release)."""
    layer = _unsigned(layer, spec, ("model", "artifact"))
    layer = _unsigned(layer, spec, ("rollback", "previous", "artifact"))
    rollout, own = layer.get("rollout"), spec.get("rollout")
    if not isinstance(rollout, dict) or not isinstance(own, dict):
        return layer
    return {**layer, "rollout": overlay.rollout_base(rollout, own)}


def _unsigned(layer: dict[str, Any], spec: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    theirs, own = value_at(layer, path), value_at(spec, path)
    if not isinstance(theirs, dict) or "signature" not in theirs or (isinstance(own, dict) and "signature" in own):
        return layer
    out = copy_data(layer)
    del value_at(out, path)["signature"]
    return out


def _graft(into: dict[str, Any], src: Path, dst: Path, layer: dict[str, Any], grafted: dict[Path, Path]) -> None:
    """Copy what `into` lacks; `grafted`: each copied value's path in the source -> in `into`."""
    for key, value in layer.items():
        s, d = src + (key,), dst + (key,)
        if key not in into:
            into[key] = copy_data(value)
            grafted[s] = d
        elif isinstance(into[key], dict) and isinstance(value, dict):
            _graft(into[key], s, d, value, grafted)


def _copy_marks(doc: Document, source: Document, grafted: dict[Path, Path]) -> None:
    """The positions of the grafted values, in one pass over the source's (not one per value)."""
    lengths = sorted({len(s) for s in grafted})  # grafted paths never nest: at most one matches
    tables: tuple[tuple[dict[Path, Any], dict[Path, Any]], ...] = (
        (doc.marks, source.marks), (doc.key_marks, source.key_marks), (doc.plain, source.plain))
    for table, theirs in tables:
        for path, mark in theirs.items():
            for n in lengths:
                dst = grafted.get(path[:n])
                if dst is not None:
                    table[dst + path[n:]] = mark
                    if table is not doc.plain:
                        doc.origins[dst + path[n:]] = source.source
                    break


def value_at(data: Any, path: Path) -> Any:
    """The value at `path` in loaded data; None when it is not there."""
    for seg in path:
        if not isinstance(data, dict) or seg not in data:
            return None
        data = data[seg]
    return data


# --- schema and scaffold ---------------------------------------------------------

SCHEMA_NAME = "platform.schema.json"
SCHEMA_ID = "https://mlspec.dev/schemas/v1alpha1/platform.schema.json"


def json_schema() -> dict[str, Any]:
    """The platform file's JSON Schema (draft-07, like the spec's), from the models."""
    from mlspec.spec import schema

    _complete()
    generated = PlatformFile.model_json_schema(by_alias=True, mode="validation", ref_template="#/definitions/{model}")
    definitions = generated.pop("$defs")
    schema.tidy(generated)
    schema.tidy(definitions)
    return {"$schema": schema.DRAFT, "$id": SCHEMA_ID, **generated, "definitions": dict(sorted(definitions.items()))}


def schema_text() -> str:
    import json

    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def scaffold(schema_ref: str) -> str:
    """A commented starter platform file (valid as written) with the schema modeline."""
    import string
    from importlib import resources

    template = resources.files("mlspec.templates").joinpath("platform.yaml.tmpl").read_text(encoding="utf-8")
    return string.Template(template).substitute(schema=schema_ref)


def omit_provided(text: str, platform: Platform) -> str:
    """The scaffolded spec `text` without the fields the platform's defaults provide: a
    key whose every value the platform gives is removed with its block (and comments)."""
    doc = loader.load(text, "<scaffold>")
    provided = value_at(platform.doc.data, ("spec", "defaults")) or {}
    lines = text.splitlines(keepends=True)
    drop: set[int] = set()

    def block(path: Path) -> range:
        line, col = doc.key_marks[path]
        end = line
        while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) >= col):
            end += 1
        return range(line - 1, end)

    def walk(node: Any, given: Any, path: Path) -> bool:
        """Drop what `given` covers under `path`; True when all of `node` is covered."""
        if not isinstance(node, dict) or not isinstance(given, dict):
            return given is not None
        covered = [key for key, value in node.items() if key in given and walk(value, given[key], path + (key,))]
        if len(covered) == len(node):
            return True
        for key in covered:
            drop.update(block(path + (key,)))
        return False

    spec = doc.data.get("spec")
    if isinstance(spec, dict):
        walk(spec, provided, ("spec",))
    return "".join(line for i, line in enumerate(lines) if i not in drop)
