"""The decode pipeline: capture file -> frames -> payloads -> messages.

:func:`read_messages` is the library entry point; the CLI's ``sigdiag decode`` is a thin layer on it.
Anomalies that belong to a decoded message are on the message (``Message.anomalies``); anomalies of
frames that yielded no message (a truncated record, a bad SCTP chunk) are collected on the
:class:`MessageReader` (``reader.anomalies``), each with its frame number.

Point-code format per link: with ``pc_format: auto`` (the default) the format of each link with MTP3
labels is decided from its traffic (:mod:`sigdiag.carrier.pcdetect`); ``reader.links`` reports, per
link, the format, how it was decided, and the share of messages with anomalies (:class:`LinkReport`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sigdiag.anomalies import Anomaly
from sigdiag.capture import CaptureError, open_capture
from sigdiag.carrier import PcDetector, walk_frames
from sigdiag.codec.isup import decode_message, decode_payload
from sigdiag.model import MESSAGE_KEYS, Frame, Message, call_key
from sigdiag.settings import DecodeSettings, load_settings

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AnomalySink",
    "CaptureError",
    "LinkReport",
    "MessageFilter",
    "MessageReader",
    "call_key",
    "iter_messages",
    "messages_frame",
    "read_messages",
    "resolve_settings",
]

#: At most this many frame-level anomalies are kept per file; the rest are only counted.
MAX_KEPT_ANOMALIES = 10_000


def resolve_settings(
    settings: DecodeSettings | None = None, config: str | PathLike[str] | None = None, **options: Any
) -> DecodeSettings:
    """Settings from an optional config file, then keyword options (None means 'not given')."""
    base = settings or DecodeSettings()
    if config is not None:
        base = load_settings(config, base)
    return base.with_options(**options)


class AnomalySink(list[Anomaly]):
    """A list of anomalies that keeps at most ``limit`` of them; ``total`` counts them all."""

    def __init__(self, limit: int = MAX_KEPT_ANOMALIES) -> None:
        super().__init__()
        self.limit = limit
        self.total = 0

    def append(self, anomaly: Anomaly) -> None:
        self.total += 1
        if len(self) < self.limit:
            super().append(anomaly)

    def extend(self, anomalies: Iterable[Anomaly]) -> None:
        for a in anomalies:
            self.append(a)


def iter_messages(
    frames: Iterable[Frame],
    settings: DecodeSettings,
    anomalies: list[Anomaly],
    *,
    fast_lane: bool = True,
    detector: PcDetector | None = None,
) -> Iterator[Message]:
    """Every ISUP/BICC message of ``frames``, decoded: ``map(decode_payload, iter_payloads(...))``, with
    the frames of the common Ethernet/IPv4/SCTP/M3UA shape taken by the M3UA fast lane straight to a
    :class:`Message` (no Frame -> Payload -> Message copy).  ``tests/unit/test_fastlane.py`` checks that
    the result is exactly ``map(decode_payload, iter_payloads(frames, ..., fast_lane=False,
    decoder=decode_payload))`` on every capture and on mutated frames.

    ``detector`` (default: a new one) decides the point-code format of ``auto`` links, scoring
    candidates with the codec, and keeps the per-link tally that :class:`MessageReader` reports.
    """
    if detector is None:
        detector = PcDetector(settings, anomalies, decoder=decode_payload)
    return walk_frames(
        frames,
        settings,
        anomalies,
        fast_lane=fast_lane,
        build=decode_message,
        convert=decode_payload,
        detector=detector,
    )


#: The keys of :meth:`LinkReport.as_dict`, in output order.
LINK_KEYS: tuple[str, ...] = (
    "link",
    "carrier",
    "pc_format",
    "decided_by",
    "score",
    "sample",
    "basis",
    "messages",
    "anomalous",
    "anomalous_share",
    "low_confidence",
)


@dataclass(frozen=True, slots=True)
class LinkReport:
    """One signalling link of a capture as the reader saw it.

    ``pc_format`` is the point-code format its messages were read with (None: no routing label, SIP-I
    and BICC on SCTP); ``decided_by`` is ``"auto"`` (decided from the traffic; ``score`` is the share of
    the ``sample`` messages that decoded cleanly with it, ``basis`` the candidates' results in words),
    ``"setting"`` (an explicit ``pc_format``, global or per link) or ``"none"`` (no label).
    ``anomalous`` counts the messages with an anomaly other than trailing octets (those the codec finds
    while reading the key fields; parameters decoded later on demand can add more), and
    ``low_confidence`` is true when their share is above ``low_confidence_share``: the link's messages,
    and the calls and findings built on them, should not be trusted.
    """

    link: str
    carrier: str
    pc_format: str | None
    decided_by: str
    messages: int
    anomalous: int
    low_confidence: bool
    score: float | None = None
    sample: int = 0
    basis: str = ""

    @property
    def anomalous_share(self) -> float:
        """``anomalous / messages`` (0.0 without messages)."""
        return self.anomalous / self.messages if self.messages else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The report as a plain JSON-ready dict (with ``anomalous_share``), in :data:`LINK_KEYS` order."""
        share = round(self.anomalous_share, 6)
        return {k: share if k == "anomalous_share" else getattr(self, k) for k in LINK_KEYS}

    def summary(self) -> str:
        """One line: link, format, how it was decided, messages, anomalous share."""
        how = self.decided_by
        if how == "auto" and self.score is not None:
            how = f"auto, {self.score * 100:.0f} % of {self.sample} clean"
        elif how == "auto":
            how = f"auto, {self.basis}"
        elif how == "none":
            how = "no routing label"
        return (
            f"{self.link}: pc_format {self.pc_format or '-'} ({how}), {self.messages} messages, "
            f"{self.anomalous_share * 100:.1f} % anomalous"
        )

    def warning(self) -> str:
        """The low-confidence warning line (without a prefix)."""
        return (
            f"link {self.link}: {self.anomalous_share * 100:.1f} % of {self.messages} messages are anomalous "
            f"with pc_format {self.pc_format} ({self.decided_by}); its messages, calls and findings are "
            "low confidence (is the point-code format right? try --pc-format)"
        )


class MessageReader:
    """Iterator of decoded messages from one capture file, streaming with bounded memory.

    ``anomalies`` holds frame-level anomalies (at most :data:`MAX_KEPT_ANOMALIES`; ``anomaly_count``
    counts them all).  Iterating resumes one generator (:func:`iter_messages`) per message, the capture
    reader's below it.

    ``links`` reports each link seen so far (:class:`LinkReport`, in order of first message): complete
    once the reader is exhausted.  With ``pc_format: auto`` the first messages of a link are held back
    until its format is decided (``pc_detect_messages``), so the reader may read ahead of what it has
    returned.
    """

    def __init__(self, path: str | PathLike[str], settings: DecodeSettings) -> None:
        self.path = Path(path)
        self.settings = settings
        self.anomalies = AnomalySink()
        self.detector = PcDetector(settings, self.anomalies, decoder=decode_payload)
        self._it: Iterator[Message] = iter_messages(
            open_capture(self.path, self.anomalies), settings, self.anomalies, detector=self.detector
        )

    @property
    def anomaly_count(self) -> int:
        return self.anomalies.total

    @property
    def links(self) -> list[LinkReport]:
        """Per link: point-code format, how it was decided, messages, anomalous ones, low confidence."""
        out = []
        limit = self.settings.low_confidence_share
        decisions = self.detector.decisions
        for link, (messages, anomalous, carrier, pc_format) in self.detector.tally.items():
            decision = decisions.get(link)
            if decision is not None:
                how, score, sample, basis = "auto", decision.score, decision.sample, decision.basis
                pc_format = decision.pc_format
            else:
                how = "none" if pc_format is None else "setting"
                score, sample, basis = None, 0, ""
            low = messages > 0 and anomalous / messages > limit
            out.append(
                LinkReport(link, carrier, pc_format, how, messages, anomalous, low, score, sample, basis)
            )
        return out

    def __iter__(self) -> Iterator[Message]:
        return self._it

    def __next__(self) -> Message:
        return next(self._it)


def read_messages(
    path: str | PathLike[str],
    *,
    settings: DecodeSettings | None = None,
    config: str | PathLike[str] | None = None,
    pc_format: str | None = None,
    variant: str | None = None,
    pc_display: str | None = None,
    mtp2_fcs: str | None = None,
    m3ua_version: str | None = None,
) -> MessageReader:
    """Decode every ISUP/BICC message of a capture file (pcap, pcapng, gzip-compressed or not).

    Returns an iterator of :class:`~sigdiag.model.Message`; it raises :class:`CaptureError` if the file
    is not a capture.  Keyword options override ``settings`` and the ``config`` file; see
    :mod:`sigdiag.settings`.
    """
    resolved = resolve_settings(
        settings,
        config,
        pc_format=pc_format,
        variant=variant,
        pc_display=pc_display,
        mtp2_fcs=mtp2_fcs,
        m3ua_version=m3ua_version,
    )
    reader = MessageReader(path, resolved)
    # Read the first message now, so that a file that is not a capture fails here, not at the first next().
    first = next(reader._it, None)
    if first is not None:
        reader._it = chain((first,), reader._it)
    return reader


class MessageFilter:
    """The ``decode`` filters: CIC, message type, and number.

    The number filter selects whole calls: a message is kept when the called number of its call (the
    IAM's digits followed by every SAM's digits, up to the next IAM on that circuit) or the calling
    number contains ``number``.  That needs the whole call, so :meth:`apply` reads the file twice when
    a number is given.
    """

    def __init__(
        self, cic: int | None = None, types: Iterable[str] | None = None, number: str | None = None
    ) -> None:
        self.cic = cic
        self.types = {t.upper() for t in types} if types else None
        self.number = number

    def simple(self, m: Message) -> bool:
        if self.cic is not None and m.cic != self.cic:
            return False
        return not (self.types is not None and m.type.upper() not in self.types)

    def matching_calls(self, messages: Iterable[Message]) -> set[tuple[Any, int]]:
        """Pass 1 of the number filter: (call key, IAM frame) of every call whose numbers match."""
        assert self.number is not None
        open_calls: dict[tuple[Any, ...], list[Any]] = {}
        found: set[tuple[Any, int]] = set()
        for m in messages:
            key = call_key(m)
            if m.type == "IAM":
                open_calls[key] = [m.frame, m.called or "", m.calling or ""]
            elif m.type == "SAM" and key in open_calls and m.subsequent:
                open_calls[key][1] += m.subsequent
            else:
                continue
            frame, called, calling = open_calls[key]
            if self.number in called or self.number in calling:
                found.add((key, frame))
        return found

    def apply(self, make_reader: Callable[[], Iterable[Message]]) -> Iterator[Message]:
        """Filtered messages of the file that ``make_reader`` reads."""
        if self.number is None:
            yield from (m for m in make_reader() if self.simple(m))
            return
        wanted = self.matching_calls(make_reader())
        current: dict[tuple[Any, ...], int] = {}
        for m in make_reader():
            key = call_key(m)
            if m.type == "IAM":
                current[key] = m.frame
            frame = current.get(key)
            if frame is not None and (key, frame) in wanted and self.simple(m):
                yield m


def messages_frame(path: str | PathLike[str], **options: Any) -> pd.DataFrame:
    """All messages of a capture as a pandas DataFrame with the :data:`~sigdiag.model.MESSAGE_KEYS` columns.

    ``params`` and ``anomalies`` hold Python objects (dicts and lists of dicts).
    """
    import pandas as pd

    rows = [m.as_dict() for m in read_messages(path, **options)]
    return pd.DataFrame(rows, columns=list(MESSAGE_KEYS))
