"""``sigdiag decode``: every ISUP/BICC message of the captures, field for field
(:func:`sigdiag.decode.read_messages`)."""

from __future__ import annotations

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
    OutputOptions,
    check_cic,
    check_number,
    open_all,
    report_anomalies,
    with_option_groups,
    write_output,
)

__all__ = ["decode_command"]

CicOpt = Annotated[int | None, typer.Option("--cic", help="Only messages on this CIC." + CIC_HELP)]


@with_option_groups
def decode_command(
    files: FilesArg,
    out: OutputOptions = TABLE_TO_STDOUT,
    cic: CicOpt = None,
    number: NumberOpt = None,
    type: Annotated[
        list[str] | None,
        typer.Option("--type", "-t", help="Only these message types (repeatable), e.g. IAM."),
    ] = None,
    decode: DecodeOptions = NO_DECODE_OPTIONS,
) -> None:
    """Decode every ISUP/BICC message, field for field.

    JSON Lines rows have the keys frame, ts, carrier, protocol, variant, opc, dpc, ni, sls, link, cic,
    type, type_code, called, called_complete, calling, subsequent, cause, cause_location, anomalies, params
    (and file, when several files are given).
    """
    from sigdiag.decode import MessageFilter, read_messages
    from sigdiag.report.messages import MESSAGE_COLUMNS, message_table_columns

    number = check_number(number)
    cic = check_cic(cic)
    settings = decode.settings()
    out.check()
    flt = MessageFilter(cic=cic, types=type, number=number)
    readers = open_all(files, lambda path: read_messages(path, settings=settings))
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

    write_output(rows(), out, columns, table_columns)
    report_anomalies(readers)
