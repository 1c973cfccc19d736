"""``sigdiag calls`` and ``sigdiag stats``: the command-line face of :mod:`sigdiag.calls`.

:func:`calls_command` and :func:`stats_command` are Typer-annotated functions; ``sigdiag.cli`` registers
them with ``app.command("calls")(calls_command)`` and ``app.command("stats")(stats_command)``.  They take
the same decoding options and report errors the same way as ``sigdiag decode`` (one line, exit code 2).

The shared option types come from :mod:`sigdiag.cli`; they are imported at the end of this module so
that importing either module first works (annotations are strings until Typer resolves them).

One outcome everywhere: both commands refine each call's outcome with the outcome overrides of the
diagnosis rules, built from the same ``--rules``, ``--number-plan``, ``--set RULE.SETTING=VALUE`` and
``--config`` as ``sigdiag check``, so a call has the same outcome in ``calls``, ``stats`` and ``check``.
The rules sit above this layer: :mod:`sigdiag.cli` hands in the factory (:data:`RULE_REFINER`) instead of
this module importing them.

Calls are listed by start time (IAM time), per file: a finished call waits in a small buffer until every
call that could start before it (the calls still open, and IAMs within the reorder window) is out.
"""

from __future__ import annotations

import heapq
import sys
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["RULE_REFINER", "GroupBy", "by_start", "calls_command", "stats_command"]

#: Makes the rules' outcome refiner from the rule options ``(rule folders, RULE.SETTING=VALUE
#: assignments, number plan file, config file, trunk map)``; set by :mod:`sigdiag.cli` (to
#: :func:`sigdiag.rules.cli.outcome_refiner_for`).  Without it the outcomes are the cause-based classes.
RULE_REFINER: Callable[..., Any] | None = None


class GroupBy(StrEnum):
    trunk = "trunk"
    opc_dpc = "opc-dpc"
    hour = "hour"
    cause = "cause"
    prefix = "prefix"


def _split_set(assignments: list[str] | None) -> tuple[list[str], list[str]]:
    """``--set`` values: correlation settings ``NAME=VALUE`` and rule settings ``RULE.SETTING=VALUE`` (a
    dot in the name)."""
    calls: list[str] = []
    rules: list[str] = []
    for item in assignments or []:
        (rules if "." in item.partition("=")[0] else calls).append(item)
    return calls, rules


def _call_settings(assignments: list[str] | None, **options: Any) -> Any:
    from sigdiag.calls.settings import CallSettings
    from sigdiag.settings import ConfigError

    try:
        return CallSettings().with_assignments(assignments).with_options(**options)
    except ConfigError as exc:
        raise fail(str(exc)) from None


def _outcomes(path: Path | None) -> Any:
    from sigdiag.calls.outcomes import load_outcomes
    from sigdiag.settings import ConfigError

    try:
        return load_outcomes(path)
    except ConfigError as exc:
        raise fail(str(exc)) from None


def _refiners(
    registered: list[Any],
    rules: list[Path] | None,
    rule_set: list[str],
    number_plan: Path | None,
    config: Path | None,
    trunks: Any = None,
) -> list[Any]:
    """The registered refiners, then the outcome overrides of the diagnosis rules (shipped rules plus
    ``--rules``, with the number plan and rule settings), as ``check`` applies them."""
    if RULE_REFINER is None:  # pragma: no cover - sigdiag.cli always sets it
        if rules or rule_set or number_plan is not None:
            raise fail("--rules, --number-plan and rule settings need the diagnosis rules (sigdiag.cli)")
        return list(registered)
    return [*registered, RULE_REFINER(rules, rule_set, number_plan, config, trunks)]


def _set_clock(refiners: list[Any], correlator: Any) -> None:
    """Refiners with a clock (the rules' refiner) read the capture end of open calls from the file's
    correlator, as in ``check``."""
    for r in refiners:
        if hasattr(r, "clock"):
            r.clock = lambda c=correlator: c.now


#: finished calls held back between two looks at the calls still open (:func:`by_start`)
_WATERMARK_EVERY = 256


