"""`mlspec release`: cut the next release in the spec file itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from mlspec.cli.common import fail_usage, output_dir, repository_of
from mlspec.files.errors import Diagnostic, MlspecError
from mlspec.records.specfiles import read_spec
from mlspec.spec import fields


OUTPUTS = ("text", "json")  # what `--format` prints; any other value is the model's format


@click.command("release")
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
@click.option("--signature-bundle", metavar="URI",
              help="spec.model.artifact.signature.bundle: where the pods fetch the new release's OMS bundle.")
@click.option("--signature-of", "signature_of", type=click.Path(dir_okay=False), metavar="FILE",
              help="A local copy of that bundle: checked over the --digest-of bytes before anything is written.")
@click.option("--signature-key", "signature_key", type=click.Path(dir_okay=False), metavar="FILE",
              help="The public key, certificate chain or trusted root --signature-of is checked with "
              "(as the spec's `signature.method` says).")
@click.option("--data-version", help="spec.training.data.version.")
@click.option("--data-digest", help="spec.training.data.digest.")
@click.option("--commit", help="spec.training.code.commit (the full commit id).")
@click.option("--seed", type=int, help="spec.training.seed.")
@click.option("--run-id", help="spec.training.runId.")
@click.option("--training-image", help="spec.training.environment.image (pinned by digest).")
@click.option("--lockfile-digest", help="spec.training.environment.lockfileDigest.")
@click.option("--feature-pipeline-version", help="spec.features.pipelineVersion.")
@click.option("--feature-schema-digest", help="spec.features.schemaDigest.")
@click.option("--format", "formats", type=click.Choice(OUTPUTS + fields.FORMATS), multiple=True,
              help="spec.model.format (sklearn, mlflow, ...); or `json`: print what was released as JSON "
              "(schemas/output/release.schema.json). Give both as `--format mlflow --format json`.")
@click.option("--seed-param", default="seed", show_default=True, help="The MLflow run param holding the seed.")
@click.option("--ledger", "ledger_opt", metavar="DIR|none",
              help="Reconcile with the ledger under DIR. Default: the repository's output directory (the platform "
              "file's `spec.output`, else deploy/) when it holds this model's ledger; `none`: no ledger.")
@click.option("--dry-run", is_flag=True, help="Print the spec's unified diff; write nothing.")
def release_command(spec: str, mlflow_ref: str | None, record_file: str | None, claimed_digest: str | None,
                    digest_of: str | None, seed_param: str, ledger_opt: str | None, dry_run: bool,
                    formats: tuple[str, ...], signature_of: str | None, signature_key: str | None,
                    **flags: Any) -> None:
    """Cut the next release in SPEC: the current pins move to rollback.previous, the new ones replace them.

    \b
    Examples:
      mlspec release churn.mlspec.yaml --from-mlflow models:/churn/7
      mlspec release churn.mlspec.yaml --from-record record.json --dry-run
      mlspec release churn.mlspec.yaml --version 1.3.0 --artifact s3://models/churn/1.3.0 \\
          --digest-of ./model --commit $(git rev-parse HEAD) --data-version 2026-12-01 --seed 7
    """
    import contextlib
    import tempfile

    from mlspec.records import release

    outputs, models = [f for f in formats if f in OUTPUTS], [f for f in formats if f not in OUTPUTS]
    if len(set(outputs)) > 1 or len(set(models)) > 1:
        fail_usage("--format: at most one output format (text, json) and one model format")
    fmt, flags["format"] = (outputs or ["text"])[0], (models[0] if models else None)
    if mlflow_ref and record_file:
        fail_usage("give one record: --from-mlflow or --from-record")
    text = read_spec(spec)
    with contextlib.ExitStack() as stack:  # MLflow's download lives until the digest is computed
        if mlflow_ref is not None:
            dest = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mlspec-release-")))
            pins = release.from_mlflow(mlflow_ref, seed_param, dest)
        else:
            pins = release.from_record(record_file) if record_file is not None else release.Pins({})
        release.override(pins, flags, digest_of, claimed_digest)
        output = (output_dir(None, None, [spec]).absolute() if ledger_opt is None
                  and repository_of(Path(spec).absolute().parent) else None)  # the ledger every command finds
        pins.signature_file, pins.signature_key = signature_of, signature_key
        result = release.cut(text, spec, pins, ledger_opt, output)
    if fmt == "json":
        summary = {"spec": spec, "version": result.new_version, "previous": result.old_version,
                   "ledger": str(result.ledger_dir) if result.ledger_dir else None, "written": not dry_run,
                   "diff": result.diff()}
    if dry_run:
        click.echo(json.dumps(summary, indent=2) if fmt == "json" else result.diff(), nl=fmt == "json")
        return
    try:
        release.write(spec, result.new_text)
    except OSError as exc:
        raise MlspecError([Diagnostic(spec, 1, 1, f"cannot write: {exc.strerror}", rule="cannot-write")]) from None
    if fmt == "json":
        click.echo(json.dumps(summary, indent=2))
        return
    reconciled = f"; checked against the ledger under {result.ledger_dir}" if result.ledger_dir else ""
    click.echo(f"released {result.new_version} in {spec} (previous: {result.old_version}){reconciled}; "
               f"review with `git diff {spec}`, then build", err=True)
