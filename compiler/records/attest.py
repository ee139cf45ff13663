"""In-toto attestations of each release: what was trained from what, and how it was judged.

For every ledger entry mlspec writes `OUT/_attestations/<model key>/<version>.intoto.jsonl`,
one DSSE envelope per line, each carrying an in-toto Statement v1 whose subject is the
model artifact (name, uri, `sha256` digest):

1. SLSA Provenance v1 for the training: build type `BUILD_TYPE`, external parameters with
   the seed as a *string* (a JSON number loses precision above 2^53) and the
   hyperparameters, resolved dependencies (training data, code commit, training
   environment image, lockfile), invocation id = `training.runId`;
2. once a verdict is recorded (`gate --record`), a Test Result v0.1 statement: PASSED or
   FAILED, one test per threshold, the evaluation dataset and evaluator image as its
   configuration.

Everything is derived from the ledger entry alone (its pins and recorded spec), so an
attestation that "disagrees with the entry" is one whose payload is not the payload
derived here: the check is byte equality, not a field-by-field judgement. Payloads are
canonical JSON (sorted keys, no spaces), so the output is deterministic; Ed25519
signatures are deterministic too (`attest_keys`).

Written from the in-toto/attestation spec pages at commit
051624ce466deaed4c5a66e66877f69b471fccbe (spec/v1/statement.md, resource_descriptor.md,
envelope.md, spec/predicates/test-result.md; SLSA Provenance v1 at slsa.dev/provenance/v1).

Standard library only: signing and verifying (`attest_keys`) import `cryptography`, and
only when a key or trusted keys are configured.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlspec.files import safepath
from mlspec.files.errors import Diagnostic, LedgerError, MlspecError
from mlspec.pod import gate
from mlspec.records import attest_keys
from mlspec.records.attest_keys import PAYLOAD_TYPE, pae
from mlspec.records.ledger import Ledger

ATTEST_DIR = "_attestations"
STATEMENT = "https://in-toto.io/Statement/v1"
PROVENANCE = "https://slsa.dev/provenance/v1"
TEST_RESULT = "https://in-toto.io/attestation/test-result/v0.1"
PREDICATES = (PROVENANCE, TEST_RESULT)
BUILD_TYPE = "https://mlspec.dev/attestation/training/v1"
# mlspec records the training; it does not run it. The builder is "whoever trained the
# model recorded in the spec": what vouches for the claim is the signer's key.
BUILDER = "https://mlspec.dev/attestation/recorded-training/v1"
# The input budget of one attestation file: a few statements per release.
MAX_BYTES = 1 << 20
MAX_LINES = 16


@dataclass
class Envelope:
    payload: bytes
    payload_type: str
    signatures: list[dict[str, str]]
    line: int = 1
    statement: dict[str, Any] = field(default_factory=dict)


def relpath(model_key: str, version: str) -> str:
    return f"{ATTEST_DIR}/{model_key}/{version}.intoto.jsonl"


# --- statements --------------------------------------------------------------------


def _sha256(digest: Any) -> dict[str, str]:
    """`sha256:<hex>` (or an image reference ending in `@sha256:<hex>`) as a DigestSet."""
    text = digest if isinstance(digest, str) else ""
    _, _, hexdigest = text.rpartition("sha256:")
    return {"sha256": hexdigest} if hexdigest else {}


def _descriptor(name: str, uri: str | None = None, digest: dict[str, str] | None = None,
                annotations: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if uri:
        out["uri"] = uri
    if digest:
        out["digest"] = digest
    if annotations:
        out["annotations"] = annotations
    return out


def _spec(entry: dict[str, Any]) -> dict[str, Any]:
    spec = entry.get("spec", {}).get("spec")
    return spec if isinstance(spec, dict) else {}


def subject(model_key: str, entry: dict[str, Any]) -> dict[str, Any]:
    artifact = entry["pins"]["artifact"]
    return _descriptor(f"{model_key}@{entry['version']}", artifact.get("uri"), _sha256(artifact.get("digest")))


def provenance(model_key: str, entry: dict[str, Any]) -> dict[str, Any]:
    pins, training = entry["pins"], _spec(entry).get("training") or {}
    data, code, environment = pins["data"], pins.get("code") or {}, pins.get("environment") or {}
    dependencies = [_descriptor("training-data", data.get("uri"), _sha256(data.get("digest")),
                                {"version": data["version"]}),
                    _descriptor("code", f"git+{code.get('repo')}" if code.get("repo") else None,
                                {"gitCommit": code["commit"]} if code.get("commit") else None),
                    _descriptor("training-environment", environment.get("image"), _sha256(environment.get("image")))]
    if environment.get("lockfileDigest"):
        dependencies.append(_descriptor("lockfile", None, _sha256(environment["lockfileDigest"])))
    external: dict[str, Any] = {"model": model_key, "version": entry["version"], "seed": str(pins["seed"])}
    if training.get("hyperparameters"):
        external["hyperparameters"] = training["hyperparameters"]
    metadata = {"invocationId": training["runId"]} if isinstance(training.get("runId"), str) else {}
    return _statement(model_key, entry, PROVENANCE, {
        "buildDefinition": {"buildType": BUILD_TYPE, "externalParameters": external,
                            "resolvedDependencies": dependencies},
        "runDetails": {"builder": {"id": BUILDER}, **({"metadata": metadata} if metadata else {})},
    })


def baseline_version(entry: dict[str, Any]) -> str | None:
    """The release a `maxDrop` threshold of `entry` compares against, if it has one."""
    evaluation = _spec(entry).get("evaluation") or {}
    if not any("maxDrop" in t for t in evaluation.get("thresholds") or [] if isinstance(t, dict)):
        return None
    previous = (_spec(entry).get("rollback") or {}).get("previous") or {}
    version = evaluation.get("baseline") or previous.get("version")
    return version if isinstance(version, str) else None


def test_result(lg: Ledger, entry: dict[str, Any]) -> dict[str, Any] | None:
    """The verdict recorded on `entry`, one test per threshold (re-judged from the recorded
    metrics and the baseline's recorded metrics, as the gate judged them)."""
    if entry.get("gate") not in ("passed", "failed"):
        return None
    evaluation = _spec(entry).get("evaluation") or {}
    base = lg.find(baseline_version(entry) or "")
    verdicts = gate.evaluate(evaluation.get("thresholds") or [], entry.get("metrics") or {},
                             (base or {}).get("metrics"))
    dataset, pins = evaluation.get("dataset") or {}, entry["pins"].get("evaluation") or {}
    image = pins.get("image") or evaluation.get("image")
    configuration = [_descriptor("evaluation-dataset", dataset.get("uri"), _sha256(dataset.get("digest")),
                                 {"version": dataset["version"]} if dataset.get("version") else None),
                     _descriptor("evaluator", image, _sha256(image))]
    names = [(f"{v.metric} {v.check} {v.bound:g}", v.passed) for v in verdicts]
    predicate: dict[str, Any] = {"result": "PASSED" if entry["gate"] == "passed" else "FAILED",
                                 "configuration": configuration}
    passed, failed = [n for n, ok in names if ok], [n for n, ok in names if not ok]
    if passed:
        predicate["passedTests"] = passed
    if failed:
        predicate["failedTests"] = failed
    return _statement(lg.model, entry, TEST_RESULT, predicate)


def _statement(model_key: str, entry: dict[str, Any], predicate_type: str, predicate: dict[str, Any]) -> dict[str, Any]:
    return {"_type": STATEMENT, "subject": [subject(model_key, entry)], "predicateType": predicate_type,
            "predicate": predicate}


def statements(lg: Ledger, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """What `entry` of `lg` attests, in file order."""
    found = [provenance(lg.model, entry), test_result(lg, entry)]
    return [s for s in found if s is not None]


def payload(statement: dict[str, Any]) -> bytes:
    return json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def envelope_line(body: bytes, signatures: list[dict[str, str]]) -> str:
    envelope = {"payload": base64.b64encode(body).decode(), "payloadType": PAYLOAD_TYPE,
                "signatures": sorted(signatures, key=lambda s: (s["keyid"], s["sig"]))}
    return json.dumps(envelope, sort_keys=True, separators=(",", ":")) + "\n"


def render(lg: Ledger, entry: dict[str, Any], existing: list[Envelope] | None, signer: Any = None) -> str:
    """The attestation file of `entry`: each statement's envelope, keeping the signatures an
    existing envelope of the same payload carries (a rebuild does not drop them) and
    adding `signer`'s (`attest_keys.Signer`) where it lacks one."""
    kept = {e.payload: e.signatures for e in existing or []}
    lines = []
    for statement in statements(lg, entry):
        body = payload(statement)
        signatures = list(kept.get(body, []))
        if signer is not None and all(s.get("keyid") != signer.keyid for s in signatures):
            signatures.append({"keyid": signer.keyid, "sig": signer.sign(pae(PAYLOAD_TYPE, body))})
        lines.append(envelope_line(body, signatures))
    return "".join(lines)


# --- reading ---------------------------------------------------------------------


def read(out: Path, model_key: str, version: str) -> list[Envelope] | None:
    """The envelopes of `version`'s attestation file under `out` (None: there is none),
    read within `MAX_BYTES`, never through a link; a damaged one is a positioned error."""
    rel = relpath(model_key, version)
    try:
        data = safepath.read(out, rel, MAX_BYTES)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except MlspecError as exc:  # a link, a FIFO, over the budget
        raise LedgerError(exc.diagnostics) from None
    except OSError as exc:
        raise LedgerError([Diagnostic(str(out / rel), 1, 1, f"cannot read the attestation: {exc.strerror}")]) from None
    return parse(data, str(out / rel))


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def parse(data: bytes, source: str) -> list[Envelope]:
    """Every envelope of an attestation file (one DSSE envelope of an in-toto statement per
    line), each checked for shape; `LedgerError` at the first damaged line."""
    if len(data) > MAX_BYTES:
        raise LedgerError([Diagnostic(source, 1, 1, f"the attestation is larger than {MAX_BYTES} bytes")])
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    else:  # every line of a file mlspec wrote ends with a newline
        where = max(len(lines), 1)
        raise LedgerError([Diagnostic(source, where, 1, "the attestation is truncated (its last line has no newline)")])
    if len(lines) > MAX_LINES:
        raise LedgerError([Diagnostic(source, MAX_LINES + 1, 1, f"more than {MAX_LINES} envelopes in one attestation")])
    return [_envelope(text, source, number) for number, text in enumerate(lines, 1)]


def _envelope(text: bytes, source: str, number: int) -> Envelope:
    def fail(message: str, col: int = 1) -> LedgerError:
        return LedgerError([Diagnostic(source, number, col, f"the attestation is damaged: {message}; restore it "
                                       "from Git (or rebuild, then `mlspec attest`)")])

    try:
        raw = json.loads(text.decode("utf-8"), object_pairs_hook=_unique)
    except json.JSONDecodeError as exc:
        raise fail(exc.msg, exc.colno) from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise fail(str(exc)) from None
    if not isinstance(raw, dict) or set(raw) != {"payload", "payloadType", "signatures"}:
        raise fail("a DSSE envelope has exactly `payload`, `payloadType` and `signatures`")
    if raw["payloadType"] != PAYLOAD_TYPE:
        raise fail(f"`payloadType` is {raw['payloadType']!r}, expected {PAYLOAD_TYPE!r}")
    signatures = raw["signatures"]
    if not (isinstance(signatures, list) and all(
            isinstance(s, dict) and set(s) == {"keyid", "sig"} and all(isinstance(v, str) for v in s.values())
            for s in signatures)):
        raise fail("`signatures` is a list of {keyid, sig} strings")
    try:
        body = base64.b64decode(raw["payload"], validate=True) if isinstance(raw["payload"], str) else None
        statement = json.loads(body, object_pairs_hook=_unique) if body is not None else None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise fail(f"the payload is not base64 of a JSON statement ({exc})") from None
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT:
        raise fail(f"the payload is not an in-toto Statement v1 (`_type` {STATEMENT})")
    if statement.get("predicateType") not in PREDICATES:
        raise fail(f"predicate type {str(statement.get('predicateType'))[:100]!r} is not one mlspec writes "
                   f"({', '.join(PREDICATES)})")
    assert body is not None
    return Envelope(body, raw["payloadType"], signatures, number, statement)


# --- trust -----------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """How one statement of an entry stands: signed by a trusted key, unsigned, or refused."""

    version: str
    signed: bool
    problem: str | None = None


def judge(out: Path, lg: Ledger, trusted: dict[str, Any],
          pending: dict[str, list[Envelope]] | None = None) -> list[tuple[int, Verdict]]:
    """Every statement of every entry of `lg`, in order, judged against `trusted`
    (`{keyid: attest_keys.TrustedKey}`): `(entry index, verdict)`. `pending`: envelopes
    of versions about to be written, read instead of the files under `out`."""
    found: list[tuple[int, Verdict]] = []
    for i, entry in enumerate(lg.releases):
        version = entry["version"]
        envelopes = (pending or {}).get(version)
        if envelopes is None:
            envelopes = read(out, lg.model, version) or []
        by_payload = {e.payload: e for e in envelopes}
        expected = [payload(s) for s in statements(lg, entry)]
        for extra in (e for e in envelopes if e.payload not in expected):
            found.append((i, Verdict(version, False, f"line {extra.line} of its attestation disagrees with the "
                                     f"entry (a {extra.statement.get('predicateType')} statement that is not the "
                                     "one its pins, recorded spec and verdict give)")))
        for body in expected:
            envelope = by_payload.get(body)
            if envelope is None or not envelope.signatures:
                found.append((i, Verdict(version, False)))
                continue
            problem = attest_keys.check_signatures(envelope, trusted)
            found.append((i, Verdict(version, problem is None, problem)))
    return found


def check_ledger(out: Path, lg: Ledger, trusted: dict[str, Any], where: str,
                 pending: dict[str, list[Envelope]] | None = None) -> list[Diagnostic]:
    """With trusted keys listed: an entry whose attestation is missing, signed by an unlisted
    key or disagrees with the entry is refused, except that unsigned statements are
    accepted *after* the last signed one (releases not yet through the protected branch)."""
    verdicts = judge(out, lg, trusted, pending)
    last_signed = max((n for n, (_, v) in enumerate(verdicts) if v.signed), default=-1)
    problems: dict[int, str] = {}
    for n, (i, v) in enumerate(verdicts):
        if v.problem is not None:
            problems.setdefault(i, v.problem)
        elif not v.signed and n < last_signed:
            problems.setdefault(i, "its attestation is missing or unsigned, but a later release's is signed by a "
                                   "trusted key: only releases after the last signed one may be unsigned (a stripped "
                                   "signature?)")
    return [Diagnostic(where, *(lg.marks[i] if i < len(lg.marks) else (1, 1)),
                       f"release {lg.releases[i]['version']!r} of {lg.model}: {text} "
                       f"({relpath(lg.model, lg.releases[i]['version'])})") for i, text in sorted(problems.items())]


def require_signed(out: Path, lg: Ledger, version: str, trusted: dict[str, Any], where: str, role: str,
                   pending: dict[str, list[Envelope]] | None = None) -> None:
    """Refuse `version` of `lg` as a `role` ("rollback target", "maxDrop baseline") unless
    every statement of its attestation is signed by a trusted key and agrees with its entry.
    For `rollback` and `build`; does nothing when no keys are trusted."""
    if not trusted:
        return
    entry = lg.find(version)
    index = lg.releases.index(entry) if entry is not None else -1
    verdicts = [v for i, v in judge(out, lg, trusted, pending) if i == index]
    if entry is None or not verdicts or not all(v.signed for v in verdicts):
        reason = next((v.problem for v in verdicts if v.problem), "its attestation is missing or unsigned")
        line, col = lg.marks[index] if 0 <= index < len(lg.marks) else (1, 1)
        raise LedgerError([Diagnostic(where, line, col, f"release {version!r} of {lg.model} cannot be the {role}: "
                                      f"{reason}; the platform file trusts signed releases only "
                                      "(`mlspec attest` on the protected branch signs them)")])


def for_build(out: Path, lg: Ledger, version: str, key: str | None, platform: Any, where: str) -> dict[str, str]:
    """`{relpath: text}` of `version`'s attestation after a build (or `gate --record`) recorded
    it in `lg`: derived from its entry, keeping the signatures the file already carries,
    signed with `key` (a file; `$MLSPEC_ATTEST_KEY`) when given. With keys trusted by
    `platform`, every entry of `lg` is judged (`check_ledger`) and a `maxDrop` baseline
    must be signed; `LedgerError` otherwise. Imports `cryptography` only with a key or keys."""
    entry = lg.find(version)
    assert entry is not None, "record the release before attesting it"
    listed = platform.attestation_keys if platform is not None else []
    signer = attest_keys.signer(key) if key else None  # the CLI reads $MLSPEC_ATTEST_KEY
    trusted = attest_keys.trusted(listed) if listed else {}
    text = render(lg, entry, read(out, lg.model, version), signer)
    rel = relpath(lg.model, version)
    if trusted:
        pending = {version: parse(text.encode(), str(out / rel))}
        problems = check_ledger(out, lg, trusted, where, pending)
        if problems:
            raise LedgerError(problems)
        baseline = baseline_version(entry)
        if baseline is not None and baseline != version and lg.find(baseline) is not None:
            require_signed(out, lg, baseline, trusted, where, "maxDrop baseline", pending)
    return {rel: text}
