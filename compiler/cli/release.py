"""`mlspec release`: cut the next release in the spec file itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mlspec.cli.common import fail_usage
from mlspec.files.errors import Diagnostic, MlspecError
from mlspec.records.specfiles import read_spec
from mlspec.spec import fields


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
@click.option("--format", type=click.Choice(fields.FORMATS), help="spec.model.format.")
@click.option("--seed-param", default="seed", show_default=True, help="The MLflow run param holding the seed.")
@click.option("--ledger", "ledger_opt", metavar="DIR|none",
              help="Reconcile with the ledger under DIR. Default: the repository's deploy/ when it holds this "
              "model's ledger; `none`: no ledger.")
@click.option("--dry-run", is_flag=True, help="Print the spec's unified diff; write nothing.")
def release_command(spec: str, mlflow_ref: str | None, record_file: str | None, claimed_digest: str | None,
                    digest_of: str | None, seed_param: str, ledger_opt: str | None, dry_run: bool,
                    signature_of: str | None, signature_key: str | None, **flags: Any) -> None:
    """Cut the next release in SPEC: the current pins move to rollback.previous, the new ones replace them."""
    import contextlib
    import tempfile

    from mlspec.records import release

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
        pins.signature_file, pins.signature_key = signature_of, signature_key
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
