"""Capture files: a streaming pcap/pcapng reader and fast writers.

:func:`open_capture` yields :class:`~sigdiag.model.Frame` objects; :class:`CaptureError` means the file is
not a capture at all (the CLI exits with code 2).  :class:`PcapWriter` and :class:`PcapngWriter` write
captures for tests and the traffic simulator.
"""

from sigdiag.capture.pcap import MAX_RECORD_BYTES, CaptureError, open_capture
from sigdiag.capture.writer import PcapngInterface, PcapngWriter, PcapWriter

__all__ = [
    "MAX_RECORD_BYTES",
    "CaptureError",
    "PcapWriter",
    "PcapngInterface",
    "PcapngWriter",
    "open_capture",
]
