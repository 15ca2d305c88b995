"""The `reconciler` command line: options in, one command called, its outcome rendered, exit code out.

Exit codes follow Terraform's -detailed-exitcode: 0 no changes, 2 changes
(only with --detailed-exitcode), 1 errors or blocked actions, 130 interrupted,
3 a bug in the reconciler. Usage mistakes exit 1, never 2, so that CI can never
read a typo as 'changes pending'.

Commands are loaded when they run, not at start-up: `reconciler --help` and
`reconciler validate` never import the HTTP client or the emulator.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

import click

from .. import __version__
from ..errors import ReconcilerError
from ..secrets import RedactingStream, redact

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_BUG, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

# name -> (module under reconciler.cli, attribute, one-line help for `reconciler --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "validate": ("repo", "validate", "Check the manifests and reconciler.yaml; no state, no network."),
    "plan": ("plans", "plan", "Show what apply would change in Epoptia."),
    "apply": ("apply", "apply", "Make Epoptia match the manifests, and record it in the state."),
    "show": ("plans", "show", "Render a plan saved with `plan --out`."),
    "drift": ("tenant", "drift", "What changed in Epoptia outside the reconciler; changes nothing."),
    "import": ("tenant", "import_", "Write manifests and a state for what the tenant already has."),
    "doctor": ("tenant", "doctor", "Check a target: the key, the list, which operations the tenant answers."),
    "workflows": ("tenant", "workflows", "List Epoptia's workflow templates."),
    "station": ("tenant", "station", "Control a workstation, as a PLC or shop-floor software would."),
    "operator": ("tenant", "operator", "Operator sessions for workstation actions on named lines."),
    "force-unlock": ("state", "force_unlock", "Remove the state lock of a run that died."),
    "halt": ("state", "halt", "The halt that a 403 or 429 from Epoptia puts on every request."),
    "init": ("init", "init", "Start a repository: reconciler.yaml, schemas, editor settings, pre-commit, workflows."),
    "schema": ("repo", "schema", "Print the JSON Schema of manifests (or of reconciler.yaml), for editors."),
    "fmt": ("repo", "fmt", "Format the manifests in one style, keeping comments."),
    "ci": (
        "ci",
        "ci",
        "Steps of the GitHub workflows: the tenant's queue, apply on merge as reviewed, the plan comment.",
    ),
    "emulator": ("emulator", "emulator", "A local Epoptia for trying the reconciler without an account."),
}


class _Commands(click.Group):
    """A group whose commands are imported only when one of them runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_) for name, (_, _, help_) in COMMANDS.items()])


class Obj:
    """What the group's options leave for the commands."""

    def __init__(self, config: Path | None) -> None:
        self.config = config

    def context(self, target: str | None) -> Any:
        from ..context import Context

        return Context.open(self.config, target)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconciler")
@click.option(
    "--config",
    "-c",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Path to reconciler.yaml (default: found in this folder or above).",
)
@click.pass_context
def cli(ctx: click.Context, config: Path | None) -> None:
    """Declarative, GitOps-style reconciler for Epoptia MES master data."""
    ctx.obj = Obj(config)


class OutputError(ReconcilerError):
    """Standard output or error cannot be written: a full disk behind `> file`, a reader that went away."""

    def __init__(self, stream: Any, what: str, error: OSError) -> None:
        super().__init__(
            f"cannot write to {what}: {error.strerror or error}",
            hint="the disk that the output goes to may be full, or the program reading it gone",
        )
        self.stream = stream


class _Output(RedactingStream):
    """stdout or stderr of the CLI: redacted, and a failed write is an error the user can act on, not a bug."""

    def __init__(self, stream: Any, what: str) -> None:
        super().__init__(stream)
        self._what = what

    def write(self, text: str) -> int:
        try:
            return super().write(text)
        except OSError as error:
            raise OutputError(self._stream, self._what, error) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as error:
            raise OutputError(self._stream, self._what, error) from None


def _failed(error: ReconcilerError) -> None:
    """Say what failed on stderr, if stderr still takes it; a stream that failed is silenced, so that
    the interpreter's last flush of it does not fail again on the way out."""
    if isinstance(error, OutputError):
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, error.stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass
    try:
        click.echo(f"Error: {error}", err=True)
    except (OSError, OutputError):
        pass


def _report_bug() -> None:
    """A bug: the traceback goes to a file we name, never to the terminal (unless RECONCILER_DEBUG is set)."""
    text = redact(traceback.format_exc())
    if os.environ.get("RECONCILER_DEBUG"):
        sys.stderr.write(text)
    try:
        fd, path = tempfile.mkstemp(prefix="reconciler-crash-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            # argv too goes through redact: a password or a token can be an option (operator login, --token).
            fh.write(
                redact(f"reconciler {__version__}, Python {sys.version.split()[0]}\nargv: {sys.argv[1:]}\n\n") + text
            )
        where = f"the traceback is in {path}"
    except OSError:
        where = "run again with RECONCILER_DEBUG=1 to see the traceback"
    click.echo(
        f"Internal error: this is a bug in the reconciler, not in your data.\n  hint: {where}; please report it",
        err=True,
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point: no traceback reaches a user for anything they can fix."""
    # A plan builds hundreds of thousands of small, acyclic objects (parsed YAML,
    # index entries); with the default threshold the cyclic collector rescans the
    # growing heap over and over, which doubled load times at 100,000 lines.
    # Cycles are still collected, only less often.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    sys.stdout, sys.stderr = _Output(sys.stdout, "standard output"), _Output(sys.stderr, "standard error")
    try:
        code = cli.main(args=argv, prog_name="reconciler", standalone_mode=False)
    except ReconcilerError as error:
        _failed(error)
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as error:
        error.show()
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except SystemExit:
        raise
    except Exception:
        _report_bug()
        sys.exit(EXIT_BUG)
    # Each command returns its exit code (None: success).
    sys.exit(code if isinstance(code, int) else EXIT_OK)
