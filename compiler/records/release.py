"""`mlspec release SPEC`: cut the next release in the spec file itself.

The current release's pins move into `spec.rollback.previous`, the new pins (from
flags, a training record, or an MLflow run) replace them, and the edited text is
validated by the same core as `build` (with the model's ledger when there is one)
before it is written atomically. Every refusal writes nothing. The pure part,
`cut`, takes text and returns text; `write` is the only disk write.
"""

from __future__ import annotations

import difflib
import os
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mlspec.files import loader, safepath
from mlspec.files.errors import Diagnostic, MlspecError, SpecError
from mlspec.files.loader import Document
from mlspec.pipeline import core
from mlspec.pipeline.resolve import Context
from mlspec.pod import digest
from mlspec.records import ledger, record
from mlspec.records.releases import RecordedMetrics
from mlspec.spec.fields import artifact_uri_problem

# Pins every release must state: a stale one would describe another model.
REQUIRED = ("version", "artifact.uri", "artifact.path", "code.commit", "data.version", "seed")
# A pin that qualifies another: when what it qualifies changes, the spec's old value
# describes something else, so the release must give it again (when the spec had it).
QUALIFIERS = {"data.digest": "data.version", "environment.lockfileDigest": "environment.image",
              "features.schemaDigest": "features.pipelineVersion"}
_PREVIOUS = ("spec", "rollback", "previous")


@dataclass
class Pins:
    """What the new release says, and where each value came from (for messages)."""

    values: dict[str, Any]                  # record key -> value (flags over the record)
    record_source: str | None = None        # the record file or MLflow reference
    provides: dict[str, str] = field(default_factory=dict)  # record key -> what in the source gives it
    artifact_bytes: str | None = None       # the local copy to digest
    claimed_digest: str | None = None       # --digest: checked against the bytes
    signature_file: str | None = None       # --signature-of: a local copy of the bundle, checked over the bytes
    signature_key: str | None = None        # --signature-key: the key, certificate chain or trusted root it needs


@dataclass
class Result:
    source: str
    old_text: str
    new_text: str
    old_version: str
    new_version: str
    ledger_dir: Path | None  # what the release was checked against

    def diff(self) -> str:
        name = self.source.replace(os.sep, "/")
        return "".join(difflib.unified_diff(self.old_text.splitlines(True), self.new_text.splitlines(True),
                                            f"a/{name}", f"b/{name}"))


def from_record(path: str) -> Pins:
    """The pins of a training record file; its `artifact.path` is inside the file's directory."""
    root, rel = safepath.named(path)
    try:
        data = safepath.read(root, rel, loader.MAX_BYTES)  # never through a link, bounded
    except OSError as exc:
        raise MlspecError([Diagnostic(path, 1, 1, f"cannot read: {exc.strerror}", rule="record-invalid")]) from None
    loaded = record.load(data, path)
    values = record.flatten(loaded)
    values.pop("artifact.path", None)
    return Pins(values, record_source=path, artifact_bytes=record.artifact_path(loaded, data, path))


def from_mlflow(ref: str, seed_param: str, dest: Path) -> Pins:
    """The pins of an MLflow run, its artifacts downloaded into `dest` (for the digest).
    `mlflow_source.fetch_record` returns a record (possibly partial: what the run holds)
    and the download; its optional `PROVIDES` ({record key: what in a run gives it, e.g.
    "the run tag `mlflow.source.git.commit`"}) words the missing-pin messages."""
    from mlspec.records import mlflow_source  # type: ignore[attr-defined, unused-ignore]  # the optional extra's module

    data, local = mlflow_source.fetch_record(ref, seed_param=seed_param, dest=dest)
    values = record.flatten(record.validate(data, ref))
    values.pop("artifact.path", None)  # the download is the copy to digest
    return Pins(values, record_source=ref, artifact_bytes=str(local),
                provides=dict(getattr(mlflow_source, "PROVIDES", {})))


def override(pins: Pins, flags: dict[str, Any], digest_of: str | None, claimed_digest: str | None) -> None:
    """Flags over the record: each option is named after its flag (`--data-version` -> data_version)."""
    for pin in record.PINS:
        value = flags.get(pin.flag[2:].replace("-", "_")) if pin.flag and pin.key != "artifact.path" else None
        if value is not None:
            pins.values[pin.key] = value
    if digest_of is not None:
        pins.artifact_bytes = digest_of
    pins.claimed_digest = claimed_digest


