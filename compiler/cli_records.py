"""The commands over a model's records: `gate` (metrics against the thresholds), `diff`
(a spec or platform change, with the ledger's recorded evaluations), `digest`, `history`,
`rollback` and `release`. They register on the group in `cli`; like the rest of the CLI
they parse, call one function of the core and map its result to an exit code."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from mlspec import core, fields, ledger, model, outtree, releases
from mlspec.cli import (EXIT_INVALID, _confined, _directory, _fail_usage, _model_name, _platform, _platform_context,
                        _root, main)
from mlspec.errors import Diagnostic, GateFailed, MlspecError
from mlspec.resolve import Context
from mlspec.specfiles import find_specs, read_spec
from mlspec.text import log_safe


@main.command("gate")
@click.argument("spec")
@click.option("--metrics", "metrics_file", required=True, type=click.Path(dir_okay=False), help="Candidate metrics (flat JSON).")
@click.option("--baseline-metrics", "baseline_file", type=click.Path(dir_okay=False),
              help="Baseline metrics (flat JSON). Default: the baseline's metrics recorded in the ledger under -o.")
@click.option("--env", help="Use this environment's thresholds.")
@click.option("--record", is_flag=True, help="Store the metrics and the verdict in the ledger under -o.")
@click.option("-o", "--output", "out", type=click.Path(file_okay=False, path_type=Path),
              help="GitOps output directory holding the release ledger.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_root
@_platform
def gate_command(spec: str, metrics_file: str, baseline_file: str | None, env: str | None,
                 record: bool, out: Path | None, fmt: str, root: str | None, platform_choice: str | None) -> None:
    """Check candidate metrics against the spec's thresholds (the same gate the evaluation Job runs)."""
    from mlspec import gate

    if record and out is None:
        _fail_usage("--record needs -o DIR (the directory holding the release ledger)")
    out = _directory(out, root)  # as `build -o`: no link on the way to the ledger it writes
    spec, metrics_file = _confined((spec, metrics_file), root)
    baseline_file = _confined((baseline_file,), root)[0] if baseline_file else None
    recorded = releases.RecordedMetrics(out)  # reconciles the spec with its ledger, as `build -o` does
    compiled = core.compile_document(read_spec(spec), spec, env,
                                     _platform_context(platform_choice, [spec], Context(recorded_metrics=recorded)))
    if len({json.dumps(i.release.gate_config["thresholds"], sort_keys=True) for i in compiled.items}) > 1:
        _fail_usage("the environments of this spec have different thresholds; choose one with --env")
    config = compiled.items[0].release.gate_config
    try:
        metrics = gate.load_metrics(metrics_file)
        baseline = gate.load_metrics(baseline_file) if baseline_file else (config["baseline"] or {}).get("metrics")
    except gate.GateInputError as exc:
        raise MlspecError([Diagnostic(exc.path, exc.line, exc.col, exc.message)]) from None
    verdicts = gate.evaluate(config["thresholds"], metrics, baseline)
    passed = all(v.passed for v in verdicts)
    if record:
        assert out is not None
        name = compiled.key
        updated = releases.record_gate(recorded.ledger(name), compiled, verdicts, metrics, spec)
        outtree.write_file(out, ledger.relpath(name), ledger.dump(updated))
    click.echo(gate.as_json(verdicts) if fmt == "json" else gate.table(verdicts))
    if not passed:
        failed = [v for v in verdicts if not v.passed]
        click.echo(f"gate failed: {len(failed)} of {len(verdicts)} check(s)", err=True)
        raise GateFailed([])


@main.command("diff")
@click.argument("specs", nargs=-1)
@click.option("--base", default="HEAD", show_default=True, help="Git ref to compare SPEC against (one SPEC only).")
@click.option("--env", help="Compare only this environment's manifests.")
@click.option("--format", "fmt", type=click.Choice(["json", "markdown", "text"]), default="text", show_default=True)
@click.option("--fail-on-loosened", is_flag=True,
              help="Exit 1 when a threshold is loosened or removed, the evaluation dataset or image changed, or a "
              "recorded metric changed in the ledger.")
@click.option("--ledger", "ledger_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory holding the release ledger, compared with its state at --base "
              "(default: deploy/ at the repository root, when it holds this model's ledger).")
@click.option("--platform", "platform_choice", is_flag=False, flag_value="", default=None, metavar="[FILE|none]",
              help="Alone: list the models and objects the platform file's change since --base changes (SPECs: "
              "the specs to compile, default the repository's). With FILE|none: the platform both sides use.")
