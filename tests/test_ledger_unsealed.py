"""Entries an earlier mlspec wrote (no `digest`, no `environmentPins`), as data: which pins
each environment recorded (read back from the recorded spec, only for such entries), what
`migrate` adds when it seals them, and where `verified` reports an entry. The command-level
path is in test_ledger_seal.py and test_reconcile.py; these pin down each condition."""

from __future__ import annotations

import copy

import pytest
from test_reconcile import spec_a

from mlspec.files.errors import LedgerError
from mlspec.pipeline import core
from mlspec.records import ledger
from mlspec.records.ledger import Ledger

H100 = "prod: {serving: {replicas: 6}, training: {environment: {accelerator: nvidia-h100}}}"
PROD = spec_a().replace("prod: {serving: {replicas: 6}}", H100)


def legacy(text: str = PROD) -> Ledger:
    """A one-entry ledger as an earlier mlspec wrote it: the base's pins only, no seal."""
    lg = ledger.record(Ledger("fraud-detector"), core.build(text, "spec.yaml"))
    entry = lg.releases[0]
    del entry["digest"]
    entry.pop("environmentPins", None)
    return lg


def accelerator(pins: dict) -> str:
    return pins["environment"]["accelerator"]


def test_an_unsealed_entry_reads_each_environments_pins_from_its_recorded_spec():
    (entry,) = legacy().releases
    assert sorted(entry["environments"]) == ["prod", "staging"] and accelerator(entry["pins"]) == "nvidia-a100"
    assert accelerator(ledger.recorded_pins(entry, "prod")) == "nvidia-h100"
    assert ledger.recorded_pins(entry, "staging") == entry["pins"]
    assert ledger.recorded_pins(entry, None) == entry["pins"]  # the base's: no overlay
    assert ledger.recorded_pins(entry, "qa") == entry["pins"]  # not recorded yet: must keep the base's


@pytest.mark.parametrize("change", ["sealed", "empty-overrides", "environments-not-a-mapping"])
def test_only_an_unsealed_entry_without_environment_pins_is_read_from_its_spec(change):
    """A sealed entry without `environmentPins` recorded the base's pins in every
    environment; `environmentPins: {}` says the same; so does damage in `environments`."""
    (entry,) = legacy().releases
    if change == "sealed":
        entry["digest"] = ledger.entry_digest(entry)
    elif change == "empty-overrides":
        entry["environmentPins"] = {}
    else:
        entry["environments"] = ["prod", "staging"]
    assert ledger.recorded_pins(entry, "prod") == entry["pins"]


def test_an_overlay_override_recorded_for_an_environment_is_its_pins():
    (entry,) = legacy().releases
    own = copy.deepcopy(entry["pins"])
    own["seed"] = 7
    entry["environmentPins"] = {"staging": own}
    assert ledger.recorded_pins(entry, "staging") == own
    assert ledger.recorded_pins(entry, "prod") == entry["pins"]  # no override: the base's, not the spec's
    assert ledger.recorded_pins(entry, None) == entry["pins"]


def test_a_recorded_spec_todays_rules_refuse_gives_its_base_pins():
    (entry,) = legacy().releases
    broken = copy.deepcopy(entry["spec"])
    broken["spec"]["environments"]["prod"] = 5  # the overlay itself fails on it
    for spec in ({**entry["spec"], "kind": "Something"}, ["not", "a", "mapping"], broken):
        damaged = {**entry, "spec": spec}
        assert ledger.recorded_pins(damaged, "prod") == entry["pins"], spec


def test_a_recorded_value_todays_credential_scan_refuses_keeps_its_environment_pins():
    """The scan is today's rule for new specs; what was recorded is read for its pins only."""
    (entry,) = legacy().releases
    entry["spec"]["spec"]["training"]["hyperparameters"] = {"db_password": "hunter2"}
    assert accelerator(ledger.recorded_pins(entry, "prod")) == "nvidia-h100"


