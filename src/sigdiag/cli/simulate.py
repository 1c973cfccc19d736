"""``sigdiag simulate``: the command-line face of :func:`sigdiag.simulate.simulate`.

The simulator is imported when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sigdiag.cli.common import fail, failing_on, quiet_option

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
        quiet_option(
            "--scenario",
            "-s",
            help="Scenario YAML file (docs/scenario.md); default: healthy traffic on two M3UA trunks.",
        ),
    ] = None,
    calls: Annotated[
        int | None,
        quiet_option(
            "--calls",
            "-n",
            min=0,
            help="Number of calls of the traffic [default: the scenario's, 1000].",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives the same files.")] = 0,
    format: Annotated[
        str | None,
        quiet_option(
            "--format",
            "-f",
            help="pcap or pcapng [default: the scenario's, else from OUT's extension, else pcap].",
        ),
    ] = None,
) -> None:
    """Write a simulated ISUP/BICC capture with known outcomes and injected faults, and its ground truth."""
    from sigdiag.simulate import ScenarioError, simulate

    if format is not None and format not in ("pcap", "pcapng"):
        raise fail(f"--format must be pcap or pcapng, not {format!r}")
    try:
        with failing_on(ScenarioError):
            result = simulate(out, scenario, calls=calls, seed=seed, fmt=format)
    except OSError as exc:
        raise fail(f"{exc.filename or out}: {exc.strerror or exc}") from None
    typer.echo(result.summary(), err=True)
