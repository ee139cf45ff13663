"""What one spec may emit is bounded, not only what it may hold: annotations are copied
into every object of every environment, so a 750 KB spec of annotations in 20
environments emitted 227 MB (280 MiB of memory in the plugin's sidecar). The build stops
at `loader.MAX_OUTPUT_CHARS`, counted as each environment is rendered."""

from __future__ import annotations

from test_paths import MINIMAL, run, snapshot

from mlspec.files import loader
from mlspec.pipeline import core

ANNOTATIONS = "".join(f"    acme.example/a{i}: {chr(97 + i) * 250_000}\n" for i in range(3))


def amplifying(environments: int) -> str:
    return (MINIMAL.replace("metadata:\n", "metadata:\n  annotations:\n" + ANNOTATIONS, 1)
            + "  environments:\n" + "".join(f"    e{i}: {{}}\n" for i in range(environments)))


def test_annotations_copied_into_every_environment_are_refused_at_the_annotations(tmp_path):
    spec = tmp_path / "amp.mlspec.yaml"
    spec.write_text(amplifying(20))
    assert len(spec.read_bytes()) < loader.SPEC.bytes  # within every input budget
    before = snapshot(tmp_path)
    for args in (["build", spec, "-o", tmp_path / "deploy"], ["build", spec, "--stdout"],
                 ["validate", spec]):
        result = run(*args)
        assert result.exit_code == 1, result.output
        line = MINIMAL.splitlines().index("metadata:") + 2
        assert f"{spec}:{line}:3: error: the manifests of this spec would hold over {loader.MAX_OUTPUT_CHARS} " \
               "characters" in result.stderr, result.stderr
        assert "Traceback" not in result.output and result.stdout == "" and snapshot(tmp_path) == before


def test_one_environment_of_the_same_spec_fits_and_is_built(tmp_path):
    spec = tmp_path / "amp.mlspec.yaml"
    spec.write_text(amplifying(1))
    result = run("build", spec, "-o", tmp_path / "deploy")
    assert result.exit_code == 0, result.output


def test_text_size_counts_shared_text_as_often_as_it_is_emitted():
    value = "x" * 1000
    objects = {"a.yaml": {"metadata": {"annotations": {"k": value}}}, "b.yaml": {"metadata": {"annotations": {"k": value}}}}
    assert core._text_size(objects) == 2 * (1000 + len("k") + len("annotations") + len("metadata")) + len("a.yaml") * 2
    assert core._text_size([1, True, None]) == 24


def test_stdout_over_many_specs_holds_one_budget_for_the_whole_command(tmp_path, monkeypatch):
    """The budget above is per spec, but `build --stdout` (the plugin's generate command)
    prints nothing until every spec compiled: 32 specs of 750 KB held 1.1 GB. What the
    command holds is bounded by `loader.MAX_HELD_CHARS` (here set just above one spec's
    manifests, so that the second spec crosses it); `validate` holds no manifests at all."""
    models = tmp_path / "models"
    models.mkdir()
    for n in range(3):
        (models / f"m{n}.mlspec.yaml").write_text(MINIMAL.replace("name: churn", f"name: churn{n}"))
    one = run("build", models / "m0.mlspec.yaml", "--stdout")
    assert one.exit_code == 0, one.output
    monkeypatch.setattr(loader, "MAX_HELD_CHARS", len(one.stdout) * 3 // 2)
    before = snapshot(tmp_path)
    result = run("build", models, "--stdout")
    assert result.exit_code == 1, result.output
    assert f"{models / 'm1.mlspec.yaml'}:1:1: error: the manifests of the specs up to this one hold over " \
           f"{loader.MAX_HELD_CHARS} characters" in result.stderr, result.stderr
    assert "Traceback" not in result.output and result.stdout == "" and snapshot(tmp_path) == before
    assert run("validate", models).exit_code == 0
    monkeypatch.setattr(loader, "MAX_HELD_CHARS", len(one.stdout) * 4)  # printed one document at a time, as before
    whole = run("build", models, "--stdout")
    assert whole.exit_code == 0 and whole.stdout.startswith(one.stdout + "---\n"), whole.output
