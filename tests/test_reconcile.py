"""The ledger reconciles the past (DESIGN.md, "Pins that are recorded, not typed"):
`rollback.previous` against the recorded releases, a rebuild against the pins and the
`previous` it was recorded with, in every environment. Each disagreement: an error at
the spec's field quoting the recorded value, exit 1, and the output tree unchanged."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlspec.cli.main import main
from mlspec.files.errors import LedgerError
from mlspec.pipeline import core
from mlspec.pipeline.resolve import Context
from mlspec.records import ledger
from mlspec.records.releases import RecordedMetrics

ROOT = Path(__file__).resolve().parent.parent
FULL = (ROOT / "examples" / "fraud-detector.yaml").read_text()
A_DIGEST = "sha256:3a67254ee37e9204683a3520298158dc37a922db609866bf89a92ca52e7f32ed"
A_SCHEMA = "sha256:" + "5" * 64
OTHER = "sha256:" + "e" * 64


def spec_a() -> str:
    """Release 2026.10.1, the first one: what fraud-detector.yaml names as its previous."""
    text = FULL.replace('version: "2026.11.3"', 'version: "2026.10.1"')
    text = text.replace("s3://acme-models/fraud-detector/2026.11.3/model.joblib",
                        "s3://acme-models/fraud-detector/2026.10.1/model.joblib")
    text = text.replace("sha256:2256f9ef1ae0295c618e35848c3ec45dbfe05851c00d6325d8677b1f1055572e", A_DIGEST)
    text = text.replace('version: "v42"\n', 'version: "v41"\n').replace('"fp-17"', '"fp-16"')
    text = text.replace("sha256:7654100411969fa3cd0a93c8d70361ba4ce448324fe3ae0b0b30dccfce4e972b", A_SCHEMA)
    text = text.replace('    baseline: "2026.10.1"         # defaults to rollback.previous.version\n', "")
    text = text.replace("      - {metric: auc, maxDrop: 0.005}           # relative to the baseline's value\n", "")
    return re.sub(r"  rollback:\n(      .*\n|    .*\n)*", "", text)


def spec_b(**replace: str) -> str:
    """Release 2026.11.3 (fraud-detector.yaml) with `previous` edited: {old text: new text}."""
    text = FULL
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def where(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """Line and column (1-based) of the `nth` occurrence of `needle` in `text`."""
    index = -1
    for _ in range(nth + 1):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def tree(out: Path) -> str:
    """One digest of every file under `out`, names and bytes."""
    h = hashlib.sha256()
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(out)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


class Repo:
    def __init__(self, root: Path) -> None:
        self.spec = root / "fraud-detector.mlspec.yaml"
        self.out = root / "deploy"

    def mlspec(self, *args: object):
        return CliRunner().invoke(main, [str(a) for a in args])

    def build(self, text: str, *args: object):
        self.spec.write_text(text)
        return self.mlspec("build", self.spec, "-o", self.out, *args)

    def refused(self, text: str, line: int, col: int, *quoted: str) -> str:
        """Build `text`, assert it fails at `line:col` quoting `quoted`, writing nothing."""
        before = tree(self.out)
        result = self.build(text)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        errors = [e for e in result.stderr.splitlines() if ": error: " in e]
        located = [e for e in errors if e.startswith(f"{self.spec}:{line}:{col}: error: ")]
        assert located, f"no error at {line}:{col}: {errors}"
        for text_ in quoted:
            assert any(text_ in e for e in located), (text_, located)
        assert tree(self.out) == before
        return located[0]


@pytest.fixture()
def repo(tmp_path: Path) -> Repo:
    r = Repo(tmp_path)
    result = r.build(spec_a())
    assert result.exit_code == 0, result.output
    return r


def test_a_previous_that_agrees_with_the_ledger_builds(repo):
    result = repo.build(FULL)
    assert result.exit_code == 0, result.output
    lg = ledger.load(repo.out, "fraud-detector")
    assert lg.current == "2026.11.3" and [r["version"] for r in lg.releases] == ["2026.10.1", "2026.11.3"]


def test_an_omitted_feature_schema_digest_is_taken_from_the_record(repo):
    assert repo.build(FULL).exit_code == 0
    lineage = yaml.safe_load((repo.out / "prod/fraud-detector/configmap-lineage.yaml").read_text())
    previous = json.loads(lineage["data"]["lineage.json"])["spec"]["rollback"]["previous"]
    assert previous["featureSchemaDigest"] == A_SCHEMA  # FULL does not state it; A recorded it
    # Without a ledger there is nothing to take it from: the spec as written.
    alone = repo.mlspec("build", repo.spec, "--stdout", "--env", "prod")
    assert alone.exit_code == 0 and A_SCHEMA not in alone.stdout


def test_without_a_ledger_the_output_is_that_of_an_agreeing_ledger(repo):
    stated = FULL.replace('      featurePipelineVersion: "fp-16"\n',
                          f'      featurePipelineVersion: "fp-16"\n      featureSchemaDigest: {A_SCHEMA}\n')
    repo.spec.write_text(stated)
    alone = repo.mlspec("build", repo.spec, "--stdout", "--env", "prod")
    reconciled = repo.mlspec("build", repo.spec, "--stdout", "--env", "prod", "--ledger", repo.out)
    assert alone.exit_code == 0 and reconciled.exit_code == 0, reconciled.output
    assert alone.stdout == reconciled.stdout


def test_a_previous_never_released_is_refused(repo):
    text = spec_b(**{'      version: "2026.10.1"': '      version: "2026.09.9"',
                     'baseline: "2026.10.1"': 'baseline: "2026.09.9"'})
    message = repo.refused(text, *where(text, '"2026.09.9"', 1), "'2026.09.9'", "recorded releases are '2026.10.1'")
    assert "does not record" in message


PREVIOUS_FIELDS = [
    ("artifact.uri", "s3://acme-models/fraud-detector/2026.10.1/model.joblib",
     "s3://acme-models/fraud-detector/2026.10.0/model.joblib",
     "'s3://acme-models/fraud-detector/2026.10.1/model.joblib'"),
    ("artifact.digest", A_DIGEST, OTHER, f"'{A_DIGEST}'"),
    ("dataVersion", '"v41"', '"v40"', "'v41'"),
    ("featurePipelineVersion", '"fp-16"', '"fp-15"', "'fp-16'"),
]


@pytest.mark.parametrize(("field", "recorded", "typed", "quoted"), PREVIOUS_FIELDS, ids=[f[0] for f in PREVIOUS_FIELDS])
def test_a_previous_field_that_differs_from_the_record_is_refused(repo, field, recorded, typed, quoted):
    rollback = FULL.index("  rollback:")
    text = FULL[:rollback] + FULL[rollback:].replace(recorded, typed, 1)
    message = repo.refused(text, *where(text, typed, text[:rollback].count(typed)), quoted)
    assert f"`rollback.previous.{field}` is" in message


def test_a_previous_feature_schema_digest_that_differs_is_refused(repo):
    text = FULL.replace('      featurePipelineVersion: "fp-16"\n',
                        f'      featurePipelineVersion: "fp-16"\n      featureSchemaDigest: {OTHER}\n')
    message = repo.refused(text, *where(text, OTHER), f"'{A_SCHEMA}'")
    assert "`rollback.previous.featureSchemaDigest` is" in message


def test_a_previous_feature_field_the_record_lacks_is_refused(tmp_path):
    r = Repo(tmp_path)
    without_features = re.compile(r"  features:\n(    .*\n)+")
    assert r.build(without_features.sub("", spec_a())).exit_code == 0
    text = without_features.sub("", FULL)
    r.refused(text, *where(text, '"fp-16"'), "`rollback.previous.featurePipelineVersion` is 'fp-16'", "recorded with none")


def test_skipping_the_deployed_release_is_refused(repo):
    # 2026.10.2 follows 2026.10.1 and is deployed; 2026.11.3 still names 2026.10.1.
    between = spec_b(**{'version: "2026.11.3"': 'version: "2026.10.2"',
                        "fraud-detector/2026.11.3/": "fraud-detector/2026.10.2/"})
    assert repo.build(between).exit_code == 0
    message = repo.refused(FULL, *where(FULL, '"2026.10.1"', 1), "current release of fraud-detector is '2026.10.2'")
    assert "`rollback.previous` is '2026.10.1'" in message


def test_a_new_version_without_previous_is_refused_once_a_release_is_deployed(repo):
    text = re.sub(r"  rollback:\n(      .*\n|    .*\n)*", "", FULL).replace(
        '    baseline: "2026.10.1"         # defaults to rollback.previous.version\n', "").replace(
        "      - {metric: auc, maxDrop: 0.005}           # relative to the baseline's value\n", "")
    repo.refused(text, *where(text, '"2026.11.3"'), "'2026.10.1'", "must name it in `spec.rollback.previous`")


def test_a_rebuild_keeps_the_previous_it_was_recorded_with(repo):
    assert repo.build(FULL).exit_code == 0  # 2026.11.3 recorded with previous 2026.10.1
    again = spec_b(**{'      version: "2026.10.1"': '      version: "2026.10.0"',
                      'baseline: "2026.10.1"': 'baseline: "2026.10.0"'})
    message = repo.refused(again, *where(again, '"2026.10.0"', 1), "recorded with `rollback.previous` '2026.10.1'")
    assert "keeps the `previous`" in message
    # A first release that gains a previous on rebuild is refused the same way.
    text = spec_a().replace("  environments:", "  rollback:\n    previous:\n      version: \"2026.09.0\"\n"
                            "      artifact: {uri: s3://m/x, digest: " + OTHER + "}\n      dataVersion: v1\n  environments:")
    repo.refused(text, *where(text, '"2026.09.0"'), "recorded as a first release")


def test_gate_and_stdout_reconcile_too(repo):
    text = spec_b(**{"dataVersion: \"v41\"": "dataVersion: \"v40\""})
    repo.spec.write_text(text)
    position = "{}:{}:{}: error: ".format(repo.spec, *where(text, '"v40"'))
    metrics = repo.spec.parent / "metrics.json"
    metrics.write_text(json.dumps({"auc": 0.95, "false_positive_rate": 0.01}))
    for args in (["gate", repo.spec, "--metrics", metrics, "--record", "-o", repo.out],
                 ["build", repo.spec, "--stdout", "--env", "prod", "--ledger", repo.out]):
        before = tree(repo.out)
        result = repo.mlspec(*args)
        assert result.exit_code == 1 and position in result.stderr and "'v41'" in result.stderr, result.output
        assert result.stdout == "" and tree(repo.out) == before


def test_the_release_command_path_reconciles(repo):
    """What `mlspec release` validates through: core.build with the ledger in the context."""
    text = spec_b(**{A_DIGEST: OTHER})
    with pytest.raises(LedgerError) as info:
        core.build(text, "spec.yaml", context=Context(recorded_metrics=RecordedMetrics(repo.out)))
    (d,) = info.value.diagnostics
    assert (d.source, (d.line, d.col)) == ("spec.yaml", where(text, OTHER)) and f"'{A_DIGEST}'" in d.message


# --- immutability: every pin, in every environment -----------------------------------

PINS = [  # (pin, its value in spec_a, another value, columns from the new text to the value)
    ("artifact.uri", "s3://acme-models/fraud-detector/2026.10.1/model.joblib",
     "s3://acme-models/fraud-detector/x/model.joblib", 0),
    ("artifact.digest", A_DIGEST, OTHER, 0),
    ("code.repo", "https://git.acme.example/risk/fraud", "https://git.acme.example/risk/fraud2", 0),
    ("code.commit", "b4a5847b0ba6971a6e05431b7091325e73c03017", "c" * 40, 0),
    ("data.uri", "s3://acme-data/transactions\n", "s3://acme-data/transactions-v2\n", 0),
    ("data.version", '"v41"', '"v41b"', 0),
    ("data.digest", "sha256:6867541c230c6db9ce565b9e9d6502bbd18d394d18db6ec47341767109a16bc0", OTHER, 0),
    ("seed", "seed: 1234", "seed: 1235", len("seed: ")),
    ("environment.image",
     "registry.acme.example/risk/trainer@sha256:06ea17a8981d25b0315ff17bd1ebad3d95c15a3f8b764eaadb93612d9b61a54e",
     "registry.acme.example/risk/trainer@sha256:" + "0" * 64, 0),
    ("environment.lockfileDigest", "sha256:d6f5483103ee386e1f3453bff6da949b7d95fe942218d3774a449e38bbd9317f", OTHER, 0),
    ("environment.accelerator", "nvidia-a100", "nvidia-h100", 0),
    ("features.pipelineVersion", '"fp-16"', '"fp-99"', 0),
    ("features.schemaDigest", A_SCHEMA, OTHER, 0),
    # what the model is judged on: another holdout set or evaluator would change what its verdict means
    ("evaluation.dataset.uri", "s3://acme-data/transactions-holdout/v42.parquet",
     "s3://acme-data/transactions-holdout/easy.parquet", 0),
    ("evaluation.dataset.version", '"v42-holdout"', '"v42-easy"', 0),
    ("evaluation.dataset.digest", "sha256:9c1185a5c5e9fc54612808977ee8f548b2258d31b6bd2e0ad8d8e5c18a3b16c7", OTHER, 0),
    ("evaluation.image", "registry.acme.example/risk/eval@sha256:1bbd174404efbce95f1af489ef93f4aa0f4d55718f24c3504682216afa7b7fb1",
     "registry.acme.example/risk/eval@sha256:" + "0" * 64, 0),
]


@pytest.mark.parametrize(("pin", "recorded", "changed", "offset"), PINS, ids=[p[0] for p in PINS])
def test_every_pin_of_a_released_version_is_immutable(repo, pin, recorded, changed, offset):
    assert recorded in spec_a()
    text = spec_a().replace(recorded, changed, 1)
    recorded_value = ledger.flat(ledger.load(repo.out, "fraud-detector").releases[0]["pins"])[pin]
    line, col = where(text, changed)
    message = repo.refused(text, line, col + offset, f"({pin}: recorded {recorded_value!r}")
    assert "already released with other pins" in message and "in environment" not in message


def test_an_overlay_cannot_change_a_pin_of_a_released_version(repo):
    text = spec_a().replace("prod: {serving: {replicas: 6}}",
                            f"prod: {{serving: {{replicas: 6}}, model: {{artifact: {{digest: '{OTHER}'}}}}}}")
    message = repo.refused(text, *where(text, f"'{OTHER}'"), f"recorded '{A_DIGEST}'")
    assert "in environment `prod`" in message
    assert ledger.load(repo.out, "fraud-detector").releases[0].get("environmentPins") is None


def test_an_overlay_pin_is_recorded_and_kept_per_environment(tmp_path):
    r = Repo(tmp_path)
    prod = spec_a().replace("prod: {serving: {replicas: 6}}",
                            "prod: {serving: {replicas: 6}, training: {environment: {accelerator: nvidia-h100}}}")
    assert r.build(prod).exit_code == 0
    (entry,) = ledger.load(r.out, "fraud-detector").releases
    assert entry["environmentPins"]["prod"]["environment"]["accelerator"] == "nvidia-h100"
    assert entry["pins"]["environment"]["accelerator"] == "nvidia-a100" and "staging" not in entry["environmentPins"]
    assert r.build(prod.replace("replicas: 6", "replicas: 8")).exit_code == 0  # deployment settings may change
    # The base's value in prod is a change of prod's pin, positioned where it now comes from.
    message = r.refused(spec_a(), *where(spec_a(), "nvidia-a100"), "recorded 'nvidia-h100'")
    assert message.split(": error: ")[1].startswith("in environment `prod`: ")
    # A build of staging alone does not forget what prod was recorded with.
    assert r.mlspec("build", r.spec, "-o", r.out, "--env", "staging").exit_code == 0
    assert ledger.load(r.out, "fraud-detector").releases[0]["environmentPins"]["prod"]["environment"][
        "accelerator"] == "nvidia-h100"


def test_record_refuses_an_overlay_pin_change_without_the_ledger_in_the_context(repo):
    """The ledger's own check, for callers that record without reconciling."""
    text = spec_a().replace("prod: {serving: {replicas: 6}}",
                            f"prod: {{serving: {{replicas: 6}}, model: {{artifact: {{digest: '{OTHER}'}}}}}}")
    built = core.build(text, "spec.yaml")
    with pytest.raises(LedgerError) as info:
        ledger.record(ledger.load(repo.out, "fraud-detector"), built)
    assert f"artifact.digest in environment `prod`: '{A_DIGEST}' -> '{OTHER}'" in str(info.value)


