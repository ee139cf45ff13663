"""`mlspec rollback`: return a model to a recorded release; spec, output and ledger agree after it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import click

from mlspec.cli.common import fail_usage, model_name, output_dir, platform_option, repository_of
from mlspec.files.errors import Diagnostic, MlspecError


@click.command("rollback")
@click.argument("name")
@click.option("--to", "to", required=True, help="The recorded version to return to.")
@click.option("-o", "--output", "out", type=click.Path(file_okay=False, path_type=Path),
              help="GitOps output directory holding the manifests and the release ledger (default: the platform "
              "file's `spec.output`, else deploy/ at the repository root).")
@click.option("--spec", "spec", type=click.Path(dir_okay=False), metavar="FILE",
              help="The model's spec file, edited back to VERSION's pins. Default: the spec of NAME that `build` "
              "finds in the repository.")
@click.option("--no-spec", is_flag=True,
              help="Emergency: from the ledger alone (no spec file at hand); prints the spec edit to commit.")
@click.option("--env", help="With --no-spec: roll back only this environment.")
@click.option("--accept-feature-mismatch", is_flag=True,
              help="Roll back even though the feature schema differs (recorded in the ledger and the lineage).")
@click.option("--dry-run", is_flag=True, help="Print the spec's unified diff; write nothing.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: what was rolled back, on stdout (schemas/output/rollback.schema.json).")
@platform_option
def rollback_command(name: str, to: str, out: Path | None, spec: str | None, no_spec: bool, env: str | None,
                     accept_feature_mismatch: bool, dry_run: bool, fmt: str, platform_choice: str | None) -> None:
    """Return NAME to release VERSION: the spec's pins, the output and the ledger, with its data and feature context.

    \b
    Examples:
      mlspec history churn                             # find the version
      mlspec rollback churn --to 1.2.0                 # spec, output and ledger, in one step
      mlspec rollback churn --to 1.2.0 --dry-run       # the spec's diff only
      mlspec rollback churn --to 1.2.0 --no-spec --env prod   # emergency: no spec file at hand
      mlspec rollback churn --to 1.2.0 --format json
    """
    from mlspec.files import layout
    from mlspec.pipeline.resolve import Context
    from mlspec.platform import platformfile
    from mlspec.records import ledger, release, rollback, specfiles
    from mlspec.records.releases import RecordedMetrics

    model_name(name)
    if spec and no_spec:
        fail_usage("--spec names the spec to edit, --no-spec rolls back without one: give one of them")
    out = output_dir(out, None, [spec] if spec else [], platform_choice)  # no link on the way: it writes there
    ledgers = ledger.load_all(out)
    # A key with no ledger goes through `load`, which names the other layout's ledgers of that name.
    lg = ledgers[name] if name in ledgers else ledger.load(out, name)
    where = str(out / ledger.relpath(name))
    repo = repository_of(out)
    found = [spec] if spec else [] if no_spec or repo is None else rollback.find_spec(repo, name)
    if len(found) > 1:
        raise MlspecError([Diagnostic(path, 1, 1, f"one of {len(found)} specs of model {name}: name the one to edit "
                                      "with --spec") for path in found])
    spec_path = found[0] if found else None
    if env is not None and spec_path is not None:
        fail_usage("--env rolls back one environment, but the spec's pins are the model's in every environment: "
                   "roll back without --env, or in an emergency with --no-spec --env (then run the rollback again "
                   "without --env where the spec is, to edit it)")
    plat = platformfile.find(platform_choice, [spec_path] if spec_path else [str(out / "-")])
    if plat is not None and plat.attestation_keys:  # keys trusted: the target must be a signed release
        from mlspec.records import attest, attest_keys

        attest.require_signed(out, lg, to, attest_keys.trusted(plat.attestation_keys), where, "rollback target")
    text = specfiles.read_spec(spec_path).decode("utf-8") if spec_path else None
    plan = rollback.plan(lg, to, where, platformfile.with_platform(Context(), plat), accept_feature_mismatch,
                         text, spec_path)
    metrics = RecordedMetrics(out)
    metrics.seed(plan.ledger)  # the build reads the ledger with the rollback recorded
    outcome = specfiles.build_one(spec_path or plan.source, plan.new_text.encode("utf-8"), out, metrics, env, plat,
                                  layout.of_key(name))  # the layout the ledger was recorded in
    try:
        if dry_run:
            specfiles.abandon({plan.source: outcome})
            click.echo(plan.diff(), nl=False)
            return
        if spec_path is not None:
            release.write(spec_path, plan.new_text)
        specfiles.commit(out, {plan.source: outcome})
    except OSError as exc:
        specfiles.abandon({plan.source: outcome})
        raise MlspecError([Diagnostic(str(exc.filename or out), 1, 1, f"cannot write: {exc.strerror}")]) from None
    sequence = plan.ledger.rollbacks[-1]["sequence"] if plan.ledger.rollbacks else 0
    if fmt == "json":
        click.echo(json.dumps({"model": name, "from": plan.leaving, "to": to, "output": str(out), "spec": spec_path,
                               "rollback": sequence, "files": _written(out, outcome.env_dirs.values()),
                               "specDiff": plan.diff() if spec_path is None else ""}, indent=2))
        return
    if spec_path is not None:
        click.echo(f"rolled {name} back to {to} (leaving {plan.leaving}): edited {spec_path}, wrote {out} and "
                   f"{'recorded' if plan.recorded else 'kept'} rollback #{sequence} in its ledger; review with "
                   "`git diff`, then commit all three", err=True)
        return
    why = "--no-spec" if no_spec else f"no spec of {name} found{f' under {repo}' if repo else ''}"
    click.echo(f"rolled {name} back to {to} (leaving {plan.leaving}) under {out} from the ledger alone ({why}); "
               f"rollback #{sequence} recorded. Commit {out}, and the spec edit below (or run `mlspec rollback {name} "
               f"--to {to} --spec FILE` where the spec is: it makes this edit and the output stays as it is):", err=True)
    click.echo(plan.diff(f"{plan.source} (as recorded for {plan.leaving})"), nl=False)


def _written(out: Path, directories: Iterable[str]) -> list[str]:
    """The files of the model's output directories, relative to OUT (what the rollback wrote)."""
    import os

    found = []
    for directory in sorted(directories):
        for top, _, names in os.walk(out / directory):
            found += [os.path.relpath(os.path.join(top, n), out).replace(os.sep, "/") for n in names]
    return sorted(found)
