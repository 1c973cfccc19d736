"""The ``sigdiag`` command line: a thin layer on the library.

Exit codes (every command):

* 0 — success (decoding anomalies are reported on standard error and do not change the code)
* 1 — the command ran and found what it was asked to flag (``check --fail-on``; later issues)
* 2 — usage or input error: a file that is not a capture, an unreadable file, a bad option or config file

Heavy modules (pandas, pyarrow) are imported inside the commands that need them, so ``sigdiag --help``
stays fast.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["app", "main"]

app = typer.Typer(
    name="sigdiag",
    help="Decode, correlate, diagnose and audit SS7 ISUP/BICC signalling from packet captures.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class OutputFormat(StrEnum):
    table = "table"
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"


class PcFormat(StrEnum):
    auto = "auto"
    itu = "itu"
    ansi = "ansi"
    china = "china"
    japan = "japan"


class Variant(StrEnum):
    itu = "itu"
    ansi = "ansi"


class PcDisplay(StrEnum):
    decimal = "decimal"
    structured = "structured"


class Tristate(StrEnum):
    auto = "auto"
    yes = "yes"
    no = "no"


class M3uaVersion(StrEnum):
    auto = "auto"
    rfc = "rfc"
    draft6 = "draft6"


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line error and return the Exit to raise."""
    typer.echo(f"sigdiag: error: {message}", err=True)
    return typer.Exit(code)


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


# Shared decoding options (every command that reads captures takes them).
PcFormatOpt = Annotated[
    PcFormat | None,
    typer.Option(
        "--pc-format",
        help="Point-code format of MTP3 routing labels (default: auto, decided per link from the traffic).",
        show_default=False,
    ),
]
VariantOpt = Annotated[
    Variant | None,
    typer.Option(
        "--variant", help="ISUP variant (default: ansi with --pc-format ansi, else itu).", show_default=False
    ),
]
PcDisplayOpt = Annotated[
    PcDisplay | None,
    typer.Option(
        "--pc-display", help="Show point codes as decimal or structured (3-8-3, 8-8-8).", show_default=False
    ),
]
Mtp2FcsOpt = Annotated[
    Tristate | None,
    typer.Option(
        "--mtp2-fcs", help="MTP2 frames end with a 2-octet FCS: auto-detect, yes or no.", show_default=False
    ),
]
M3uaOpt = Annotated[
    M3uaVersion | None,
    typer.Option(
        "--m3ua-version", help="M3UA layout: auto-detect, RFC 4666 or IETF draft 6.", show_default=False
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", help="YAML settings file (per-link point-code formats; see docs).", show_default=False
    ),
]


def _settings(
    config: Path | None,
    pc_format: PcFormat | None,
    variant: Variant | None,
    pc_display: PcDisplay | None,
    mtp2_fcs: Tristate | None,
    m3ua_version: M3uaVersion | None,
) -> Any:
    from sigdiag.decode import resolve_settings
    from sigdiag.settings import ConfigError

    try:
        return resolve_settings(
            None,
            config,
            pc_format=pc_format.value if pc_format else None,
            variant=variant.value if variant else None,
            pc_display=pc_display.value if pc_display else None,
            mtp2_fcs=mtp2_fcs.value if mtp2_fcs else None,
            m3ua_version=m3ua_version.value if m3ua_version else None,
        )
    except ConfigError as exc:
        raise fail(str(exc)) from None


@app.command()
def decode(
    files: Annotated[
        list[Path], typer.Argument(help="Capture files (pcap, pcapng, optionally gzip-compressed).")
    ],
    format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.")
    ] = OutputFormat.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of standard output.")
    ] = None,
    cic: Annotated[int | None, typer.Option("--cic", help="Only messages on this CIC." + CIC_HELP)] = None,
    number: Annotated[
        str | None,
        typer.Option(
            "--number",
            help="Only calls whose called (IAM + SAM digits) or calling number contains this." + NUMBER_HELP,
        ),
    ] = None,
    type: Annotated[
        list[str] | None,
        typer.Option("--type", "-t", help="Only these message types (repeatable), e.g. IAM."),
    ] = None,
    pc_format: PcFormatOpt = None,
    variant: VariantOpt = None,
    pc_display: PcDisplayOpt = None,
    mtp2_fcs: Mtp2FcsOpt = None,
    m3ua_version: M3uaOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Decode every ISUP/BICC message, field for field.

    JSON Lines rows have the keys frame, ts, carrier, protocol, variant, opc, dpc, ni, sls, link, cic,
    type, type_code, called, called_complete, calling, subsequent, cause, cause_location, anomalies, params
    (and file, when several files are given).
    """
    from sigdiag.decode import CaptureError, MessageFilter, read_messages
    from sigdiag.report import write_rows
    from sigdiag.report.messages import MESSAGE_COLUMNS, message_table_columns

    number = check_number(number)
    cic = check_cic(cic)
    settings = _settings(config, pc_format, variant, pc_display, mtp2_fcs, m3ua_version)
    if format is OutputFormat.parquet and output is None:
        raise fail("--format parquet needs --output PATH")
    flt = MessageFilter(cic=cic, types=type, number=number)
    readers: list[tuple[Path, Any]] = []
    for path in files:  # fail on a file that is not a capture before writing anything
        try:
            readers.append((path, read_messages(path, settings=settings)))
        except CaptureError as exc:
            raise fail(str(exc)) from None
    several = len(files) > 1
    columns = (["file"] if several else []) + list(MESSAGE_COLUMNS)
    table_columns = message_table_columns(settings, with_file=several)

    def rows() -> Any:
        for idx, (path, _) in enumerate(readers):

            def make(path: Path = path, idx: int = idx) -> Any:
                reader = read_messages(path, settings=settings)
                readers[idx] = (path, reader)  # the last pass's reader holds the anomalies
                return reader

            for m in flt.apply(make):
                row = m.as_dict()
                yield {"file": str(path), **row} if several else row

    try:
        if format is OutputFormat.parquet:
            n = write_rows(rows(), format.value, None, str(output), columns, table_columns)
        elif output is None:
            n = write_rows(rows(), format.value, sys.stdout, None, columns, table_columns)
        else:
            with open(output, "w", encoding="utf-8", newline="") as out:
                n = write_rows(rows(), format.value, out, None, columns, table_columns)
    except CaptureError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror}") from None
    _report_anomalies(readers, n)


def _report_anomalies(readers: list[tuple[Path, Any]], messages: int) -> None:
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


@app.command()
def version() -> None:
    """Print the sigdiag version."""
    from sigdiag import __version__

    typer.echo(__version__)


def _register_commands() -> None:
    """Commands whose code lives with their stage; importing them is cheap (heavy imports are inside)."""
    from sigdiag.audit.cli import audit_app
    from sigdiag.calls import cli as calls_cli
    from sigdiag.calls.cli import calls_command, stats_command
    from sigdiag.rules.cli import check_command, outcome_refiner_for, rules_app
    from sigdiag.simulate.cli import simulate_command

    calls_cli.RULE_REFINER = outcome_refiner_for  # calls/stats refine outcomes as check does

    app.command("calls")(calls_command)
    app.command("stats")(stats_command)
    app.command("check")(check_command)
    app.add_typer(rules_app, name="rules")
    app.command("simulate")(simulate_command)
    app.add_typer(audit_app, name="audit")


_register_commands()


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
