"""A ledger's shape is checked once, in `ledger.parse`: every damaged place is an error
at its position in the ledger file, so no consumer meets a wrong type."""

from __future__ import annotations

import pytest

from mlspec.files import emit, loader
from mlspec.files.errors import LedgerError, MlspecError
from mlspec.records import ledger

PINS = {"artifact": {"uri": "s3://m/1", "digest": "sha256:" + "a" * 64}, "code": {"repo": "https://g/r", "commit": "c"},
        "data": {"uri": "s3://d", "version": "v1"}, "seed": 7, "environment": {"image": "i@sha256:" + "b" * 64}}


def entry(version: str = "1.0.0", **more: object) -> dict[str, object]:
    return {"version": version, "source": "m.yaml", "specDigest": "sha256:" + "c" * 64, "pins": PINS,
            "environments": {"prod": "sha256:" + "d" * 64}, "spec": {"kind": "ModelDeployment"}, **more}


def text(releases: object, current: object = "1.0.0", model: str = "m") -> str:
    return emit.dump({"apiVersion": "mlspec.dev/v1alpha1", "kind": "ReleaseLedger", "model": model,
                      "current": current, "releases": releases})


def errors(data: str | bytes) -> list[str]:
    with pytest.raises(LedgerError) as info:
        ledger.parse(data, "l.yaml", "m")
    return [str(d) for d in info.value.diagnostics]


def test_what_record_writes_parses_back_unchanged():
    releases = [entry("0.9.0", metrics={"f1": 0.9, "n": 3}, gate="passed"), entry("1.0.0", extra={"kept": True})]
    lg = ledger.parse(text(releases), "l.yaml", "m")
    assert (lg.model, lg.current, lg.releases) == ("m", "1.0.0", releases)
    assert ledger.dump(lg) == ledger.dump(ledger.Ledger("m", "1.0.0", releases))
    assert ledger.parse(text([], current=None), "l.yaml", "m").releases == []


@pytest.mark.parametrize(("releases", "expected"), [
    ([1], "6:3: error: the ledger is damaged: `releases[0]` is number 1, expected a mapping; restore it from Git"),
    ([{"version": "1.0.0"}], "6:3: error: the ledger is damaged: `releases[0]` has no `source`, `specDigest`, `pins`, "
                             "`spec`"),
    ([entry(pins={**PINS, "data": 5})], "`releases[0].pins.data` is number 5, expected a mapping"),
    ([entry(pins={**PINS, "data": {"uri": "s3://d"}})], "`releases[0].pins.data` has no `version`"),
    ([entry(pins={**PINS, "seed": "7"})], '`releases[0].pins.seed` is string "7", expected an integer'),
    ([entry(pins={**PINS, "seed": True})], "`releases[0].pins.seed` is boolean true, expected an integer"),
    ([entry(pins={**PINS, "features": []})], "`releases[0].pins.features` is a list, expected a mapping"),
    ([entry(pins={k: v for k, v in PINS.items() if k != "code"})], "`releases[0].pins` has no `code`"),
    ([entry(version=1)], "`releases[0].version` is number 1, expected a string"),
    ([entry(metrics={"f1": "high"})], '`releases[0].metrics.f1` is string "high", expected a number'),
    ([entry(metrics=[0.9])], "`releases[0].metrics` is a list, expected a mapping"),
    ([entry(gate="maybe")], "`releases[0].gate` is string \"maybe\", expected 'passed' or 'failed'"),
    ([entry(environments={"prod": 3})], "`releases[0].environments.prod` is number 3, expected a string"),
    ([entry(spec="x")], '`releases[0].spec` is string "x", expected a mapping'),
])
def test_a_damaged_release_is_an_error_at_its_place(releases, expected):
    [message] = errors(text(releases))
    assert message.startswith("l.yaml:") and expected in message and message.endswith("; restore it from Git")


def test_the_position_is_the_damaged_key_in_the_file():
    releases = [entry("0.9.0"), entry(pins={**PINS, "seed": "x"})]
    source = text(releases)
    line = next(i for i, row in enumerate(source.splitlines(), 1) if row.strip() == "seed: x")
    assert errors(source) == [f"l.yaml:{line}:5: error: the ledger is damaged: `releases[1].pins.seed` is string \"x\", "
                              "expected an integer; restore it from Git"]


def test_non_finite_metrics_are_damage():
    source = text([entry()]).replace("  source:", "  metrics: {f1: .nan}\n  source:", 1)
    [message] = errors(source)
    assert "`releases[0].metrics.f1` is number NaN, expected a finite number" in message


@pytest.mark.parametrize(("source", "expected"), [
    ("kind: ReleaseLedger\n", "1:1: error: the ledger is damaged: `the document` has no `apiVersion`, `model`, `releases`"),
    (text([]).replace("ReleaseLedger", "ModelDeployment"), "`kind` is string \"ModelDeployment\", expected 'ReleaseLedger'"),
    (text({}), "`releases` is a mapping, expected a list"),
    (text([], current=3), "`current` is number 3, expected a string"),
    (text([entry()], model="other"), "it is the ledger of model 'other', not 'm'"),
    (text([entry(), entry()]), "version '1.0.0' is recorded twice (first at line 6)"),
    (text([entry("0.9.0")]), "the current release '1.0.0' is not recorded in `releases`"),
])
def test_a_damaged_ledger_file_is_an_error_at_its_place(source, expected):
    [message] = errors(source)
    assert expected in message, message


@pytest.mark.parametrize(("source", "expected"), [
    ("a: &x [1]\nb: *x\n", "l.yaml:2:4: error: the ledger is damaged: an alias (`*x`): a ledger has none"),
    ("releases: [1, 2\n", "l.yaml:2:1: error: the ledger is damaged: invalid YAML"),
    ("", "l.yaml:1:1: error: the ledger is damaged: empty file: expected a ReleaseLedger"),
    ("a: " + "9" * 5000 + "\n", "l.yaml:1:4: error: the ledger is damaged: a number of 5000 characters"),
    (b"a: \xff\n", "l.yaml:1:1: error: the ledger is damaged: file is not valid UTF-8"),
])
def test_unreadable_yaml_is_an_error_of_the_ledger(source, expected):
    [message] = errors(source)
    assert message.startswith(expected), message


def test_a_ledger_at_its_byte_budget_loads_and_one_byte_more_is_refused_unread(tmp_path):
    (tmp_path / "_ledger").mkdir()
    path = tmp_path / ledger.relpath("m")
    base = text([entry()]).encode()
    path.write_bytes(base + b"#" * (loader.LEDGER.bytes - len(base) - 1) + b"\n")
    assert ledger.load(tmp_path, "m", unsealed_ok=True).current == "1.0.0"  # the entry here is unsealed
    path.write_bytes(base + b"#" * (loader.LEDGER.bytes - len(base)) + b"\n")
    with pytest.raises(MlspecError) as info:  # the safe-path layer's bounded read refuses it unread
        ledger.load(tmp_path, "m")
    assert str(info.value) == (f"{path}:1:1: error: file is larger than {loader.LEDGER.bytes} bytes, "
                               "the most mlspec reads from one file")
