"""The capture layer's output record: one record of a capture file (see docs/architecture.md)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Frame"]


@dataclass(slots=True)
class Frame:
    """One record of a capture file.

    ``number`` is the 1-based record number in the file (what Wireshark calls the frame number),
    ``ts`` the capture time in epoch seconds, ``linktype`` the pcap LINKTYPE_* value of the record's
    interface, ``data`` the captured bytes, ``orig_len`` the frame's length on the wire.
    """

    number: int
    ts: float
    linktype: int
    data: bytes
    orig_len: int
    interface: int = 0