def test_a_ledger_of_the_previous_format_is_refused_until_migrated(tmp_path):
    """Entries without digests or environmentPins (an earlier mlspec, or a removed seal):
    refused by every build until `mlspec ledger migrate` seals them; the per-environment
    pins then come from the recorded spec, so a tamper of prod's pin is still refused."""
    r = Repo(tmp_path)
    prod = spec_a().replace("prod: {serving: {replicas: 6}}",
                            "prod: {serving: {replicas: 6}, training: {environment: {accelerator: nvidia-h100}}}")
    assert r.build(prod).exit_code == 0
    path = r.out / ledger.relpath("fraud-detector")
    data = yaml.safe_load(path.read_text())
    for entry in data["releases"]:
        del entry["digest"], entry["environmentPins"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    for args in (["build", r.spec, "-o", r.out, "--check"], ["build", r.spec, "-o", r.out]):
        refused = r.mlspec(*args)
        assert refused.exit_code == 1 and "has no `digest`" in refused.stderr, refused.output
    assert r.mlspec("ledger", "migrate", "-o", r.out).exit_code == 0
    (entry,) = ledger.load(r.out, "fraud-detector").releases
    assert entry["digest"] == ledger.entry_digest(entry)
    assert entry["environmentPins"]["prod"]["environment"]["accelerator"] == "nvidia-h100"
    r.refused(spec_a(), *where(spec_a(), "nvidia-a100"), "in environment `prod`", "recorded 'nvidia-h100'")
    assert r.build(prod).exit_code == 0
    assert r.mlspec("build", r.spec, "-o", r.out, "--check").exit_code == 0
