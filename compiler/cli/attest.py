"""`mlspec attest`: sign the release attestations that lack a signature.

Runs where the key is: the protected branch's CI job (deploy/github-actions/mlspec-attest.yml),
after review merged the releases. A pull request's author holds no key, so the releases a
pull request adds stay unsigned until then (accepted only after the last signed release:
docs/trust.md). Each attestation is re-derived from its ledger entry, every seal of which
is checked on reading: what is signed is what the ledger, as reviewed, records."""

from __future__ import annotations

from pathlib import Path

import click

from mlspec.cli.common import directory, model_name, root_option
from mlspec.files import outtree
from mlspec.files.errors import Diagnostic, MlspecError


@click.command("attest")
@click.argument("names", nargs=-1)
@click.option("-o", "--output", "out", default="deploy", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="GitOps output directory (ledgers, attestations).")
@click.option("--key", "key", required=True, envvar="MLSPEC_ATTEST_KEY", metavar="FILE",
              help="Ed25519 private key, PEM, mode 0600 (env MLSPEC_ATTEST_KEY).")
@root_option
def attest_command(names: tuple[str, ...], out: Path, key: str, root: str | None) -> None:
    """Sign the release attestations under OUT that lack a signature by KEY (default: every model).

    \b
    Examples:
      mlspec attest -o deploy/ --key "$RUNNER_TEMP/attest.pem"   # the protected branch's CI job
      MLSPEC_ATTEST_KEY=ci.pem mlspec attest -o deploy/ fraud-detector
    """
    from mlspec.records import attest, attest_keys, ledger

    signer = attest_keys.signer(key)
    assert signer is not None
    target = directory(out, root)
    assert target is not None
    chosen = [model_name(n) for n in names] or ledger.names(target)
    files: dict[str, str] = {}
    for name in chosen:
        lg = ledger.load(target, name)  # every seal checked: a damaged ledger is never signed
        if names and not lg.releases:
            raise MlspecError([Diagnostic(str(target / ledger.relpath(name)), 1, 1,
                                          f"no releases of {name} recorded under {target}")])
        for entry in lg.releases:
            existing = attest.read(target, name, entry["version"])
            text = attest.render(lg, entry, existing, signer)
            if existing is None or text != "".join(attest.envelope_line(e.payload, e.signatures) for e in existing):
                files[attest.relpath(name, entry["version"])] = text
                click.echo(f"signed {name} {entry['version']}")
    if files:
        for rel, text in sorted(files.items()):  # each file atomically; none before every one was derived
            outtree.write_file(target, rel, text)
    click.echo(f"signed {len(files)} attestation(s) under {target} with key {signer.keyid[:16]}…"
               if files else f"nothing to sign: every attestation under {target} carries a signature of this key",
               err=True)
