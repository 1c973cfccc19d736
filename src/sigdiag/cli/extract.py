"""``sigdiag extract``: the frames of some calls as a new capture file (an evidence slice).

Also :func:`select_for_cli`, the call look-up that the commands taking ``CAPTURE...|AUDIT_DIR`` share:
capture files through :func:`sigdiag.report.select.select_calls`, an audit folder through
:func:`sigdiag.audit.lookup.select_audit_calls`, errors as one line and exit code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sigdiag.cli.common import (
    NO_DECODE_OPTIONS,
    NUMBER_HELP,
    DecodeOptions,
    TrunksOpt,
    check_number,
    fail,
    with_option_groups,
)
from sigdiag.cli.rules import NumberPlanOpt, RuleSetOpt, RulesOpt

__all__ = ["asked", "extract_command", "select_for_cli"]

#: The options of the commands that find calls (``flow``, ``extract``).
InputsArg = Annotated[
    list[Path],
    typer.Argument(
        help="Capture files (pcap, pcapng, optionally gzip-compressed), or one audit output folder.",
        show_default=False,
    ),
]
NumberSelOpt = Annotated[
    str | None,
    typer.Option("--number", help="Calls whose called or calling number contains this." + NUMBER_HELP),
]
CallSelOpt = Annotated[
    str | None, typer.Option("--call", help="The call with this id (as sigdiag calls / check print it).")
]
FindingSelOpt = Annotated[
    str | None,
    typer.Option("--finding", help="The calls named by the findings of this rule (e.g. t35-expiry)."),
]


def select_for_cli(
    inputs: list[Path],
    decode: DecodeOptions,
    *,
    rules: list[Path] | None = None,
    set_: list[str] | None = None,
    number_plan: Path | None = None,
    trunks: Path | None = None,
    **filters: Any,
) -> list[Any]:
    """The :class:`~sigdiag.report.select.Selected` calls of capture files or of one audit folder
    (``filters``: ``number``, ``call_id``, ``cic``, ``opc``, ``dpc``, ``rule``); one-line errors."""
    from sigdiag.audit.lookup import is_audit_folder, select_audit_calls
    from sigdiag.capture import CaptureError
    from sigdiag.cli.rules import rule_overrides
    from sigdiag.report.select import select_calls
    from sigdiag.rules.loader import RuleError
    from sigdiag.settings import ConfigError

    audits = [p for p in inputs if is_audit_folder(p)]
    if audits and len(inputs) > 1:
        raise fail(f"{audits[0]} is an audit folder: give it alone, not with other inputs")
    for p in inputs:
        if p.is_dir() and not audits:
            raise fail(f"{p} is a folder but not an audit output folder (no _state/run.json)")
    try:
        if audits:
            settings = decode.settings() if decode != NO_DECODE_OPTIONS else None
            return select_audit_calls(audits[0], settings=settings, **filters)
        overrides = rule_overrides(decode.config, set_, number_plan)
        return select_calls(
            inputs,
            settings=decode.settings(),
            rules_dir=rules,
            trunks=trunks,
            rule_settings=overrides,
            **filters,
        )
    except (CaptureError, RuleError, ConfigError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None


def asked(
    number: str | None = None, call: str | None = None, cic: int | None = None, finding: str | None = None
) -> str:
    """The selection as the command line gave it (for "no call matches ...")."""
    given = (("--number", number), ("--call", call), ("--cic", cic), ("--finding", finding))
    return " ".join(f"{name} {value}" for name, value in given if value is not None)


@with_option_groups
def extract_command(
    inputs: InputsArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="The slice to write (pcap or pcapng).")],
    number: NumberSelOpt = None,
    call: CallSelOpt = None,
    finding: FindingSelOpt = None,
    rules: RulesOpt = None,
    set_: RuleSetOpt = None,
    number_plan: NumberPlanOpt = None,
    trunks: TrunksOpt = None,
    decode: DecodeOptions = NO_DECODE_OPTIONS,
) -> None:
    """Write exactly the frames of the matching calls to a capture file (an evidence slice).

    The frames keep their octets, link type and time stamps, in time order, each once (a message seen on
    two links: both copies); pcapng when they come from several link types or interfaces, pcap
    otherwise.  An audit folder is searched through its calls table (frames across the rotated files).
    Exit code 0 when written, 1 when no call matches, 2 for usage or input errors.
    """
    from sigdiag.report.slices import SliceError, write_slice

    if number is None and call is None and finding is None:
        raise fail("say which calls: --number N, --call ID or --finding RULE")
    number = check_number(number)
    selected = select_for_cli(
        inputs,
        decode,
        rules=rules,
        set_=set_,
        number_plan=number_plan,
        trunks=trunks,
        number=number,
        call_id=call,
        rule=finding,
    )
    if not selected:
        typer.echo(
            f"sigdiag: no call matches {asked(number, call, None, finding)}: nothing written", err=True
        )
        raise typer.Exit(1)
    frames = [f for s in selected for f in s.frames]
    try:
        result = write_slice(frames, output)
    except SliceError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror or exc}") from None
    n, k = len(selected), result.frames
    typer.echo(
        f"sigdiag: wrote {k} frame{'s' if k != 1 else ''} of {n} call{'s' if n != 1 else ''} to {output} "
        f"({result.format})",
        err=True,
    )