def test_migrate_seals_an_unsealed_entry_with_the_pins_each_environment_recorded():
    lg = legacy()
    migrated, sealed = ledger.migrate(lg)
    (entry,) = migrated.releases
    assert sealed == [entry] and entry["digest"] == ledger.entry_digest(entry)
    assert list(entry["environmentPins"]) == ["prod"]  # staging has the base's pins: not repeated
    assert accelerator(entry["environmentPins"]["prod"]) == "nvidia-h100"
    assert "digest" not in lg.releases[0] and "environmentPins" not in lg.releases[0]  # migrate copies
    ledger.verified(migrated, "ledger.yaml")  # sealed: every reader accepts it now
    again, none = ledger.migrate(migrated)
    assert none == [] and again.releases == migrated.releases  # a sealed entry is left as it is


def test_migrate_adds_no_environment_pins_when_every_environment_has_the_bases():
    migrated, sealed = ledger.migrate(legacy(spec_a()))
    (entry,) = migrated.releases
    assert sealed == [entry] and "environmentPins" not in entry


def test_migrate_keeps_the_environment_pins_an_unsealed_entry_already_has():
    lg = legacy()
    own = copy.deepcopy(lg.releases[0]["pins"])
    own["seed"] = 7
    kept = {"prod": copy.deepcopy(lg.releases[0]["pins"]), "staging": own}  # prod's: the base's, written out
    lg.releases[0]["environmentPins"] = copy.deepcopy(kept)
    (entry,) = ledger.migrate(lg)[0].releases
    assert entry["environmentPins"] == kept  # neither recomputed nor replaced by what the spec says of prod


def test_verified_reports_every_unsealed_entry_unless_unsealed_ok():
    first, other = legacy().releases[0], legacy(spec_a()).releases[0]
    entries = [first, {**other, "version": "2026.10.2"}, {**other, "version": "2026.10.3"}]
    lg = Ledger("fraud-detector", "2026.10.3", entries, marks=[(4, 3)])  # the later entries' marks are missing
    assert ledger.verified(lg, "ledger.yaml", unsealed_ok=True) is lg
    with pytest.raises(LedgerError) as info:
        ledger.verified(lg, "ledger.yaml")
    lines = [str(d) for d in info.value.diagnostics]  # sorted by position
    assert len(lines) == 3
    assert lines[0].startswith("ledger.yaml:1:1: error: the entry of release '2026.10.2' has no `digest`")
    assert lines[1].startswith("ledger.yaml:1:1: error: the entry of release '2026.10.3' has no `digest`")
    assert lines[2].startswith("ledger.yaml:4:3: error: the entry of release '2026.10.1' has no `digest`")
    assert "mlspec ledger migrate" in lines[0]


def test_unsealed_ok_still_refuses_an_entry_that_does_not_match_its_digest():
    (entry,) = ledger.migrate(legacy())[0].releases
    entry["metrics"] = {"auc": 0.99}
    lg = Ledger("fraud-detector", entry["version"], [entry], marks=[(2, 3)])
    with pytest.raises(LedgerError) as info:
        ledger.verified(lg, "ledger.yaml", unsealed_ok=True)
    (line,) = [str(d) for d in info.value.diagnostics]
    assert line.startswith("ledger.yaml:2:3: error: the entry of release '2026.10.1' does not match its digest")


def test_migrate_seals_an_unsealed_entry_after_a_sealed_one():
    (sealed_first,) = ledger.migrate(legacy(spec_a()))[0].releases
    later = {**legacy().releases[0], "version": "2026.10.2"}
    migrated, sealed = ledger.migrate(Ledger("fraud-detector", "2026.10.2", [sealed_first, later]))
    assert [e["version"] for e in sealed] == ["2026.10.2"]
    assert migrated.releases[0] == sealed_first  # the loop goes on past a sealed entry
    assert migrated.releases[1]["digest"] == ledger.entry_digest(migrated.releases[1])


def test_names_lists_only_the_ledgers_not_other_or_hidden_files(tmp_path):
    """`ledger migrate` without names works on every model `names` lists."""
    ledger_dir = (tmp_path / ledger.relpath("churn")).parent
    ledger_dir.mkdir(parents=True)
    for name in ("churn.yaml", "fraud-detector.yaml", ".churn.yaml", "README.md", "notes.yaml.orig"):
        (ledger_dir / name).write_text("")
    assert sorted(ledger.names(tmp_path)) == ["churn", "fraud-detector"]