def cut(text: bytes, source: str, pins: Pins, ledger_opt: str | None = None, output: Path | None = None) -> Result:
    """The spec's text with the next release cut; raises `MlspecError`, writing nothing.
    `ledger_opt`: the ledger directory, `none`, or None to use the one `find_ledger` finds
    (in `output`, the repository's output directory, when given)."""
    from mlspec.platform import platformfile
    from mlspec.records import yamledit

    home = platformfile.with_platform(Context(), platformfile.find(None, [source]))  # the repository's platform file
    current = core.compile_document(text, source, context=home)  # the spec must be valid before it is released
    ledger_dir = (None if ledger_opt == "none" else Path(ledger_opt) if ledger_opt is not None
                  else find_ledger(source, current.key, output))
    doc = loader.load(text, source)
    old = _spec_pins(doc.data)
    values = dict(pins.values)
    problems = _missing(doc, old, pins) + _flag_problems(doc, pins) + _overridden(doc, pins)
    if problems:
        raise MlspecError(problems)
    assert pins.artifact_bytes is not None
    values["artifact.digest"] = _digest_of(doc, pins)
    values.pop("artifact.path", None)
    problems = _release_problems(doc, old, values, pins) + _signature_problems(doc, current.base, values, pins)
    if problems:
        raise MlspecError(problems)

    editor = yamledit.Editor(text.decode("utf-8"), source)
    _move_to_previous(editor, doc.data, old)
    if any(k.startswith("features.") for k in values) and not editor.has(("spec", "features")):
        editor.insert_before(("spec",), "serving", "features", editor.mapping())  # where the spec's order has it
    for key, value in values.items():
        path = record.PIN_BY_KEY["artifact.path" if key == "artifact.digest" else key].spec_path
        editor.set(path, value, position=0 if key == "runId" else (1 if key == "format" else None))
    new_text = editor.text()
    built = core.build(new_text, source, context=home)  # the edited spec is valid on its own
    if ledger_dir is not None:
        recorded = RecordedMetrics(ledger_dir)
        ledger.record(recorded.ledger(built.key), built)  # refuses a version recorded with other pins
        # then everything a build with this ledger checks (recorded baselines, and the
        # reconciliation of `rollback.previous` with the ledger)
        core.build(new_text, source, context=replace(home, recorded_metrics=recorded))
    return Result(source, text.decode("utf-8"), new_text, current.base.spec.model.version, values["version"], ledger_dir)


def _spec_pins(data: dict[str, Any]) -> dict[str, Any]:
    """The spec's current pins by record key (as written, without overlays)."""
    out = {}
    for pin in record.PINS:
        node: Any = data
        for key in pin.spec_path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            out["artifact.digest" if pin.key == "artifact.path" else pin.key] = node
    return out


def _where(doc: Document, key: str) -> tuple[int, int]:
    return doc.position(record.PIN_BY_KEY[key].spec_path, key=False)


def _ways(key: str, pins: Pins) -> str:
    pin = record.PIN_BY_KEY[key]
    ways = [f"{pin.flag} {'PATH' if key == 'artifact.path' else 'VALUE'}"] if pin.flag else []
    if key in pins.provides:
        ways.append(pins.provides[key])
    else:
        ways.append(f"the record's `{key}`")
    return " or ".join(ways)


def _missing(doc: Document, old: dict[str, Any], pins: Pins) -> list[Diagnostic]:
    given = pins.values.keys() | ({"artifact.path"} if pins.artifact_bytes else set())
    needed = [k for k in REQUIRED if k not in given]
    needed += [q for q, of in QUALIFIERS.items() if q in old and q not in given
               and of in given and pins.values[of] != old.get(of)]
    if "runId" in old and "runId" not in given:
        needed.append("runId")  # the spec names a run: the new model came from another one
    if "artifact.signatureBundle" in old and "artifact.signatureBundle" not in given:
        needed.append("artifact.signatureBundle")  # the old bundle signs the old bytes
    problems = []
    for key in needed:
        path = ".".join(record.PIN_BY_KEY[key].spec_path)
        what = "the artifact's bytes, to compute `spec.model.artifact.digest` from" if key == "artifact.path" else f"`{path}`"
        hint = " (`--digest` alone is not enough: the digest is computed from the bytes, never copied)" \
            if key == "artifact.path" and pins.claimed_digest else ""
        source = f" in {pins.record_source}" if pins.record_source else ""
        problems.append(Diagnostic(doc.source, *_where(doc, key), f"missing pin{source}: {what}; give {_ways(key, pins)}{hint}",
                                   rule="missing-pin"))
    return problems


