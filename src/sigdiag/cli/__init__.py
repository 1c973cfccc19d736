"""The ``sigdiag`` command line: a thin layer on the library, at the top of the layers.

Exit codes (every command):

* 0 — success (decoding anomalies are reported on standard error and do not change the code)
* 1 — the command ran and found what it was asked to flag (``check --fail-on``, ``rules test``), or no call
  matched (``flow``, ``extract``, ``show --call``)
* 2 — usage or input error: a file that is not a capture, an unreadable file, a bad option or config file

One module per command family: :mod:`~sigdiag.cli.decode`, :mod:`~sigdiag.cli.calls` (``calls``, ``stats``),
:mod:`~sigdiag.cli.rules` (``check``, ``rules``), :mod:`~sigdiag.cli.flow`, :mod:`~sigdiag.cli.show`,
:mod:`~sigdiag.cli.extract`, :mod:`~sigdiag.cli.report`, :mod:`~sigdiag.cli.simulate` and
:mod:`~sigdiag.cli.audit`; what they share (option types and checks, one-line errors, output writing, the
standard-error summaries) is in :mod:`~sigdiag.cli.common`. Each command parses its options, calls the
library and prints. Only ``typer`` is imported here and in those modules at import time: the library (and
pandas, pyarrow...) is imported inside the commands that need it, so ``sigdiag --help`` stays fast.
"""

from __future__ import annotations

import sys

import typer

from sigdiag.cli.audit import audit_app
from sigdiag.cli.calls import calls_command, stats_command
from sigdiag.cli.decode import decode_command
from sigdiag.cli.extract import extract_command
from sigdiag.cli.flow import flow_command
from sigdiag.cli.report import report_command
from sigdiag.cli.rules import check_command, rules_app
from sigdiag.cli.show import show_command
from sigdiag.cli.simulate import simulate_command

__all__ = ["app", "main"]

app = typer.Typer(
    name="sigdiag",
    help="Decode, correlate, diagnose and audit SS7 ISUP/BICC signalling from packet captures.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def version() -> None:
    """Print the sigdiag version."""
    from sigdiag import __version__

    typer.echo(__version__)


app.command("decode")(decode_command)
app.command("version")(version)
app.command("calls")(calls_command)
app.command("stats")(stats_command)
app.command("check")(check_command)
app.command("flow")(flow_command)
app.command("show")(show_command)
app.command("extract")(extract_command)
app.command("report")(report_command)
app.add_typer(rules_app, name="rules")
app.command("simulate")(simulate_command)
app.add_typer(audit_app, name="audit")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("sigdiag: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(0)