def diff_command(specs: tuple[str, ...], base: str, env: str | None, fmt: str,
                 fail_on_loosened: bool, ledger_dir: Path | None, platform_choice: str | None) -> None:
    """Compare a spec with its version at a Git ref (SPEC) or two specs (OLD NEW): ML summary, then manifests."""
    from mlspec import diff as diff_module
    from mlspec.specfiles import git_show

    if platform_choice == "":
        _diff_platform(specs, base, env, fmt)
        return
    if not specs:
        _fail_usage("missing argument SPEC (or `--platform` alone, to diff the platform file)")
    if len(specs) > 2:
        _fail_usage("diff takes SPEC (against --base) or OLD NEW")
    if len(specs) == 2:
        old_text: bytes | None = read_spec(specs[0])
        old_source, new_source = specs
    else:
        old_text, old_source, new_source = git_show(base, specs[0]), f"{base}:{specs[0]}", specs[0]
    context = _platform_context(platform_choice, [new_source])  # both sides: the working tree's platform file
    new = core.compile_document(read_spec(new_source), new_source, env, context)
    old = core.compile_document(old_text, old_source, env, context) if old_text is not None else None
    recorded = _ledger_changes(base, new_source, new.key, ledger_dir) if len(specs) == 1 else []
    result = diff_module.compare(old, new, recorded)
    click.echo(diff_module.RENDERERS[fmt](result), nl=False)
    if fail_on_loosened and result.loosened:
        click.echo(f"{len(result.warnings)} threshold(s) loosened or removed, {len(result.judged)} evaluation "
                   f"input(s) changed, {len(result.recorded)} recorded evaluation(s) changed in the ledger", err=True)
        raise MlspecError([])


def _ledger_changes(base: str, spec: str, name: str, ledger_dir: Path | None) -> list[Any]:
    """What changed in the recorded evaluations of the ledger of `name` (a model's key) since `base`."""
    from mlspec import diff as diff_module
    from mlspec.loader import load_data
    from mlspec.specfiles import git_show

    if ledger_dir is None:
        top = _git_toplevel(spec)
        if top is None:
            return []
        ledger_dir = top / "deploy"
    path = ledger_dir / ledger.relpath(name)
    # Git removes a directory with its last file (a namespace's only ledger): only a
    # missing ledger directory means nothing is recorded here.
    old_text = git_show(base, str(path)) if ledger_dir.is_dir() else None
    if old_text is None:
        return []  # no ledger at the base ref: nothing was recorded that could have changed
    old_data = load_data(old_text, f"{base}:{path}")  # the ledger budget; a damaged one is a positioned error
    return diff_module.recorded_changes(old_data, ledger.load(ledger_dir, name))


def _git_toplevel(path: str) -> Path | None:
    import subprocess

    try:
        proc = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(path)), "rev-parse", "--show-toplevel"],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(proc.stdout.strip()) if proc.returncode == 0 and proc.stdout.strip() else None
def _diff_platform(specs: tuple[str, ...], base: str, env: str | None, fmt: str) -> None:
    """`mlspec diff --platform`: compile every spec with the platform file at `base` and as it is now."""
    from mlspec import platform, platformdiff
    from mlspec.specfiles import git_show

    home = platform.repo_file(str(Path(specs[0] if specs else ".").absolute() / "x"))
    if home is None:
        raise MlspecError([Diagnostic(str(platform.HOME), 1, 1, "no platform file in this repository")])
    files = find_specs(specs or (str(home.parent.parent),))
    old_text = git_show(base, str(home))
    old = platform.parse(old_text, f"{base}:{platform.HOME}") if old_text is not None else None
    result = platformdiff.compare([(f, read_spec(f)) for f in files], old, platform.read(str(home)), base, env)
    click.echo(platformdiff.render_json(result) if fmt == "json" else platformdiff.render(result), nl=False)


@main.command("digest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.pass_context
def digest_command(ctx: click.Context, paths: tuple[str, ...]) -> None:
    """Print the artifact digest of each file or directory (what `spec.model.artifact.digest` pins).

    One PATH prints the digest alone; several print `DIGEST  PATH` lines."""
    from mlspec import digest

    failed = False
    for path in paths:
        try:
            value = digest.digest(path)
        except digest.DigestError as exc:
            click.echo(f"mlspec: error: {log_safe(str(exc))}", err=True)
            failed = True
            continue
        click.echo(value if len(paths) == 1 else f"{value}  {path}")
    if failed:
        ctx.exit(EXIT_INVALID)


@main.command("history")
@click.argument("name")
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="GitOps output directory holding the release ledger.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def history_command(name: str, out: Path, fmt: str) -> None:
    """List the recorded releases of model NAME (newest last; * marks the current one)."""
    out = _directory(out, None) or out
    lg = ledger.load(out, _model_name(name))
    if not lg.releases:
        raise MlspecError([Diagnostic(str(out / ledger.relpath(name)), 1, 1, f"no releases of {name} recorded under {out}")])
    rows = releases.history(lg)
    click.echo(json.dumps(rows, indent=2) if fmt == "json" else releases.history_table(rows))


@main.command("rollback")
@click.argument("name")
@click.option("--to", "to", required=True, help="The recorded version to return to.")
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="GitOps output directory holding the manifests and the release ledger.")
@click.option("--env", help="Roll back only this environment.")
@click.option("--accept-feature-mismatch", is_flag=True,
              help="Roll back even though the feature schema differs (recorded in the lineage).")
