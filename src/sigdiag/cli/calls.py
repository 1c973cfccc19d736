"""``sigdiag calls`` and ``sigdiag stats``: the command-line face of :mod:`sigdiag.calls`.

Both take the decoding options of ``sigdiag decode`` and report errors the same way (one line, exit code
2).  One outcome everywhere: both refine each call's outcome with the outcome overrides of the diagnosis
rules, built from the same ``--rules``, ``--number-plan``, ``--set RULE.SETTING=VALUE`` and ``--config``
as ``sigdiag check`` (:func:`sigdiag.cli.rules.outcome_refiner_for`), so a call has the same outcome in
``calls``, ``stats`` and ``check``.  The library takes the refiners as a parameter
(:class:`sigdiag.calls.pipeline.CallReader`); this layer, above the rules, makes them.

Calls are listed by start time (IAM time), per file (:func:`sigdiag.calls.pipeline.by_start`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from sigdiag.cli.common import (
    CIC_HELP,
    NO_DECODE_OPTIONS,
    TABLE_TO_STDOUT,
    DecodeOptions,
    FilesArg,
    NumberOpt,
    OutcomesOpt,
    OutputOptions,
    SetOpt,
    TrunksOpt,
    check_cic,
    check_number,
    fail,
    failing_on,
    open_all,
    quiet_option,
    report_anomalies,
    split_set,
    trunk_map,
    with_option_groups,
    write_output,
)
from sigdiag.cli.rules import outcome_refiner_for

__all__ = ["GroupBy", "calls_command", "stats_command"]


GroupBy = StrEnum(
    "GroupBy",
    [("trunk", "trunk"), ("opc_dpc", "opc-dpc"), ("hour", "hour"), ("cause", "cause"), ("prefix", "prefix")],
)


@dataclass(frozen=True)
class CallOptions:
    """How messages become calls and how calls get their outcome: ``--set``, ``--rules``,
    ``--number-plan`` and ``--outcomes`` (an option group of ``calls`` and ``stats``,
    :func:`~sigdiag.cli.common.with_option_groups`)."""

    set_: SetOpt = None
    rules: Annotated[
        list[Path] | None,
        quiet_option(
            "--rules",
            help="A folder of extra rule files (repeatable): their outcome overrides refine the outcomes.",
        ),
    ] = None
    number_plan: Annotated[
        Path | None,
        quiet_option(
            "--number-plan",
            help="YAML with valid_prefixes: [...] (rule unallocated-valid-prefix), as for sigdiag check.",
        ),
    ] = None
    outcomes: OutcomesOpt = None


#: The default of a command's ``pipeline`` parameter (:func:`with_option_groups` always passes it).
NO_CALL_OPTIONS = CallOptions()


def call_pipeline(
    pipeline: CallOptions,
    config: Path | None,
    trunks: Path | None = None,
    ruleset: Any = None,
    **options: Any,
) -> tuple[Any, Any, Any, list[Any]]:
    """What turns messages into calls, from the options: the correlation settings (``--set NAME=VALUE``
    and ``options``), the outcome table, the trunk map, and the refiners: those registered
    (:func:`sigdiag.calls.register_refiner`), then the outcome overrides of the diagnosis rules (shipped
    rules plus ``--rules``, with the number plan and the rule settings ``--set RULE.SETTING=VALUE``), as
    ``check`` applies them (``ruleset``: those rules, loaded already).  A bad option or file is a one-line
    error."""
    from sigdiag.calls.outcomes import load_outcomes
    from sigdiag.calls.pipeline import REFINERS
    from sigdiag.calls.settings import CallSettings
    from sigdiag.settings import ConfigError

    call_set, rule_set = split_set(pipeline.set_)
    with failing_on(ConfigError):
        settings = (
            CallSettings().with_assignments(call_set).with_options(**options, keep_messages=bool(REFINERS))
        )
        table = load_outcomes(pipeline.outcomes)
    tmap = trunk_map(trunks)
    if ruleset is not None:
        from sigdiag.rules.check import outcome_refiner

        refiner = outcome_refiner(ruleset, tmap)
    else:
        refiner = outcome_refiner_for(pipeline.rules, rule_set, pipeline.number_plan, config, tmap)
    refiners = [*REFINERS, refiner]
    return settings, table, tmap, refiners


def _set_clock(refiners: list[Any], correlator: Any) -> None:
    """Refiners with a clock (the rules' refiner) read the capture end of open calls from the file's
    correlator, as in ``check``."""
    for r in refiners:
        if hasattr(r, "clock"):
            r.clock = lambda c=correlator: c.now


def _summary(readers: list[tuple[Path, Any]], per_file: list[dict[Any, int]]) -> None:
    """Decoding anomalies, then one line per file: calls by outcome (and the ASR of those that ended),
    duplicates, orphans, evictions."""
    from sigdiag.calls.report import pct_text

    report_anomalies([(p, r.reader) for p, r in readers])
    for (path, r), counts in zip(readers, per_file, strict=True):
        counts = dict(sorted(counts.items()))
        c = r.correlator
        parts = [f"{c.calls} calls"]
        shown = sum(counts.values())
        if shown != c.calls:
            parts[0] += f" ({shown} selected)"
        if counts:
            parts.append(", ".join(f"{k} {v}" for k, v in counts.items()))
            ended = shown - counts.get("unknown", 0)
            if ended:
                parts.append(f"ASR {pct_text(counts.get('answered', 0) / ended)}")
        parts.append(f"{c.messages} messages, {c.duplicates} duplicates, {c.orphan_count} orphans")
        if c.circuit_event_count:
            parts.append(f"{c.circuit_event_count} circuit events")
        typer.echo(f"sigdiag: {path}: " + "; ".join(parts), err=True)
        for warning in c.bound_warnings():  # what the memory bounds dropped (docs/calls.md)
            typer.echo(f"sigdiag: warning: {path}: {warning}", err=True)
        for o in c.orphans[:5]:
            cic = "-" if o.cic is None else o.cic
            route = "" if o.opc is None and o.dpc is None else f" {_pc_text(o.opc)} -> {_pc_text(o.dpc)}"
            reason = f": {o.reason}" if o.reason else ""
            typer.echo(f"  orphan: frame {o.frame} {o.type} cic {cic}{route}{reason}", err=True)
        if c.orphan_count > 5:
            typer.echo(f"  ... and {c.orphan_count - 5} more orphans", err=True)


def _pc_text(pc: int | None) -> str:
    return "-" if pc is None else str(pc)


def _readers(
    files: list[Path], dsettings: Any, settings: Any, table: Any, refiners: list[Any], flt: Any
) -> list[tuple[Path, Any]]:
    """A :class:`~sigdiag.calls.pipeline.CallReader` per file, every file opened before any output."""
    from sigdiag.calls.pipeline import CallReader

    keep = flt if flt.active else None
    return open_all(files, lambda p: CallReader(p, dsettings, settings, table, refiners, keep))


CicOpt = Annotated[int | None, typer.Option("--cic", help="Only calls on this CIC." + CIC_HELP)]


@with_option_groups
def calls_command(
    files: FilesArg,
    out: OutputOptions = TABLE_TO_STDOUT,
    cic: CicOpt = None,
    number: NumberOpt = None,
    outcome: Annotated[
        list[str] | None,
        typer.Option("--outcome", help="Only calls with these outcomes (repeatable), e.g. network."),
    ] = None,
    pipeline: CallOptions = NO_CALL_OPTIONS,
    decode: DecodeOptions = NO_DECODE_OPTIONS,
) -> None:
    """Correlate messages into calls and say how each call ended.

    One row per call (IAM), in start-time order, with its numbers, times, release cause, outcome
    (answered, subscriber, caller, network, unknown; refined by the diagnosis rules as in sigdiag check)
    and delays; the keys are listed in docs/calls.md.  Orphan messages, duplicates and evictions are
    summarised on standard error.
    """
    from sigdiag.calls.correlate import CALL_KEYS
    from sigdiag.calls.outcomes import OUTCOMES
    from sigdiag.calls.pipeline import CallFilter, by_start
    from sigdiag.report.calls import call_table_columns

    number = check_number(number)
    cic = check_cic(cic)
    dsettings = decode.settings()
    out.check()
    for o in outcome or []:
        if o not in OUTCOMES:
            raise fail(f"--outcome must be one of {', '.join(OUTCOMES)}, not {o!r}")
    settings, table, _, refiners = call_pipeline(pipeline, decode.config)
    flt = CallFilter(cic=cic, number=number, outcomes=outcome)
    readers = _readers(files, dsettings, settings, table, refiners, flt)
    several = len(files) > 1
    columns = (["file"] if several else []) + list(CALL_KEYS)
    table_columns = call_table_columns(dsettings.pc_display, dsettings.pc_format, with_file=several)
    per_file: list[dict[Any, int]] = [{} for _ in readers]

    def rows() -> Any:
        for (path, reader), counts in zip(readers, per_file, strict=True):
            _set_clock(refiners, reader.correlator)
            for call in by_start(reader):
                counts[call.outcome] = counts.get(call.outcome, 0) + 1
                row = call.as_dict()
                yield {"file": str(path), **row} if several else row

    write_output(rows(), out, columns, table_columns)
    _summary(readers, per_file)


@with_option_groups
def stats_command(
    files: FilesArg,
    by: Annotated[
        GroupBy | None,
        typer.Option("--by", help="Group rows by trunk, opc-dpc, hour (UTC), cause or called-number prefix."),
    ] = None,
    trunks: TrunksOpt = None,
    effective_seconds: Annotated[
        float | None,
        quiet_option(
            "--effective-seconds",
            min=0,
            help="Conversation time that makes an answered call effective [default: 10].",
        ),
    ] = None,
    prefix_digits: Annotated[
        int | None,
        quiet_option("--prefix-digits", min=1, help="Prefix length for --by prefix [default: 4]."),
    ] = None,
    out: OutputOptions = TABLE_TO_STDOUT,
    cic: CicOpt = None,
    number: NumberOpt = None,
    pipeline: CallOptions = NO_CALL_OPTIONS,
    decode: DecodeOptions = NO_DECODE_OPTIONS,
) -> None:
    """Call KPIs: seizures, ASR, NER, connection rate, network loss, effective calls, PDD, top causes.

    One row per group, or one row for all calls of all files without --by.  Open calls (outcome
    unknown) count as seizures but in no rate.  Outcomes are refined by the diagnosis rules as in
    sigdiag check (--rules, --number-plan, --set RULE.SETTING=VALUE).  The keys and their definitions are
    in docs/calls.md.
    """
    from sigdiag.calls.pipeline import CallFilter
    from sigdiag.calls.stats import STATS_KEYS, StatsAccumulator
    from sigdiag.capture import CaptureError
    from sigdiag.report.calls import stats_table_columns

    number = check_number(number)
    cic = check_cic(cic)
    dsettings = decode.settings()
    out.check()
    settings, table, tmap, refiners = call_pipeline(
        pipeline, decode.config, trunks, effective_s=effective_seconds, prefix_digits=prefix_digits
    )
    readers = _readers(files, dsettings, settings, table, refiners, CallFilter(cic=cic, number=number))
    acc = StatsAccumulator(by.value if by else None, tmap, settings, dsettings.pc_display)
    per_file: list[dict[Any, int]] = [{} for _ in readers]
    with failing_on(CaptureError):
        for (_, reader), counts in zip(readers, per_file, strict=True):
            _set_clock(refiners, reader.correlator)
            for call in reader:
                counts[call.outcome] = counts.get(call.outcome, 0) + 1
                acc.add(call)
    write_output(iter(acc.rows()), out, list(STATS_KEYS), stats_table_columns())
    _summary(readers, per_file)
