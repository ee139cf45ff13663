"""The `mlspec` command: a click group whose commands load on dispatch.

Each command lives in a module of its own (`mlspec.cli.<module>`); `COMMANDS` names it
and carries the one-line help, so `mlspec --help`, `--version` and `completion` import
none of them (no pydantic, jinja2, yaml or models). Running a command imports its module
and what that module needs, nothing else.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys

import click

from mlspec import __version__
from mlspec.cli.common import Group

# Pydantic looks for plugins in the metadata of every installed distribution when it
# builds the first model: tens of milliseconds of a cold `build` in a full environment,
# for plugins that never observe mlspec's internal models. A user can still opt in.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

# name -> (module, function, short help). The short help is the first line of the command's
# docstring; a test checks the two agree.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("init", "init_command", "Scaffold a commented spec that validates, with a schema modeline that works "
             "offline (or, with `--platform` alone, the repository's platform file)."),
    "validate": ("build", "validate", "Validate SPEC files (or directories of them) without writing anything; a "
                 "platform file (`kind: Platform`) given here is validated itself."),
    "build": ("build", "build", "Compile SPEC files into OUT/<env>/<name>/ (one file per object + kustomization.yaml)."),
    "schema": ("init", "schema_command", "Print the JSON Schema of the spec (or of the training record, or of the "
               "platform file), for editors."),
    "diff": ("diff", "diff_command", "Compare specs (files or directories) with their version at a Git ref, "
             "or two specs (OLD NEW): ML summary, then manifests."),
    "gate": ("gate", "gate_command", "Check candidate metrics against the spec's thresholds (the same gate the "
             "evaluation Job runs)."),
    "history": ("history", "history_command", "List the recorded releases of model NAME (newest last; * marks the "
                "current one)."),
    "rollback": ("rollback", "rollback_command", "Return NAME to release VERSION: the spec's pins, the output and "
                 "the ledger, with its data and feature context."),
    "release": ("release", "release_command", "Cut the next release in SPEC: the current pins move to "
                "rollback.previous, the new ones replace them."),
    "digest": ("digest", "digest_command", "Print the artifact digest of each file or directory (what "
               "`spec.model.artifact.digest` pins)."),
    "ledger": ("ledger", "ledger_group", "Maintain the release ledgers under an output directory."),
    "attest": ("attest", "attest_command", "Sign the release attestations under OUT that lack a signature by KEY "
               "(default: every model)."),
    "completion": ("main", "completion", "Print the shell completion script for SHELL (bash, zsh or fish)."),
}


class LazyGroup(Group):
    """Lists the commands from `COMMANDS` and imports a command's module only to run it."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        command: click.Command = getattr(importlib.import_module(f"mlspec.cli.{module}"), attr)
        return examples_last(command)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl([(name, _short(text, formatter.width)) for name, text in rows])


EXAMPLES = "\b\nExamples:"


def examples_last(command: click.Command) -> click.Command:
    """The docstring's `Examples:` block moved to the epilog, so `--help` ends with it
    (after the options, where people look last), as `git` and `kubectl` print theirs."""
    text = inspect.cleandoc(command.help or "")
    if EXAMPLES in text and not command.epilog:
        text, examples = text.split(EXAMPLES, 1)
        command.help, command.epilog = text.rstrip(), EXAMPLES + examples
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            examples_last(sub)
    return command


def _short(text: str, width: int) -> str:
    limit = max(width - 30, 40)
    return text if len(text) <= limit else text[: limit - 3].rsplit(" ", 1)[0] + "..."


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlspec")
@click.option("--debug", is_flag=True, help="Show a traceback on internal errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Compile ML model specs into GitOps manifests (Argo Rollouts, Argo CD, Flux)."""
    ctx.meta["mlspec.debug"] = debug


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL (bash, zsh or fish).

    \b
    Examples:
      eval "$(mlspec completion bash)"                 # in ~/.bashrc
      mlspec completion zsh > ~/.zfunc/_mlspec         # zsh, with ~/.zfunc on fpath
      mlspec completion fish > ~/.config/fish/completions/mlspec.fish
    """
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None  # click ships all three
    click.echo(cls(main, {}, "mlspec", "_MLSPEC_COMPLETE").source(), nl=False)


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
