"""What the ``sigdiag`` commands share: option types, option checks, one-line errors, decoding settings,
output writing and the standard-error summaries.

Every error a command reports is one line, ``sigdiag: error: ...``, with exit code 2 (:func:`fail`,
:func:`failing_on`).  Only ``typer`` is imported at module level: the library is imported inside the
functions, so ``sigdiag --help`` stays fast.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, is_dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, get_type_hints

import typer

if TYPE_CHECKING:
    from sigdiag.calls.stats import TrunkMap
    from sigdiag.settings import DecodeSettings

__all__ = [
    "CIC_HELP",
    "NO_DECODE_OPTIONS",
    "NUMBER_HELP",
    "PC_HELP",
    "TABLE_TO_STDOUT",
    "DecodeOptions",
    "OutputFormat",
    "OutputOptions",
    "check_cic",
    "check_number",
    "check_pc",
    "fail",
    "failing_on",
    "open_all",
    "quiet_option",
    "report_anomalies",
    "report_links",
    "split_set",
    "trunk_map",
    "with_option_groups",
    "write_output",
]


OutputFormat = StrEnum("OutputFormat", ["table", "jsonl", "csv", "parquet"])
PcFormat = StrEnum("PcFormat", ["auto", "itu", "ansi", "china", "japan"])
Variant = StrEnum("Variant", ["itu", "ansi"])
PcDisplay = StrEnum("PcDisplay", ["decimal", "structured"])
Tristate = StrEnum("Tristate", ["auto", "yes", "no"])
M3uaVersion = StrEnum("M3uaVersion", ["auto", "rfc", "draft6"])


def plain_help(text: str) -> str:
    """Help text shown as written: Typer reads help as Rich markup, where ``[default: 4]`` would be a
    style tag and vanish; an escaped bracket is shown as a bracket."""
    return text.replace("[", "\\[")


def quiet_option(*names: str, help: str, **settings: Any) -> Any:
    """A Typer option whose help says its default itself (``[default: ...]`` in the text, or none)."""
    return typer.Option(*names, show_default=False, help=plain_help(help), **settings)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line error and return the Exit to raise."""
    typer.echo(f"sigdiag: error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def failing_on(*errors: type[Exception]) -> Iterator[None]:
    """Inside the block, ``errors`` become the one-line error and exit code 2 (:func:`fail`)."""
    try:
        yield
    except errors as exc:
        raise fail(str(exc)) from None


# -- option values checked where they enter (one-line errors naming the option and what it takes) -----

#: The characters of a dialled number as ISUP carries it: digits, the hex digits A-F (code 11 and 12
#: are B and C) and ``*``/``#`` for B/C.
NUMBER_CHARACTERS = frozenset("0123456789abcdefABCDEF*#")
#: The widest CIC: BICC's 32-bit call instance code (ISUP: ITU 12 bits 0-4095, ANSI 14 bits 0-16383).
CIC_MAX = 0xFFFFFFFF
ISUP_CIC_MAX = 0x3FFF

NUMBER_HELP = (
    " Digits 0-9, * and # (read as B and C, code 11 and 12), and the other hex digits A-F that ISUP"
    " carries alongside digits."
)
CIC_HELP = (
    " 0-4294967295: ISUP CICs are 0-4095 (ITU, 12 bits) or 0-16383 (ANSI, 14 bits); BICC call instance"
    " codes have 32 bits (the protocol is known only from the traffic, so the widest is accepted)."
)

PC_HELP = (
    " Decimal, hex (0x...) or structured (3-8-3 ITU, 8-8-8 ANSI/China, 7-4-5 Japan) within the"
    " point-code format (--pc-format; auto: up to 24 bits)."
)


def check_number(value: str | None, option: str = "--number") -> str | None:
    """A dialled-number filter as the decoder shows digits (upper-case hex, ``*`` as B, ``#`` as C);
    :func:`fail` naming the option otherwise."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        raise fail(f"{option} needs digits (0-9, A-F, * or #), not an empty string")
    bad = sorted({c for c in text if c not in NUMBER_CHARACTERS})
    if bad:
        shown = ", ".join(repr(c) for c in bad[:5])
        raise fail(f"{option} takes dialled digits only (0-9, A-F, * and #), not {shown} in {value!r}")
    if text.isalpha():  # "abc", "face": a word, not a number (A-F come with digits, * or #)
        raise fail(
            f"{option} {value!r} has no digit: a number has digits 0-9, * or #; the hex digits A-F "
            "that ISUP carries come with them (e.g. 0B12)"
        )
    return text.upper().replace("*", "B").replace("#", "C")


def check_cic(value: int | None, option: str = "--cic") -> int | None:
    """A CIC filter: 0-4294967295 (BICC's 32 bits; a warning above ISUP's 16383)."""
    if value is None:
        return None
    if not 0 <= value <= CIC_MAX:
        raise fail(
            f"{option} must be a circuit identification code from 0 to {CIC_MAX} (ITU ISUP 0-4095, "
            f"ANSI ISUP 0-16383, BICC 32 bits), not {value}"
        )
    if value > ISUP_CIC_MAX:
        typer.echo(
            f"sigdiag: warning: {option} {value} is above {ISUP_CIC_MAX}, the largest ISUP CIC "
            "(ITU 0-4095, ANSI 0-16383): only BICC call instance codes can match",
            err=True,
        )
    return value


def check_pc(value: str | None, option: str, pc_format: str) -> int | None:
    """A point-code filter in ``pc_format`` (``auto``: up to 24 bits); :func:`fail` naming the option
    and the allowed values otherwise."""
    if value is None:
        return None
    from sigdiag.carrier.mtp import PC_BITS, parse_pc

    try:
        return parse_pc(value, pc_format)
    except ValueError as exc:
        if pc_format in PC_BITS:
            bits = PC_BITS[pc_format]
            shape = {"itu": "3-8-3", "japan": "7-4-5"}.get(pc_format, "8-8-8")
            allowed = f"0-{(1 << bits) - 1} or {shape} for the {pc_format} format"
        else:
            allowed = f"0-{(1 << 24) - 1} (up to 24 bits), 3-8-3 (ITU) or 8-8-8 (ANSI, China)"
        raise fail(
            f"{option}: {exc}; a point code is decimal, hex (0x...) or structured: {allowed}"
        ) from None


def split_set(assignments: list[str] | None) -> tuple[list[str], list[str]]:
    """``--set`` values: correlation settings ``NAME=VALUE`` and rule settings ``RULE.SETTING=VALUE`` (a
    dot in the name)."""
    calls: list[str] = []
    rules: list[str] = []
    for item in assignments or []:
        (rules if "." in item.partition("=")[0] else calls).append(item)
    return calls, rules


def trunk_map(path: Path | None) -> TrunkMap | None:
    """The ``--trunks`` map (None without the option)."""
    if path is None:
        return None
    from sigdiag.calls.stats import load_trunks
    from sigdiag.settings import ConfigError

    with failing_on(ConfigError):
        return load_trunks(path)


# -- options shared by several commands --------------------------------------------------------------------
FilesArg = Annotated[
    list[Path], typer.Argument(help="Capture files (pcap, pcapng, optionally gzip-compressed).")
]
FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file instead of standard output.")
]
NumberOpt = Annotated[
    str | None,
    typer.Option(
        "--number",
        help="Only calls whose called (IAM + SAM digits) or calling number contains this." + NUMBER_HELP,
    ),
]
TrunksOpt = Annotated[
    Path | None,
    quiet_option("--trunks", help="Trunk map YAML (name, opc, dpc, cic ranges)."),
]
SetOpt = Annotated[
    list[str] | None,
    quiet_option(
        "--set",
        help="Correlation setting NAME=VALUE (repeatable): duplicate_window_ms, cross_link_window_ms, "
        "reorder_window_ms, linger_ms, t7_s, ack_window_s, glare_window_ms, effective_s, repeat_window_s, "
        "max_open_calls, prefix_digits (docs/calls.md); or a rule setting RULE.SETTING=VALUE as for "
        "sigdiag check.",
    ),
]
OutcomesOpt = Annotated[
    Path | None,
    quiet_option(
        "--outcomes", help="Outcome classification file [default: the shipped sigdiag/calls/outcomes.yaml]."
    ),
]


# -- option groups: options that travel together, one parameter of the command ----------------------------
Command = TypeVar("Command", bound=Callable[..., Any])


@functools.cache
def _group_options(group: type[Any]) -> list[inspect.Parameter]:
    """The options of an option group, as parameters of a command's signature (once per group)."""
    kinds = get_type_hints(group, include_extras=True)
    return [
        inspect.Parameter(
            f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=f.default, annotation=kinds[f.name]
        )
        for f in fields(group)
    ]


def with_option_groups(command: Command) -> Command:
    """Give a command its option groups: each parameter whose annotation is an option group (a dataclass
    whose fields are annotated as Typer options, e.g. ``decode: DecodeOptions``) stands, in the command's
    signature (so in its ``--help``, in that place), for the group's fields, one option each; the command
    gets them as one instance of the group."""
    signature = inspect.signature(command, eval_str=True)
    params: list[inspect.Parameter] = []
    groups: dict[str, tuple[Callable[..., Any], list[str]]] = {}
    for p in signature.parameters.values():
        group = p.annotation
        if not (isinstance(group, type) and is_dataclass(group)):
            params.append(p)
            continue
        options = _group_options(group)
        groups[p.name] = (group, [o.name for o in options])
        params += options

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        for name, (make, names) in groups.items():
            kwargs[name] = make(**{n: kwargs.pop(n) for n in names if n in kwargs})
        return command(*args, **kwargs)

    run.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    return run  # type: ignore[return-value]


@dataclass(frozen=True)
class DecodeOptions:
    """The decoding options of a command line (None: not given); every command that reads captures takes
    them (:func:`with_option_groups`)."""

    pc_format: Annotated[
        PcFormat | None,
        quiet_option(
            "--pc-format",
            help="Point-code format of MTP3 routing labels (default: auto, decided per link from the "
            "traffic).",
        ),
    ] = None
    variant: Annotated[
        Variant | None,
        quiet_option(
            "--variant",
            help="ISUP variant (default: ansi with --pc-format ansi, else itu).",
        ),
    ] = None
    pc_display: Annotated[
        PcDisplay | None,
        quiet_option(
            "--pc-display",
            help="Show point codes as decimal or structured (3-8-3, 8-8-8).",
        ),
    ] = None
    mtp2_fcs: Annotated[
        Tristate | None,
        quiet_option(
            "--mtp2-fcs",
            help="MTP2 frames end with a 2-octet FCS: auto-detect, yes or no.",
        ),
    ] = None
    m3ua_version: Annotated[
        M3uaVersion | None,
        quiet_option("--m3ua-version", help="M3UA layout: auto-detect, RFC 4666 or IETF draft 6."),
    ] = None
    config: Annotated[
        Path | None,
        quiet_option("--config", help="YAML settings file (per-link point-code formats; see docs)."),
    ] = None

    def values(self) -> dict[str, str | None]:
        """The options other than ``config`` as the library takes them (None: not given)."""
        out: dict[str, str | None] = {}
        for f in fields(self):
            if f.name != "config":
                value = getattr(self, f.name)
                out[f.name] = None if value is None else value.value
        return out

    def settings(self) -> DecodeSettings:
        """The decoding settings: the config file, then the options (a bad one is a one-line error)."""
        from sigdiag.decode import resolve_settings
        from sigdiag.settings import ConfigError

        with failing_on(ConfigError):
            return resolve_settings(None, self.config, **self.values())


#: The default of a command's ``decode`` parameter (:func:`with_option_groups` always passes it).
NO_DECODE_OPTIONS = DecodeOptions()


@dataclass(frozen=True)
class OutputOptions:
    """Where and how a command writes its rows: ``--format`` and ``--output`` (:func:`write_output`)."""

    format: FormatOpt = OutputFormat.table
    output: OutputOpt = None

    def check(self) -> None:
        """Parquet is written to a file only."""
        if self.format == OutputFormat.parquet and self.output is None:
            raise fail("--format parquet needs --output PATH")


#: The default of a command's ``out`` parameter (:func:`with_option_groups` always passes it).
TABLE_TO_STDOUT = OutputOptions()


# -- input and output ----------------------------------------------------------------------------------
def open_all(files: list[Path], make: Callable[[Path], Any]) -> list[tuple[Path, Any]]:
    """``make(path)`` for every file before anything is written, so a file that is not a capture fails
    first (one line, exit code 2)."""
    from sigdiag.capture import CaptureError

    with failing_on(CaptureError):
        return [(path, make(path)) for path in files]


def write_output(
    rows: Iterable[dict[str, Any]], out: OutputOptions, columns: list[str], table_columns: Any
) -> int:
    """Write the rows in ``out.format`` to ``out.output`` or standard output
    (:func:`sigdiag.report.write_rows`); returns how many."""
    from sigdiag.capture import CaptureError
    from sigdiag.report import write_rows

    fmt, output = out.format.value, out.output
    try:
        if fmt == "parquet":
            return write_rows(rows, fmt, None, str(output), columns, table_columns)
        if output is None:
            return write_rows(rows, fmt, sys.stdout, None, columns, table_columns)
        with open(output, "w", encoding="utf-8", newline="") as file:
            return write_rows(rows, fmt, file, None, columns, table_columns)
    except CaptureError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        if output is None:  # standard output closed (a pager quit): sigdiag.cli.main ends quietly
            raise
        raise fail(f"cannot write {output}: {exc.strerror}") from None


def report_anomalies(readers: list[tuple[Path, Any]]) -> None:
    """The standard-error summary of each file's message reader: its links (:func:`report_links`), then
    its decoding anomalies (the first 20)."""
    for path, reader in readers:
        report_links(path, reader.links, several=len(readers) > 1)
        if reader.anomaly_count:
            shown = reader.anomalies[:20]
            typer.echo(f"sigdiag: warning: {path}: {reader.anomaly_count} decoding anomalies", err=True)
            for a in shown:
                typer.echo(f"  {a}", err=True)
            if reader.anomaly_count > len(shown):
                typer.echo(f"  ... and {reader.anomaly_count - len(shown)} more", err=True)


def report_links(path: Path, links: list[Any], several: bool = False) -> None:
    """The per-link lines of a command's standard-error summary (point-code format, how it was decided,
    messages, anomalous share) and a WARNING line for each low-confidence link
    (:class:`sigdiag.decode.LinkReport`).  The exit status does not change: the warning is the signal."""
    prefix = f"sigdiag: {path}: " if several else "sigdiag: "
    for link in links:
        typer.echo(f"{prefix}link {link.summary()}", err=True)
    for link in links:
        if link.low_confidence:
            typer.echo(f"{prefix}WARNING: {link.warning()}", err=True)