def by_start(reader: Any) -> Iterator[Any]:
    """The calls of a :class:`~sigdiag.calls.pipeline.CallReader` in start (IAM) time order, streaming.

    Calls come out of the correlator when they end, a batch of messages at a time.  A finished call is
    held until no call can still come out with an earlier start.  A look at the correlator after a batch
    (``mark``: the earliest start of the calls still open, and the latest time stamp less the reorder
    window for IAMs not yet read) bounds every call not yet handed out, except those that ended in that
    same batch and are still on their way: those were open, or not yet started, at the previous look.  So
    the calls that started before both marks go out.  Memory: the calls that ended while an earlier one
    was still open."""
    correlator = reader.correlator
    slack = correlator.reorder_window + 1.0
    heap: list[tuple[float, int, Any]] = []
    previous = float("-inf")  # the mark of the previous look
    looked_at = -1  # messages read at the previous look (one look per batch at most)
    for seq, call in enumerate(reader, 1):
        heapq.heappush(heap, (call.start, seq, call))
        if seq % _WATERMARK_EVERY == 0 or len(heap) > 4 * _WATERMARK_EVERY:
            messages = correlator.messages
            if messages == looked_at:
                continue
            looked_at = messages
            mark = correlator.now - slack
            for open_call in correlator.table.values():
                if open_call.start < mark:
                    mark = open_call.start
            for waiting in correlator.done:  # ended, held back for the cross-link window (take)
                if waiting.start < mark:
                    mark = waiting.start
            limit = min(mark, previous)
            previous = mark
            while heap and heap[0][0] < limit:
                yield heapq.heappop(heap)[2]
    while heap:
        yield heapq.heappop(heap)[2]


def _open(files: list[Path], make: Any) -> list[tuple[Path, Any]]:
    """Open every file before writing anything, so a file that is not a capture fails first."""
    from sigdiag.capture import CaptureError

    readers = []
    for path in files:
        try:
            readers.append((path, make(path)))
        except CaptureError as exc:
            raise fail(str(exc)) from None
    return readers


def _summary(readers: list[tuple[Path, Any]], per_file: list[dict[str, int]]) -> None:
    """Decoding anomalies, then one line per file: calls by outcome (and the ASR of those that ended),
    duplicates, orphans, evictions."""
    from sigdiag.calls.report import pct_text
    from sigdiag.cli import _report_anomalies

    _report_anomalies([(p, r.reader) for p, r in readers], 0)
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


def _write(rows: Any, fmt: str, output: Path | None, columns: list[str], table_columns: Any) -> int:
    from sigdiag.capture import CaptureError
    from sigdiag.report import write_rows

    try:
        if fmt == "parquet":
            return write_rows(rows, fmt, None, str(output), columns, table_columns)
        if output is None:
            return write_rows(rows, fmt, sys.stdout, None, columns, table_columns)
        with open(output, "w", encoding="utf-8", newline="") as out:
            return write_rows(rows, fmt, out, None, columns, table_columns)
    except CaptureError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        if output is None:  # standard output closed (a pager quit): sigdiag.cli.main ends quietly
            raise
        raise fail(f"cannot write {output}: {exc.strerror}") from None


SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Correlation setting NAME=VALUE (repeatable): duplicate_window_ms, cross_link_window_ms, "
        "reorder_window_ms, linger_ms, t7_s, ack_window_s, glare_window_ms, effective_s, repeat_window_s, "
        "max_open_calls, prefix_digits (docs/calls.md); or a rule setting RULE.SETTING=VALUE as for "
        "sigdiag check.",
        show_default=False,
    ),
]
RulesOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--rules",
        help="A folder of extra rule files (repeatable): their outcome overrides refine the outcomes.",
        show_default=False,
    ),
]
NumberPlanOpt = Annotated[
    Path | None,
    typer.Option(
        "--number-plan",
        help="YAML with valid_prefixes: [...] (rule unallocated-valid-prefix), as for sigdiag check.",
        show_default=False,
    ),
]
OutcomesOpt = Annotated[
    Path | None,
    typer.Option(
        "--outcomes", help="Outcome classification file [default: rules/outcomes.yaml].", show_default=False
    ),
]
# (the texts of sigdiag.cli.CIC_HELP and NUMBER_HELP: this module may be imported before sigdiag.cli)
CicOpt = Annotated[
    int | None,
    typer.Option(
        "--cic",
        help="Only calls on this CIC. 0-4294967295: ISUP CICs are 0-4095 (ITU, 12 bits) or 0-16383 "
        "(ANSI, 14 bits); BICC call instance codes have 32 bits (the protocol is known only from the "
        "traffic, so the widest is accepted).",
    ),
]
NumberOpt = Annotated[
    str | None,
    typer.Option(
        "--number",
        help="Only calls whose called (IAM + SAM digits) or calling number contains this. Digits 0-9, "
        "* and # (read as B and C, code 11 and 12), and the other hex digits A-F that ISUP carries "
        "alongside digits.",
    ),
]


