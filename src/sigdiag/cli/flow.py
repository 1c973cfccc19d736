"""``sigdiag flow``: the ladder of each matching call, as text, SVG, Mermaid or an HTML page
(:mod:`sigdiag.report.ladder`).  The calls are found as ``extract`` finds them
(:func:`sigdiag.cli.extract.select_for_cli`: capture files, or one audit folder through its calls table)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from sigdiag.cli.common import (
    CIC_HELP,
    NO_DECODE_OPTIONS,
    PC_HELP,
    DecodeOptions,
    OutputOpt,
    TrunksOpt,
    check_cic,
    check_number,
    check_pc,
    fail,
    trunk_map,
    with_option_groups,
)
from sigdiag.cli.extract import CallSelOpt, FindingSelOpt, InputsArg, NumberSelOpt
from sigdiag.cli.rules import NumberPlanOpt, RuleSetOpt, RulesOpt

__all__ = ["flow_command"]

FlowFormat = StrEnum("FlowFormat", ["text", "svg", "mermaid", "html"])


def _closest(files: list[Path], number: str, decode: DecodeOptions) -> list[str]:
    """The numbers seen in capture files that come closest to ``number`` (as ``check --number`` says
    them when no call matches); none for an audit folder."""
    from sigdiag.audit.lookup import is_audit_folder
    from sigdiag.calls import iter_calls
    from sigdiag.rules.check import NearestNumbers

    if any(is_audit_folder(p) for p in files):
        return []
    nearest = NearestNumbers(number)
    dsettings = decode.settings()
    for path in files:
        for call in iter_calls(path, decode_settings=dsettings):
            nearest.add(call.called)
            nearest.add(call.calling)
    return nearest.closest()


def render(ladders: list[Any], format: FlowFormat) -> str:
    """The ladders in ``format``: text one after the other; one SVG document (the ladders one below the
    other); Mermaid: one ``sequenceDiagram`` for one call, else a Markdown document with a fenced
    ``mermaid`` block per call (GitHub and GitLab render both); one HTML page."""
    from html import escape

    from sigdiag.report.ladder import flow_html, ladder_mermaid, ladder_text
    from sigdiag.report.svg import ladders_svg

    if format == FlowFormat.svg:
        return ladders_svg(ladders)
    if format == FlowFormat.html:
        return flow_html(
            ladders, title=f"sigdiag flow: {len(ladders)} call{'s' if len(ladders) != 1 else ''}"
        )
    if format == FlowFormat.mermaid:
        if len(ladders) == 1:
            return ladder_mermaid(ladders[0])
        return "\n".join(
            f"### {escape(lad.title)}\n\n```mermaid\n{ladder_mermaid(lad)}```\n" for lad in ladders
        )
    return "\n".join(ladder_text(lad) for lad in ladders)


@with_option_groups
def flow_command(
    inputs: InputsArg,
    number: NumberSelOpt = None,
    call: CallSelOpt = None,
    cic: Annotated[int | None, typer.Option("--cic", help="Calls on this CIC." + CIC_HELP)] = None,
    opc: Annotated[
        str | None, typer.Option("--opc", help="With --cic: calls involving this point code." + PC_HELP)
    ] = None,
    dpc: Annotated[
        str | None, typer.Option("--dpc", help="With --cic: calls involving this point code." + PC_HELP)
    ] = None,
    finding: FindingSelOpt = None,
    format: Annotated[
        FlowFormat,
        typer.Option(
            "--format",
            "-f",
            help="text (80 columns), svg (one standalone document), mermaid (sequenceDiagram; Markdown "
            "with a block per call for several calls) or html (one self-contained page).",
        ),
    ] = FlowFormat.text,
    output: OutputOpt = None,
    rules: RulesOpt = None,
    set_: RuleSetOpt = None,
    number_plan: NumberPlanOpt = None,
    trunks: TrunksOpt = None,
    decode: DecodeOptions = NO_DECODE_OPTIONS,
) -> None:
    """Draw the ladder of each matching call, like Wireshark's flow graph.

    One column per signalling point (point code, and the trunk name from --trunks), one arrow per
    message in time order with its key content (digits, cause, indicators), its offset from the IAM, time
    of day and frame; the gaps the rules judge (PDD, SAM to REL, answer delay, release wait) and the
    frames a finding names, marked with the rule id.  Exit code 0 when drawn, 1 when no call matches, 2
    for usage or input errors.
    """
    from sigdiag.cli.extract import asked, select_for_cli
    from sigdiag.report.ladder import ladder_from_rows
    from sigdiag.report.messages import pc_printer

    if (opc is not None or dpc is not None) and cic is None:
        raise fail("--opc and --dpc go with --cic (the circuit: point codes and CIC)")
    if number is None and call is None and cic is None and finding is None:
        raise fail("say which calls: --number N, --call ID, --cic N (with --opc/--dpc) or --finding RULE")
    number = check_number(number)
    cic = check_cic(cic)
    tmap = trunk_map(trunks)
    dsettings = decode.settings()
    pc = pc_printer(dsettings)
    opc_value, dpc_value = (
        check_pc(opc, "--opc", dsettings.pc_format),
        check_pc(dpc, "--dpc", dsettings.pc_format),
    )
    selected = select_for_cli(
        inputs,
        decode,
        rules=rules,
        set_=set_,
        number_plan=number_plan,
        trunks=trunks,
        number=number,
        call_id=call,
        cic=cic,
        opc=opc_value,
        dpc=dpc_value,
        rule=finding,
    )
    if not selected:
        line = f"no call matches {asked(number, call, cic, finding)}"
        closest = _closest(inputs, number, decode) if number is not None else []
        if closest:
            line += "; closest numbers seen: " + ", ".join(closest)
        typer.echo(f"sigdiag: {line}", err=True)
        raise typer.Exit(1)
    ladders = [ladder_from_rows(s.call, s.rows, s.findings, tmap, pc) for s in selected]
    text = render(ladders, format)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror or exc}") from None
    n = len(ladders)
    typer.echo(
        f"sigdiag: wrote the ladder{'s' if n != 1 else ''} of {n} call{'s' if n != 1 else ''} to {output}",
        err=True,
    )
