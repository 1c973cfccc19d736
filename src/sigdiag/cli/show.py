"""``sigdiag show``: the whole decode tree of one frame (:func:`sigdiag.report.dissect.frame_tree`)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from sigdiag.cli.common import NO_DECODE_OPTIONS, DecodeOptions, fail, failing_on, with_option_groups

__all__ = ["show_command"]

ShowFormat = StrEnum("ShowFormat", ["text", "json"])


@with_option_groups
def show_command(
    capture: Annotated[
        Path,
        typer.Argument(
            help="Capture file (pcap, pcapng, optionally gzip-compressed), or an audit output folder "
            "(with --call)."
        ),
    ],
    frame: Annotated[
        int | None, typer.Option("--frame", "-n", help="Frame number (1-based, as in Wireshark).")
    ] = None,
    call: Annotated[
        str | None,
        typer.Option(
            "--call",
            help="Show every frame of this call (its id as calls and check print it); in an audit folder "
            "the call is found through its calls table, across the rotated files.  With --frame: only "
            "that frame of the call.",
        ),
    ] = None,
    format: Annotated[ShowFormat, typer.Option("--format", "-f", help="Output format.")] = ShowFormat.text,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of standard output.")
    ] = None,
    decode: DecodeOptions = NO_DECODE_OPTIONS,
) -> None:
    """Show the whole decode tree of one frame: capture record, link layer, IP, SCTP (chunks, TSN,
    stream, PPID) or UDP/TCP and SIP, M3UA/M2PA/M2UA or MTP2, the MTP3 routing label, then the ISUP/BICC
    message: CIC, message type and each parameter (code, name, length, raw octets, decoded fields) in
    wire order, with anomalies named.  A frame without signalling shows the layers that decode and what
    stopped.  With --call, every frame of a call, in a capture or an audit folder."""
    import json

    from sigdiag.capture import CaptureError
    from sigdiag.report.dissect import FrameNotFound, frame_tree
    from sigdiag.report.dissect_text import tree_text

    if frame is not None and frame < 1:
        raise fail(f"--frame must be a frame number from 1, not {frame}")
    if call is not None:
        trees = _call_trees(capture, call, frame, decode)
        if format == ShowFormat.json:
            text = json.dumps([{"file": f, "frame": n, "tree": t} for f, n, t in trees], indent=2) + "\n"
        else:
            text = "".join(f"== {f}, frame {n} ==\n{tree_text(t)}" for f, n, t in trees)
    else:
        if frame is None:
            raise fail("give --frame N (a frame of the capture) or --call ID (every frame of a call)")
        if capture.is_dir():
            raise fail(f"{capture} is a folder: give --call ID to find a call's frames in an audit folder")
        with failing_on(CaptureError, FrameNotFound):
            tree = frame_tree(capture, frame, decode.settings())
        text = json.dumps(tree, indent=2) + "\n" if format == ShowFormat.json else tree_text(tree)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror}") from None


def _call_trees(
    capture: Path, call: str, frame: int | None, decode: DecodeOptions
) -> list[tuple[str, int, Any]]:
    """``(file, frame, tree)`` for every frame of the call ``call`` (only frame ``frame`` if given), read
    with the audit's decoding settings in an audit folder."""
    from sigdiag.audit.lookup import audit_decode_settings, is_audit_folder
    from sigdiag.capture import CaptureError
    from sigdiag.cli.extract import select_for_cli
    from sigdiag.report.dissect import frame_trees

    selected = select_for_cli([capture], decode, call_id=call)
    if not selected:
        raise fail(f"no call {call} in {capture}", code=1)
    wanted: dict[str, list[int]] = {}
    for s in selected:
        for path, number in s.frames:
            if frame is None or number == frame:
                wanted.setdefault(str(path), []).append(number)
    if not wanted:
        raise fail(f"frame {frame} is not a frame of call {call}", code=1)
    audit = is_audit_folder(capture)
    settings = audit_decode_settings(capture) if audit and decode == NO_DECODE_OPTIONS else decode.settings()
    out: list[tuple[str, int, Any]] = []
    with failing_on(CaptureError):
        for path, numbers in wanted.items():
            trees = frame_trees(path, numbers, settings)
            out += [(path, n, trees[n]) for n in sorted(set(numbers)) if n in trees]
    return out