def _flag_problems(doc: Document, pins: Pins) -> list[Diagnostic]:
    """Each value, checked by the record's own rules (a record's values already were;
    flags were not); the artifact uri also by the spec's: a record may name any URI."""
    problems = []
    for key, value in pins.values.items():
        head, _, tail = key.partition(".")
        data = {"apiVersion": record.API_VERSION, "kind": record.KIND, head: {tail: value} if tail else value}
        try:
            record.validate(data, doc.source)
        except SpecError as exc:
            for d in exc.diagnostics:
                given = record.PIN_BY_KEY[key].flag or f"the record's `{key}`"
                problems.append(Diagnostic(doc.source, *_where(doc, key), f"{given}: {d.message.split('`: ', 1)[-1]}"))
    uri = pins.values.get("artifact.uri")
    if isinstance(uri, str) and artifact_uri_problem(uri):
        problems.append(Diagnostic(doc.source, *_where(doc, "artifact.uri"),
                                   f"new artifact uri {uri!r} is not where pods can fetch it: {artifact_uri_problem(uri)}; "
                                   "give --artifact URI naming where the same bytes live"))
    return problems


def _overridden(doc: Document, pins: Pins) -> list[Diagnostic]:
    """An environment overlay that sets a pin release writes would keep the old value there."""
    written = [record.PIN_BY_KEY[k].spec_path for k in pins.values.keys() | {"artifact.path"}] + [_PREVIOUS]
    problems = []
    for env, overlay in sorted((doc.data.get("spec", {}).get("environments") or {}).items()):
        for path in sorted(written):
            node: Any = overlay
            for key in path[1:]:
                node = node.get(key) if isinstance(node, dict) else None
            if node is not None:
                problems.append(loader.diagnostic(doc, ("spec", "environments", env, *path[1:]), f"environment "
                                f"`{env}` overrides `{'.'.join(path)}`, which release sets: the new release would not "
                                f"reach `{env}`; remove the override (pins belong to the model, not to an environment)",
                                rule="environment-overrides-pin"))
    return problems


def _digest_of(doc: Document, pins: Pins) -> str:
    assert pins.artifact_bytes is not None
    try:
        computed = digest.digest(pins.artifact_bytes)
    except digest.DigestError as exc:
        raise MlspecError([Diagnostic(doc.source, *_where(doc, "artifact.path"),
                                      f"cannot compute the artifact digest: {exc}")]) from None
    if pins.claimed_digest is not None and pins.claimed_digest != computed:
        raise MlspecError([Diagnostic(doc.source, *_where(doc, "artifact.path"),
                                      f"--digest {pins.claimed_digest} disagrees with the bytes at "
                                      f"{pins.artifact_bytes}, whose digest is {computed}")])
    return computed


def _release_problems(doc: Document, old: dict[str, Any], values: dict[str, Any], pins: Pins) -> list[Diagnostic]:
    version = values["version"]
    at = _where(doc, "version")
    if version == old.get("version"):
        return [Diagnostic(doc.source, *at, f"version {version!r} is the current release; a new release needs a new "
                           "`spec.model.version`")]
    previous = (doc.data["spec"].get("rollback") or {}).get("previous") or {}
    if version == previous.get("version"):
        return [Diagnostic(doc.source, *at, f"version {version!r} is the release the current one replaced "
                           "(`spec.rollback.previous.version`); a new release needs a new version")]
    return []