def rollback_command(name: str, to: str, out: Path, env: str | None, accept_feature_mismatch: bool) -> None:
    """Regenerate release VERSION of NAME from the ledger: its artifact, data and feature context."""
    _model_name(name)
    out = _directory(out, None) or out  # it writes manifests there: no link on the way
    ledgers = ledger.load_all(out)
    # A key with no ledger goes through `load`, which names the other layout's ledgers of that name.
    lg = ledgers[name] if name in ledgers else ledger.load(out, name)
    files = releases.rollback(lg, to, env, accept_feature_mismatch, ledgers, str(out / ledger.relpath(name)))
    outtree.write_tree(out, outtree.list_foreign_resources(out, files), owner=name)
    click.echo(f"rolled {name} back to {to} under {out}; revert the spec in Git too, or the next build "
               f"brings back {lg.current}", err=True)


@main.command("release")
@click.argument("spec")
@click.option("--from-mlflow", "mlflow_ref", metavar="REF",
              help="Pins from an MLflow run: models:/NAME/VERSION, models:/NAME@ALIAS or runs:/RUN_ID/PATH "
              "(tracking server from MLFLOW_TRACKING_URI; needs the extra 'mlspec-gitops[mlflow]').")
@click.option("--from-record", "record_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Pins from a training record (JSON; `mlspec schema --record`).")
@click.option("--version", help="spec.model.version of the new release.")
@click.option("--artifact", help="spec.model.artifact.uri: where the pods fetch the new artifact.")
@click.option("--digest", "claimed_digest", help="The digest you expect; checked against the bytes, never copied.")
@click.option("--digest-of", "digest_of", type=click.Path(), metavar="PATH",
              help="A local copy of the artifact (file or directory): its digest is the pin.")
@click.option("--data-version", help="spec.training.data.version.")
@click.option("--data-digest", help="spec.training.data.digest.")
@click.option("--commit", help="spec.training.code.commit (the full commit id).")
@click.option("--seed", type=int, help="spec.training.seed.")
@click.option("--run-id", help="spec.training.runId.")
@click.option("--training-image", help="spec.training.environment.image (pinned by digest).")
@click.option("--lockfile-digest", help="spec.training.environment.lockfileDigest.")
@click.option("--feature-pipeline-version", help="spec.features.pipelineVersion.")
@click.option("--feature-schema-digest", help="spec.features.schemaDigest.")
@click.option("--format", type=click.Choice(fields.FORMATS), help="spec.model.format.")
@click.option("--seed-param", default="seed", show_default=True, help="The MLflow run param holding the seed.")
@click.option("--ledger", "ledger_opt", metavar="DIR|none",
              help="Reconcile with the ledger under DIR. Default: the repository's deploy/ when it holds this "
              "model's ledger; `none`: no ledger.")
@click.option("--dry-run", is_flag=True, help="Print the spec's unified diff; write nothing.")
def release_command(spec: str, mlflow_ref: str | None, record_file: str | None, claimed_digest: str | None,
                    digest_of: str | None, seed_param: str, ledger_opt: str | None, dry_run: bool,
                    **flags: Any) -> None:
    """Cut the next release in SPEC: the current pins move to rollback.previous, the new ones replace them."""
    import contextlib
    import tempfile

    from mlspec import release

    if mlflow_ref and record_file:
        _fail_usage("give one record: --from-mlflow or --from-record")
    text = read_spec(spec)
    with contextlib.ExitStack() as stack:  # MLflow's download lives until the digest is computed
        if mlflow_ref is not None:
            dest = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mlspec-release-")))
            pins = release.from_mlflow(mlflow_ref, seed_param, dest)
        else:
            pins = release.from_record(record_file) if record_file is not None else release.Pins({})
        release.override(pins, flags, digest_of, claimed_digest)
        result = release.cut(text, spec, pins, ledger_opt)
    if dry_run:
        click.echo(result.diff(), nl=False)
        return
    try:
        release.write(spec, result.new_text)
    except OSError as exc:
        raise MlspecError([Diagnostic(spec, 1, 1, f"cannot write: {exc.strerror}")]) from None
    reconciled = f"; checked against the ledger under {result.ledger_dir}" if result.ledger_dir else ""
    click.echo(f"released {result.new_version} in {spec} (previous: {result.old_version}){reconciled}; "
               f"review with `git diff {spec}`, then build", err=True)
