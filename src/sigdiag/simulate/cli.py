"""``sigdiag simulate``: the command-line face of :func:`sigdiag.simulate.simulate`.

:func:`simulate_command` is a Typer-annotated function; ``sigdiag.cli`` registers it with
``app.command("simulate")(simulate_command)``.  Only ``typer`` and ``pathlib`` are imported here; the
simulator is imported when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["simulate_command"]


def simulate_command(
    out: Annotated[
        Path,
        typer.Argument(
            help="Capture file to write (OUT.truth.jsonl, OUT.events.jsonl and "
            "OUT.config.yaml are written beside it).",
            show_default=False,
        ),
    ],
    scenario: Annotated[
        Path | None,
        typer.Option(
            "--scenario",
            "-s",
            help="Scenario YAML file (docs/scenario.md); default: healthy traffic on two M3UA trunks.",
            show_default=False,
        ),
    ] = None,
    calls: Annotated[
        int | None,
        typer.Option(
            "--calls",
            "-n",
            min=0,
            help="Number of calls of the traffic [default: the scenario's, 1000].",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives the same files.")] = 0,
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="pcap or pcapng [default: the scenario's, else from OUT's extension, else pcap].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write a simulated ISUP/BICC capture with known outcomes and injected faults, and its ground truth."""
    from sigdiag.simulate import ScenarioError, simulate

    if format is not None and format not in ("pcap", "pcapng"):
        typer.echo(f"sigdiag: error: --format must be pcap or pcapng, not {format!r}", err=True)
        raise typer.Exit(2)
    try:
        result = simulate(out, scenario, calls=calls, seed=seed, fmt=format)
    except ScenarioError as exc:
        typer.echo(f"sigdiag: error: {exc}", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        typer.echo(f"sigdiag: error: {exc.filename or out}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(result.summary(), err=True)
