"""The pure core: spec text in, `{relative_path: yaml_text}` out. No disk, no printing.

The CLI, library users and the Argo CD plugin all go through here.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from mlspec.files import emit, loader
from mlspec.files.errors import Diagnostic, MlspecError, SpecError
from mlspec.files.loader import Mark
from mlspec.files.text import comment_safe
from mlspec.pipeline import render, resolve, verify
from mlspec.pipeline.resolve import NO_CONTEXT, Context, Release
from mlspec.spec.model import ModelDeployment
from mlspec.spec.pins import pins, spec_record


@runtime_checkable
class Reconciler(Protocol):
    """What the GitOps repository adds between loading and rendering: a context whose
    recorded metrics also read the model's ledger (`mlspec.records.releases.RecordedMetrics`)
    fills in and checks the spec against it (`mlspec.records.reconcile`). The core
    only calls it, so it never reads a ledger itself."""

    def before_resolve(self, doc: loader.Document, context: Context) -> Any:
        """Fill in what the record provides; return what `after_resolve` needs."""

    def after_resolve(self, state: Any, doc: loader.Document, base: ModelDeployment, releases: list[Release]) -> None:
        """Raise `LedgerError` with every disagreement between the spec and the record."""


@dataclass
class Compiled:
    """One environment of one spec: the release and its objects by file name."""

    release: Release
    objects: dict[str, dict[str, Any]]

    @property
    def directory(self) -> str:
        return self.release.directory


@dataclass
class CompiledSpec:
    """One spec file: its spec without overlays, and every environment built."""

    source: str
    base: ModelDeployment
    items: list[Compiled]
    marks: dict[str, Mark] = field(default_factory=dict)  # where key fields stand, for later errors

    @property
    def name(self) -> str:
        return self.base.metadata.name

    @property
    def key(self) -> str:
        """What the repository knows the model by: its name, or NAMESPACE/NAME (`mlspec.layout`)."""
        return self.items[0].release.key

    @property
    def warnings(self) -> list[Diagnostic]:
        """Every environment's warnings, once each, in file order."""
        return sorted({w for item in self.items for w in item.release.warnings})

    @property
    def placeholders(self) -> list[Diagnostic]:
        """Every placeholder pin (`mlspec.spec.placeholders`), once each, in file order."""
        return sorted({w for item in self.items for w in item.release.placeholders})


def compile_document(text: str | bytes, source: str = "<string>", env: str | None = None,
                     context: Context = NO_CONTEXT) -> CompiledSpec:
    """Load, validate, resolve and render; raises `SpecError` on invalid input, and
    `LedgerError` when the context reads a ledger the spec disagrees with."""
    doc = loader.load(text, source)
    reconciler = context.recorded_metrics if isinstance(context.recorded_metrics, Reconciler) else None
    past = reconciler.before_resolve(doc, context) if reconciler is not None else None
    base, releases = resolve.resolve(doc, env, context)
    if reconciler is not None:
        reconciler.after_resolve(past, doc, base, releases)
    items: list[Compiled] = []
    emitted = 0
    for release in releases:
        objects = render.render(release)
        emitted += _text_size(objects)
        if emitted > loader.MAX_OUTPUT_CHARS:
            raise SpecError([_over_output(doc, base, len(items) + 1, len(releases), emitted)])
        verify.self_check(objects)
        items.append(Compiled(release, objects))
    _same_namespace(doc, items)
    marks = {"version": doc.position(("spec", "model", "version"), key=False)}
    return CompiledSpec(source, base, items, marks)


def _text_size(node: Any) -> int:
    """The characters of text in rendered objects (keys and values, as often as they
    occur): what their YAML holds at least. Counted without copying any of it."""
    size, stack = 0, [node]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            size += sum(len(k) for k in item if type(k) is str)
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is str:
            size += len(item)
        else:
            size += 8  # a number, a boolean, null
    return size


def _over_output(doc: loader.Document, base: ModelDeployment, built: int, selected: int, size: int) -> Diagnostic:
    # At the annotations when the spec has any (the usual multiplier), else at the environments.
    path = ("metadata", "annotations") if base.metadata.annotations else (
        ("spec", "environments") if base.spec.environments else ("metadata", "name"))
    return loader.diagnostic(doc, path, (
        f"the manifests of this spec would hold over {loader.MAX_OUTPUT_CHARS} characters, the most mlspec emits "
        f"from one spec (over {size} after {built} of {selected} environment(s)): annotations and labels are copied "
        "into every object of every environment; make them smaller, or build fewer environments at a time with --env"),
        rule="output-too-large")