def calls_command(
    files: Annotated[
        list[Path], typer.Argument(help="Capture files (pcap, pcapng, optionally gzip-compressed).")
    ],
    format: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = "table",  # type: ignore[assignment]  # Typer turns it into OutputFormat.table
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of standard output.")
    ] = None,
    cic: CicOpt = None,
    number: NumberOpt = None,
    outcome: Annotated[
        list[str] | None,
        typer.Option("--outcome", help="Only calls with these outcomes (repeatable), e.g. network."),
    ] = None,
    set_: SetOpt = None,
    rules: RulesOpt = None,
    number_plan: NumberPlanOpt = None,
    outcomes: OutcomesOpt = None,
    pc_format: PcFormatOpt = None,
    variant: VariantOpt = None,
    pc_display: PcDisplayOpt = None,
    mtp2_fcs: Mtp2FcsOpt = None,
    m3ua_version: M3uaOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Correlate messages into calls and say how each call ended.

    One row per call (IAM), in start-time order, with its numbers, times, release cause, outcome
    (answered, subscriber, caller, network, unknown; refined by the diagnosis rules as in sigdiag check)
    and delays; the keys are listed in docs/calls.md.  Orphan messages, duplicates and evictions are
    summarised on standard error.
    """
    from sigdiag.calls.correlate import CALL_KEYS
    from sigdiag.calls.outcomes import OUTCOMES
    from sigdiag.calls.pipeline import REFINERS, CallFilter, CallReader
    from sigdiag.calls.report import call_table_columns

    number = check_number(number)
    cic = check_cic(cic)
    dsettings = _settings(config, pc_format, variant, pc_display, mtp2_fcs, m3ua_version)
    if format == "parquet" and output is None:
        raise fail("--format parquet needs --output PATH")
    for o in outcome or []:
        if o not in OUTCOMES:
            raise fail(f"--outcome must be one of {', '.join(OUTCOMES)}, not {o!r}")
    call_set, rule_set = _split_set(set_)
    settings = _call_settings(call_set, keep_messages=bool(REFINERS))
    table = _outcomes(outcomes)
    refiners = _refiners(REFINERS, rules, rule_set, number_plan, config)
    flt = CallFilter(cic=cic, number=number, outcomes=outcome)
    keep = flt if flt.active else None
    readers = _open(files, lambda p: CallReader(p, dsettings, settings, table, refiners, keep))
    several = len(files) > 1
    columns = (["file"] if several else []) + list(CALL_KEYS)
    table_columns = call_table_columns(dsettings.pc_display, dsettings.pc_format, with_file=several)
    per_file: list[dict[str, int]] = [{} for _ in readers]

    def rows() -> Any:
        for (path, reader), counts in zip(readers, per_file, strict=True):
            _set_clock(refiners, reader.correlator)
            for call in by_start(reader):
                counts[call.outcome] = counts.get(call.outcome, 0) + 1
                row = call.as_dict()
                yield {"file": str(path), **row} if several else row

    _write(rows(), format.value, output, columns, table_columns)
    _summary(readers, per_file)


def stats_command(
    files: Annotated[
        list[Path], typer.Argument(help="Capture files (pcap, pcapng, optionally gzip-compressed).")
    ],
    by: Annotated[
        GroupBy | None,
        typer.Option("--by", help="Group rows by trunk, opc-dpc, hour (UTC), cause or called-number prefix."),
    ] = None,
    trunks: Annotated[
        Path | None,
        typer.Option("--trunks", help="Trunk map YAML (name, opc, dpc, cic ranges).", show_default=False),
    ] = None,
    effective_seconds: Annotated[
        float | None,
        typer.Option(
            "--effective-seconds",
            min=0,
            help="Conversation time that makes an answered call effective [default: 10].",
            show_default=False,
        ),
    ] = None,
    prefix_digits: Annotated[
        int | None,
        typer.Option(
            "--prefix-digits", min=1, help="Prefix length for --by prefix [default: 4].", show_default=False
        ),
    ] = None,
    format: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = "table",  # type: ignore[assignment]  # Typer turns it into OutputFormat.table
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of standard output.")
    ] = None,
    cic: CicOpt = None,
    number: NumberOpt = None,
    set_: SetOpt = None,
    rules: RulesOpt = None,
    number_plan: NumberPlanOpt = None,
    outcomes: OutcomesOpt = None,
    pc_format: PcFormatOpt = None,
    variant: VariantOpt = None,
    pc_display: PcDisplayOpt = None,
    mtp2_fcs: Mtp2FcsOpt = None,
    m3ua_version: M3uaOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Call KPIs: seizures, ASR, NER, connection rate, network loss, effective calls, PDD, top causes.

    One row per group, or one row for all calls of all files without --by.  Open calls (outcome
    unknown) count as seizures but in no rate.  Outcomes are refined by the diagnosis rules as in
    sigdiag check (--rules, --number-plan, --set RULE.SETTING=VALUE).  The keys and their definitions are
    in docs/calls.md.
    """
    from sigdiag.calls.pipeline import REFINERS, CallFilter, CallReader
    from sigdiag.calls.report import stats_table_columns
    from sigdiag.calls.stats import STATS_KEYS, StatsAccumulator, load_trunks
    from sigdiag.capture import CaptureError
    from sigdiag.settings import ConfigError

    number = check_number(number)
    cic = check_cic(cic)
    dsettings = _settings(config, pc_format, variant, pc_display, mtp2_fcs, m3ua_version)
    if format == "parquet" and output is None:
        raise fail("--format parquet needs --output PATH")
    call_set, rule_set = _split_set(set_)
    settings = _call_settings(
        call_set, effective_s=effective_seconds, prefix_digits=prefix_digits, keep_messages=bool(REFINERS)
    )
    table = _outcomes(outcomes)
    tmap = None
    if trunks is not None:
        try:
            tmap = load_trunks(trunks)
        except ConfigError as exc:
            raise fail(str(exc)) from None
    refiners = _refiners(REFINERS, rules, rule_set, number_plan, config, tmap)
    flt = CallFilter(cic=cic, number=number)
    keep = flt if flt.active else None
    readers = _open(files, lambda p: CallReader(p, dsettings, settings, table, refiners, keep))
    acc = StatsAccumulator(by.value if by else None, tmap, settings, dsettings.pc_display)
    per_file: list[dict[str, int]] = [{} for _ in readers]
    try:
        for (_, reader), counts in zip(readers, per_file, strict=True):
            _set_clock(refiners, reader.correlator)
            for call in reader:
                counts[call.outcome] = counts.get(call.outcome, 0) + 1
                acc.add(call)
    except CaptureError as exc:
        raise fail(str(exc)) from None
    _write(iter(acc.rows()), format.value, output, list(STATS_KEYS), stats_table_columns())
    _summary(readers, per_file)


# The shared option types and helpers of ``sigdiag decode`` (see the module docstring for why here).
from sigdiag.cli import (  # noqa: E402
    ConfigOpt,
    M3uaOpt,
    Mtp2FcsOpt,
    OutputFormat,
    PcDisplayOpt,
    PcFormatOpt,
    VariantOpt,
    _settings,
    check_cic,
    check_number,
    fail,
)
