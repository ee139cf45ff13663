"""The ledger as data, each case beside its neighbour (fast: files only, no build): the two
layouts (which files `names` lists: a namespace's directory, never one that is no DNS label;
the ledger the other layout holds refused at that file; `dump` writing `namespace` only for
a namespaced key), and the seal check of records held in memory (no position read: 1:1)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlspec.files.errors import LedgerError
from mlspec.records import ledger
from mlspec.records.ledger import Ledger


def _files(out: Path, *keys: str) -> None:
    for key in keys:
        path = out / ledger.relpath(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(ledger.dump(Ledger(key)))


def test_names_lists_flat_and_namespaced_ledgers_only(tmp_path):
    _files(tmp_path, "churn", "risk/fraud-detector", "risk/ml")  # names of 5, 14 and 2 characters
    (tmp_path / "_ledger" / "Not_A_Label").mkdir()
    (tmp_path / "_ledger" / "Not_A_Label" / "x.yaml").write_text("")  # no namespace: never listed
    (tmp_path / "_ledger" / "notes").write_text("")  # a file named like a namespace: no ledger, not opened
    (tmp_path / "_ledger" / ".hidden.yaml").write_text("")
    (tmp_path / "_ledger" / "risk" / "README.md").write_text("")
    assert ledger.names(tmp_path) == ["churn", "risk/fraud-detector", "risk/ml"]


def test_a_namespaced_key_whose_flat_ledger_holds_the_model_is_refused_there(tmp_path):
    _files(tmp_path, "churn", "other/fraud")
    with pytest.raises(LedgerError) as info:
        ledger.load(tmp_path, "risk/churn")
    (d,) = info.value.diagnostics
    assert (d.source, d.line, d.col) == (str(tmp_path / "_ledger" / "churn.yaml"), 1, 1)
    assert d.message.startswith("no ledger of risk/churn at _ledger/risk/churn.yaml, but _ledger/churn.yaml holds "
                                "releases of a model churn recorded in the flat layout"), d.message
    # the neighbours: another name, and the namespaced ledger of the same name in another namespace
    assert ledger.load(tmp_path, "risk/fraud") == Ledger("risk/fraud")
    assert ledger.load(tmp_path, "risk/other") == Ledger("risk/other")


def test_a_flat_key_whose_namespaced_ledgers_hold_the_model_is_refused_there(tmp_path):
    _files(tmp_path, "risk/churn", "sales/churn", "risk/fraud")
    with pytest.raises(LedgerError) as info:
        ledger.load(tmp_path, "churn")
    (d,) = info.value.diagnostics
    assert (d.source, d.line, d.col) == (str(tmp_path / "_ledger" / "risk" / "churn.yaml"), 1, 1)
    assert ("models named churn are recorded as risk/churn, sales/churn (if the platform file's `layout` changed "
            "back to `flat`") in d.message, d.message
    assert ledger.load(tmp_path, "other") == Ledger("other")  # no model of that name anywhere


def test_without_a_ledger_directory_nothing_is_refused(tmp_path):
    assert ledger.load(tmp_path, "risk/churn") == Ledger("risk/churn")
    assert ledger.load(tmp_path, "churn") == Ledger("churn")


@pytest.mark.parametrize(("key", "model", "namespace"), [("churn", "churn", None), ("risk/churn", "churn", "risk")])
def test_dump_names_the_namespace_only_for_a_namespaced_key(key, model, namespace):
    data = yaml.safe_load(ledger.dump(Ledger(key)))
    assert data["model"] == model and data.get("namespace") == namespace
    assert ("namespace" in data) is (namespace is not None)


def _rollback(sequence: int) -> dict:
    return {"to": "1.0.0", "from": "1.0.1", "reason": "r"} | ({"sequence": sequence} if sequence else {})


def test_a_tampered_rollback_held_in_memory_is_refused_at_the_file_start():
    sealed = ledger.with_rollback(Ledger("churn"), _rollback(1))
    assert ledger.verified(sealed, "l.yaml") is sealed and sealed.rollback_marks == []
    tampered = Ledger("churn", sealed.current, rollbacks=[{**sealed.rollbacks[0], "reason": "edited"}])
    with pytest.raises(LedgerError) as info:
        ledger.verified(tampered, "l.yaml")
    (d,) = info.value.diagnostics
    assert (d.source, d.line, d.col) == ("l.yaml", 1, 1) and "the rollback record #1 does not match" in d.message
    # the second of two, the first read from a file (its mark kept): the second has none
    two = Ledger("churn", "1.0.0", rollbacks=[sealed.rollbacks[0], {**sealed.rollbacks[0], "sequence": 2}],
                 rollback_marks=[(7, 3)])
    with pytest.raises(LedgerError) as info:
        ledger.verified(two, "l.yaml")
    (d,) = info.value.diagnostics
    assert (d.line, d.col) == (1, 1) and "#2 does not match" in d.message


def _one_release(tmp_path: Path) -> tuple[Path, str]:
    from conftest import ROOT
    from mlspec.pipeline.core import Context, build

    built = build((ROOT / "examples" / "minimal.yaml").read_bytes(), "models/churn.mlspec.yaml", None, Context())
    path = tmp_path / ledger.relpath("churn")
    path.parent.mkdir(parents=True)
    return path, ledger.dump(ledger.record(Ledger("churn"), built))


def _line_col(text: str, needle: str) -> tuple[int, int]:
    index = text.index(needle)
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


def test_a_seal_that_does_not_match_is_refused_at_the_seal_not_at_current(tmp_path):
    path, text = _one_release(tmp_path)
    seal = yaml.safe_load(text)["seal"]
    edited = text.replace(seal, "sha256:" + "0" * 64)
    path.write_text(edited)
    with pytest.raises(LedgerError) as info:
        ledger.load(tmp_path, "churn")
    (d,) = info.value.diagnostics
    assert (d.line, d.col) == _line_col(edited, "sha256:" + "0" * 64) and "`seal` does not match" in d.message


def test_a_ledger_without_a_seal_is_refused_at_current(tmp_path):
    path, text = _one_release(tmp_path)
    seal = yaml.safe_load(text)["seal"]
    unsealed = text.replace(f"seal: {seal}\n", "")
    assert unsealed != text
    path.write_text(unsealed)
    with pytest.raises(LedgerError) as info:
        ledger.load(tmp_path, "churn")
    (d,) = info.value.diagnostics
    line, col = _line_col(unsealed, "current: ")
    assert (d.line, d.col) == (line, col + len("current: ")) and "has no `seal`" in d.message


def test_a_seal_held_in_memory_is_checked_at_the_file_start(tmp_path):
    _, text = _one_release(tmp_path)
    read = ledger.parse(text, "l.yaml", "churn")
    held = Ledger("churn", read.current, read.releases, seal=read.seal)  # no marks: built in memory
    assert ledger.verified(held, "l.yaml") is held
    for seal, message in (("sha256:" + "0" * 64, "`seal` does not match"), (None, "has no `seal`")):
        with pytest.raises(LedgerError) as info:
            ledger.verified(Ledger("churn", read.current, read.releases, seal=seal), "l.yaml")
        (d,) = info.value.diagnostics
        assert (d.source, d.line, d.col) == ("l.yaml", 1, 1) and message in d.message


def test_a_link_in_the_ledger_directory_is_refused_unless_it_names_a_ledger_file(tmp_path):
    from mlspec.files.errors import PathError

    _files(tmp_path, "risk/churn")
    (tmp_path / "_ledger" / "fraud.yaml").symlink_to(tmp_path / "_ledger" / "risk" / "churn.yaml")
    assert ledger.names(tmp_path) == ["fraud", "risk/churn"]  # listed; `load` refuses reading through it
    (tmp_path / "_ledger" / "sales").symlink_to(tmp_path / "_ledger" / "risk")
    with pytest.raises(PathError) as info:
        ledger.names(tmp_path)
    (d,) = info.value.diagnostics
    assert d.source.endswith("sales"), d


def test_rollbacks_are_numbered_after_every_record_and_bound_by_the_seal(tmp_path):
    _, text = _one_release(tmp_path)
    one = ledger.parse(text, "l.yaml", "churn")
    back = ledger.with_rollback(one, _rollback(0) | {"to": one.current})
    again = ledger.with_rollback(back, _rollback(0) | {"to": one.current})
    assert [r["sequence"] for r in again.rollbacks] == [2, 3]  # after the one release and the first rollback
    assert back.current == one.current and ledger.ledger_seal(back) != ledger.ledger_seal(one)
    assert ledger.ledger_seal(again) not in (ledger.ledger_seal(back), ledger.ledger_seal(one))


def test_an_output_directory_that_is_a_file_is_an_error_listing_the_ledgers(tmp_path):
    out = tmp_path / "deploy"
    out.write_text("a file where the output directory should be")
    with pytest.raises(LedgerError) as info:
        ledger.names(out)
    (d,) = info.value.diagnostics
    assert (d.source, d.line, d.col) == (str(out / "_ledger"), 1, 1)
    assert d.message == "cannot read the ledgers: Not a directory"


def test_a_tampered_rollback_read_from_the_file_is_refused_at_its_entry(tmp_path):
    path, text = _one_release(tmp_path)
    one = ledger.parse(text, "l.yaml", "churn")
    back = ledger.with_rollback(one, _rollback(0) | {"to": one.current, "from": one.current})  # both recorded
    edited = ledger.dump(back).replace("reason: r\n", "reason: edited\n")
    assert "reason: edited" in edited
    path.write_text(edited)
    with pytest.raises(LedgerError) as info:
        ledger.load(tmp_path, "churn")
    (d,) = info.value.diagnostics
    line, col = _line_col(edited, "- sequence: 2")
    assert (d.line, d.col) == (line, col + 2) and "the rollback record #2 does not match" in d.message


def test_the_second_of_two_rollbacks_held_in_memory_is_refused_at_the_file_start():
    sealed = ledger.with_rollback(Ledger("churn"), _rollback(1))
    first, second = sealed.rollbacks[0], {**sealed.rollbacks[0], "sequence": 2}
    with pytest.raises(LedgerError) as info:
        ledger.verified(Ledger("churn", "1.0.0", rollbacks=[first, second]), "l.yaml")
    (d,) = info.value.diagnostics
    assert (d.line, d.col) == (1, 1) and "#2 does not match" in d.message


def test_migrate_s_leniency_does_not_pass_a_wrong_seal_over_sealed_entries(tmp_path):
    """`unsealed_ok` (what `ledger migrate` reads with) lets a wrong seal through only when an
    entry lost its own (both changed together); every entry sealed, a wrong seal is refused."""
    _, text = _one_release(tmp_path)
    read = ledger.parse(text, "l.yaml", "churn")
    wrong = Ledger("churn", read.current, read.releases, seal="sha256:" + "0" * 64)
    with pytest.raises(LedgerError) as info:
        ledger.verified(wrong, "l.yaml", unsealed_ok=True)
    assert "`seal` does not match" in str(info.value)
    unsealed = Ledger("churn", read.current, [{k: v for k, v in read.releases[0].items() if k != "digest"}],
                      seal="sha256:" + "0" * 64)
    assert ledger.verified(unsealed, "l.yaml", unsealed_ok=True) is unsealed