def _same_namespace(doc: loader.Document, items: list[Compiled]) -> None:
    """Two environments in one namespace would emit the same objects twice: an error at
    the second one's namespace (object names are the model's, not the environment's)."""
    first: dict[str, Compiled] = {}
    problems = []
    for item in items:
        namespace = item.release.namespace
        if namespace is None:  # Argo CD or kustomize decides: they may differ
            continue
        other = first.setdefault(namespace, item)
        if other is item:
            continue
        names = sorted({o["metadata"]["name"] for o in item.objects.values()}
                       & {o["metadata"]["name"] for o in other.objects.values()})
        env = item.release.env
        problems.append(loader.diagnostic(
            doc, ("spec", "environments", env, "namespace"),
            f"environments `{other.release.env}` and `{env}` are both in namespace `{namespace}`, where they would "
            f"emit the same objects ({', '.join(names)}): give `{env}` a namespace of its own", rule="shared-namespace",
            key=False))
    if problems:
        raise SpecError(problems)


def compile_releases(text: str | bytes, source: str = "<string>", env: str | None = None,
                     context: Context = NO_CONTEXT) -> list[Compiled]:
    return compile_document(text, source, env, context).items


def header(source: str) -> str:
    # A file name may hold any character, line breaks too (a committed name is the
    # user's): escaped, it stays one comment line and can never start a document.
    name = comment_safe(posixpath.basename(source.replace("\\", "/")))
    return f"# Generated by mlspec from {name}. Do not edit: change the spec and run `mlspec build`.\n"


def to_files(compiled: list[Compiled], source: str) -> dict[str, str]:
    """Canonical text of every object plus one kustomization.yaml per directory."""
    top = header(source)
    files: dict[str, str] = {}
    for item in compiled:
        for filename, obj in item.objects.items():
            files[f"{item.directory}/{filename}"] = emit.dump(obj, top)
        files[f"{item.directory}/{emit.KUSTOMIZATION}"] = emit.kustomization(list(item.objects), top)
    return files


@dataclass
class Built:
    """What a build keeps of one spec: the files, and what the release ledger records.
    Small and picklable, so batch workers return this rather than object trees."""

    source: str
    name: str
    key: str  # the model's key (`mlspec.layout`): names its ledger
    version: str
    version_mark: Mark
    pins: dict[str, Any]
    spec_record: dict[str, Any]
    environment_pins: dict[str, dict[str, Any]]  # environment -> its resolved pins (overlays can change them)
    environments: dict[str, str]  # environment -> spec digest
    files: dict[str, str]
    env_dirs: dict[str, str] = field(default_factory=dict)  # environment -> its output directory
    warnings: list[Diagnostic] = field(default_factory=list)
    placeholders: list[Diagnostic] = field(default_factory=list)  # never recorded in a ledger

    def documents(self, env: str) -> list[str]:
        """The objects of one environment, as YAML documents."""
        prefix = f"{self.env_dirs[env]}/"
        return [text for path, text in self.files.items()
                if path.startswith(prefix) and not path.endswith(emit.KUSTOMIZATION)]


def built(compiled: CompiledSpec) -> Built:
    return Built(
        source=compiled.source, name=compiled.name, key=compiled.key, version=compiled.base.spec.model.version,
        # the ledger decides what identifies a release
        version_mark=compiled.marks["version"], pins=pins(compiled.base),
        spec_record=spec_record(compiled.base),
        environment_pins={i.release.env: pins(i.release.spec) for i in compiled.items},
        environments={i.release.env: i.release.digest for i in compiled.items},
        files=to_files(compiled.items, compiled.source),
        env_dirs={i.release.env: i.directory for i in compiled.items},
        warnings=compiled.warnings, placeholders=compiled.placeholders,
    )


def build(text: str | bytes, source: str = "<string>", env: str | None = None, context: Context = NO_CONTEXT,
          full_verify: bool = False) -> Built:
    """Compile one spec into files; with `full_verify`, also against the Kubernetes strict schemas."""
    compiled = compile_document(text, source, env, context)
    if full_verify:
        problems = [Diagnostic(f"{item.directory}/{filename}", 1, 1, f"Kubernetes schema: {message}")
                    for item in compiled.items for filename, message in verify.full_check(item.objects)]
        if problems:
            raise MlspecError(problems)
    return built(compiled)


def compile_spec(text: str | bytes, source: str = "<string>", env: str | None = None) -> dict[str, str]:
    """Compile one spec into `{"<env>/<name>/<file>.yaml": text}`."""
    return to_files(compile_releases(text, source, env), source)
