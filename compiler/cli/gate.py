"""`mlspec gate`: candidate metrics against the spec's thresholds, optionally recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from mlspec.cli.common import (
    confined,
    fail_usage,
    output_dir,
    platform_context,
    platform_option,
    refuse_second_ledger,
    repository_of,
    root_option,
)
from mlspec.files import outtree
from mlspec.files.errors import Diagnostic, GateFailed, MlspecError
from mlspec.pipeline import core
from mlspec.pipeline.resolve import Context
from mlspec.records import ledger, releases
from mlspec.records.specfiles import read_spec


@click.command("gate")
@click.argument("spec")
@click.option("--metrics", "metrics_file", required=True, type=click.Path(dir_okay=False), help="Candidate metrics (flat JSON).")
@click.option("--baseline-metrics", "baseline_file", type=click.Path(dir_okay=False),
              help="Baseline metrics (flat JSON). Default: the baseline's metrics recorded in the ledger (-o).")
@click.option("--env", help="Use this environment's thresholds.")
@click.option("--record", is_flag=True, help="Store the metrics and the verdict in the model's ledger (under -o, else the "
              "repository's output directory).")
@click.option("-o", "--output", "out", type=click.Path(file_okay=False, path_type=Path),
              help="GitOps output directory holding the release ledger (default: the platform file's `spec.output`, "
              "else deploy/ at the repository root).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@root_option
@platform_option
def gate_command(spec: str, metrics_file: str, baseline_file: str | None, env: str | None,
                 record: bool, out: Path | None, fmt: str, root: str | None, platform_choice: str | None) -> None:
    """Check candidate metrics against the spec's thresholds (the same gate the evaluation Job runs).

    \b
    Examples:
      mlspec gate churn.mlspec.yaml --metrics metrics.json
      mlspec gate churn.mlspec.yaml --metrics metrics.json --baseline-metrics baseline.json
      mlspec gate churn.mlspec.yaml --metrics metrics.json --record -o deploy/
      mlspec gate churn.mlspec.yaml --metrics metrics.json --format json
    """
    from mlspec.pod import gate

    spec, metrics_file = confined((spec, metrics_file), root)
    if out is not None or record or repository_of(Path(spec).absolute().parent) is not None:
        out = output_dir(out, root, [spec], platform_choice)  # as `build`: no link on the way to the ledger
    baseline_file = confined((baseline_file,), root)[0] if baseline_file else None
    recorded = releases.RecordedMetrics(out)  # reconciles the spec with its ledger, as `build -o` does
    context = platform_context(platform_choice, [spec], Context(recorded_metrics=recorded))
    compiled = core.compile_document(read_spec(spec), spec, env, context)
    if len({json.dumps(i.release.gate_config["thresholds"], sort_keys=True) for i in compiled.items}) > 1:
        fail_usage("the environments of this spec have different thresholds; choose one with --env")
    config = compiled.items[0].release.gate_config
    try:
        metrics = gate.load_metrics(metrics_file)
        baseline = gate.load_metrics(baseline_file) if baseline_file else (config["baseline"] or {}).get("metrics")
    except gate.GateInputError as exc:
        raise MlspecError([Diagnostic(exc.path, exc.line, exc.col, exc.message)]) from None
    verdicts = gate.evaluate(config["thresholds"], metrics, baseline, (config["baseline"] or {}).get("version"))
    passed = all(v.passed for v in verdicts)
    if record:
        assert out is not None
        name = compiled.key
        refuse_second_ledger(out, {name: spec})
        updated = releases.record_gate(recorded.ledger(name), compiled, verdicts, metrics, spec)
        from mlspec.records import attest  # the verdict's Test Result statement joins the release's attestation

        attestation = attest.for_build(out, updated, compiled.base.spec.model.version, None, context.platform,
                                       str(out / ledger.relpath(name)))
        outtree.write_file(out, ledger.relpath(name), ledger.dump(updated))
        for rel, text in attestation.items():
            outtree.write_file(out, rel, text)
    click.echo(gate.as_json(verdicts) if fmt == "json" else gate.table(verdicts))
    if not passed:
        failed = [v for v in verdicts if not v.passed]
        click.echo(f"gate failed: {len(failed)} of {len(verdicts)} check(s)", err=True)
        raise GateFailed([])
