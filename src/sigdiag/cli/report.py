"""``sigdiag report``: one self-contained HTML report of captures or of an audit folder (issue 17).

The figures are those of ``sigdiag stats`` for the same input and options (the calls are made and
refined by :func:`sigdiag.cli.calls.call_pipeline`, as ``stats`` makes them), the findings those of
``sigdiag check`` (the same rules, ``--rules``, ``--set RULE.SETTING=VALUE`` and ``--number-plan``).
An audit folder is reported from its stored tables without reading the captures again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sigdiag.cli.calls import NO_CALL_OPTIONS, CallOptions, call_pipeline
from sigdiag.cli.common import (
    NO_DECODE_OPTIONS,
    DecodeOptions,
    TrunksOpt,
    fail,
    failing_on,
    quiet_option,
    split_set,
    trunk_map,
    with_option_groups,
)

__all__ = ["report_command"]


@with_option_groups
def report_command(
    inputs: Annotated[
        list[Path],
        typer.Argument(help="Capture files (pcap, pcapng, optionally gzip-compressed), or one audit folder."),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")],
    trunks: TrunksOpt = None,
    title: Annotated[str | None, quiet_option("--title", help="The report's title.")] = None,
    pipeline: CallOptions = NO_CALL_OPTIONS,
    decode: DecodeOptions = NO_DECODE_OPTIONS,
) -> None:
    """Write one self-contained HTML report: summary, KPIs per trunk and hour, charts,
    findings with their ladders, and the calls with a search box.

    The file loads nothing and opens offline in any browser.  KPIs equal those of
    sigdiag stats and the findings those of sigdiag check for the same input and options.
    Given one audit output folder (audit run --out), the report is made from its stored
    tables without reading the captures again (the audit's own rules, trunks and options
    apply; --trunks only names the ladders' columns).
    """
    if len(inputs) == 1 and inputs[0].is_dir():
        data = _audit_data(inputs[0], trunks, title)
    else:
        data = _capture_data(inputs, trunks, title, pipeline, decode)
    from sigdiag.report.html import write_report

    try:
        size = write_report(data, output)
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror}") from None
    n = len(data.findings)
    typer.echo(
        f"sigdiag: report: {output} ({size:,} bytes): {data.calls} calls, {n} finding{'s' if n != 1 else ''}",
        err=True,
    )


def _audit_data(folder: Path, trunks: Path | None, title: str | None) -> Any:
    from sigdiag.audit.reportdata import report_from_audit
    from sigdiag.audit.runner import AuditError

    warnings: list[str] = []
    with failing_on(AuditError):
        data = report_from_audit(folder, trunks=trunk_map(trunks), title=title, warnings=warnings)
    for line in warnings:
        typer.echo(f"sigdiag: warning: {line}", err=True)
    return data


def _capture_data(
    files: list[Path], trunks: Path | None, title: str | None, pipeline: CallOptions, decode: DecodeOptions
) -> Any:
    from sigdiag.capture import CaptureError
    from sigdiag.cli.rules import load_rules, rule_overrides
    from sigdiag.report.messages import pc_printer
    from sigdiag.report.reportdata import report_from_captures
    from sigdiag.rules.parallel import EngineProcessError

    for f in files:
        if f.is_dir():
            raise fail(f"{f}: a folder: give capture files, or one audit folder alone")
    dsettings = decode.settings()
    _, rule_set = split_set(pipeline.set_)
    ruleset = load_rules(pipeline.rules, rule_overrides(decode.config, rule_set, pipeline.number_plan))
    settings, table, tmap, refiners = call_pipeline(pipeline, decode.config, trunks, ruleset)
    with failing_on(CaptureError, EngineProcessError):
        return report_from_captures(
            files,
            rules=ruleset,
            refiners=refiners,
            decode_settings=dsettings,
            call_settings=settings,
            outcomes=table,
            trunks=tmap,
            pc=pc_printer(dsettings),
            title=title,
        )