def _signature_problems(doc: Document, spec: Any, values: dict[str, Any], pins: Pins) -> list[Diagnostic]:
    """A new bundle goes into the spec's own `signature` block (which says how to verify
    it); with a local copy (`--signature-of`), the bundle is checked over the local bytes,
    as the pods will check it, before anything is written."""
    signature = spec.spec.model.artifact.signature  # with the platform's defaults under it
    at = _where(doc, "artifact.signatureBundle")
    if "artifact.signatureBundle" in values and signature is None:
        return [Diagnostic(doc.source, *at, "a signature bundle needs the spec's `model.artifact.signature` block "
                           "(`method` and its key, certificate or trusted root): add it once, then release")]
    if pins.signature_file is None:
        return []
    if signature is None or pins.signature_key is None:
        what = "--signature-key FILE (the public key, certificate chain or trusted root)" if signature else \
            "the spec's `model.artifact.signature` block"
        return [Diagnostic(doc.source, *at, f"--signature-of needs {what} to check the bundle with")]
    import argparse

    from mlspec.pod import signature as check  # imports model_signing inside: only this command pays for it

    flag = {"key": "public_key", "certificate": "certificate_chain", "sigstore": "trusted_root"}[signature.method]
    identity = (signature.certificate.identity if signature.certificate else
                signature.sigstore.identity if signature.sigstore else None)
    args = argparse.Namespace(method=signature.method, public_key=None, certificate_chain=None, trusted_root=None,
                              identity=identity, issuer=signature.sigstore.issuer if signature.sigstore else None,
                              bundle=pins.signature_file, digest=values["artifact.digest"], model=pins.artifact_bytes)
    setattr(args, flag, pins.signature_key)
    try:
        check.check(args)
    except (check.SignatureError, OSError) as exc:
        return [Diagnostic(doc.source, *at, f"the signature {pins.signature_file} does not vouch for the bytes at "
                           f"{pins.artifact_bytes}: {exc}")]
    return []


def _move_to_previous(editor: Any, data: dict[str, Any], old: dict[str, Any]) -> None:
    """`spec.rollback.previous` := the current release; a baseline that named the old
    previous release names the new one (it is the release being replaced)."""
    def written(key: str) -> Any:  # the value as the file has it: a quoted one moves quoted
        return editor.get(record.PIN_BY_KEY["artifact.path" if key == "artifact.digest" else key].spec_path)

    entries: dict[str, Any] = {"version": written("version"),
                               "artifact": {"uri": written("artifact.uri"), "digest": written("artifact.digest")},
                               "dataVersion": written("data.version")}
    for key, name in (("features.pipelineVersion", "featurePipelineVersion"),
                      ("features.schemaDigest", "featureSchemaDigest")):
        if key in old:
            entries[name] = written(key)
    spec = data["spec"]
    previous = (spec.get("rollback") or {}).get("previous")
    baseline = spec.get("evaluation", {}).get("baseline")
    if previous is not None and baseline is not None and baseline == previous.get("version"):
        editor.set(("spec", "evaluation", "baseline"), old["version"])
    if previous is None:
        artifact = editor.mapping(entries.pop("artifact"))
        block = editor.mapping({**entries, "artifact": artifact})
        block.move_to_end("artifact", last=False)
        block.move_to_end("version", last=False)
        if editor.has(("spec", "rollback")):
            editor.set(_PREVIOUS, block)
        else:
            editor.insert_before(("spec",), "environments", "rollback", editor.mapping({"previous": block}))
        return
    for key, value in entries.items():
        if key == "artifact":
            for sub, v in value.items():
                editor.set(_PREVIOUS + ("artifact", sub), v)
        else:
            editor.set(_PREVIOUS + (key,), value)
    for name in ("featurePipelineVersion", "featureSchemaDigest"):
        if name not in entries:
            editor.delete(_PREVIOUS + (name,))  # the replaced release had no such context


def find_ledger(spec_path: str, name: str, output: Path | None = None) -> Path | None:  # `name`: the model's key
    """The ledger a release is reconciled with when `--ledger` is not given: `output`
    (the repository's output directory, as every command resolves it), else the
    repository's `deploy/`, when it holds this model's ledger. The repository is the
    nearest directory holding `.git`."""
    if output is not None:
        return output if (output / ledger.relpath(name)).is_file() else None
    start = Path(spec_path).absolute().parent
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            candidate = directory / "deploy"
            return candidate if (candidate / ledger.relpath(name)).is_file() else None
    return None


def write(path: str, text: str) -> None:
    """Replace the spec atomically (a temporary file in the same directory, flushed to
    disk, renamed over it: a killed release leaves the old file whole), keeping its
    permissions. Through the safe-path layer, as it was read: never through a link."""
    root, rel = safepath.named(path)
    directory, name = safepath.parent_and_name(root, rel)
    with directory:
        mode = stat.S_IMODE(os.stat(name, dir_fd=directory.fd, follow_symlinks=False).st_mode)
        directory.write(name, text.encode("utf-8"), mode=mode, sync=True)
