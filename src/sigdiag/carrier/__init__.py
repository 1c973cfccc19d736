"""Carrier layers: from capture frames to ISUP/BICC payloads.

:func:`iter_payloads` composes the network layers (:class:`sigdiag.carrier.net.NetDecoder`: link layer,
IP with reassembly, SCTP, UDP, TCP) with the signalling adaptation layers:

* :mod:`sigdiag.carrier.sigtran` - M3UA (RFC and draft 6), M2UA, M2PA, BICC on SCTP;
* :mod:`sigdiag.carrier.mtp` - pcap link types 139, 140, 141 (MTP2/MTP3), point codes;
* :mod:`sigdiag.carrier.sip` - SIP-I/SIP-T bodies over UDP and TCP.

Links are named ``"<carrier>:<a>:<pa>-<b>:<pb>"`` for IP carriers (endpoints in a fixed order, so both
directions share one name) and ``"mtp2:if<N>"`` for link types 139-141; each link's point-code format
and variant come from :meth:`DecodeSettings.for_link`, looked up once per link.

Anomalies: those that stop a frame from yielding a payload are appended to ``anomalies``; those about
a payload that was still produced travel on ``Payload.anomalies``.  All carry the frame number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sigdiag.anomalies import Anomaly
from sigdiag.carrier.fastlane import M3uaFastLane
from sigdiag.carrier.mtp import MtpDecoder, format_pc, parse_pc
from sigdiag.carrier.sigtran import SigtranDecoder, link_name
from sigdiag.carrier.sip import SipDecoder
from sigdiag.carrier.units import MtpUnit, SctpUnit, StreamUnit
from sigdiag.model import Frame, Payload
from sigdiag.settings import DecodeSettings

__all__ = [
    "MtpDecoder",
    "MtpUnit",
    "SctpUnit",
    "SigtranDecoder",
    "SipDecoder",
    "StreamUnit",
    "UnitDecoder",
    "format_pc",
    "iter_payloads",
    "link_name",
    "parse_pc",
    "walk_frames",
]

_MTP_LINKTYPES = frozenset({139, 140, 141})


class UnitDecoder:
    """The adaptation layers together: units in, payloads out (no network layers).

    Useful on its own to decode units built by hand (tests, simulators); :func:`iter_payloads` uses it
    behind :class:`~sigdiag.carrier.net.NetDecoder`.
    """

    def __init__(self, settings: DecodeSettings, anomalies: list[Anomaly]) -> None:
        self.sigtran = SigtranDecoder(settings, anomalies)
        self.mtp = MtpDecoder(settings, anomalies)
        self.sip = SipDecoder(settings, anomalies)

    def decode(self, unit: SctpUnit | StreamUnit | MtpUnit) -> list[Payload]:
        cls = unit.__class__
        if cls is SctpUnit:
            p = self.sigtran.decode(unit)  # type: ignore[arg-type]
            return [] if p is None else [p]
        if cls is StreamUnit:
            return self.sip.decode(unit)  # type: ignore[arg-type]
        if cls is MtpUnit:
            p = self.mtp.decode(unit)  # type: ignore[arg-type]
            return [] if p is None else [p]
        return []

    def finish(self) -> None:
        self.sip.finish()


def iter_payloads(
    frames: Iterable[Frame], settings: DecodeSettings, anomalies: list[Anomaly], *, fast_lane: bool = True
) -> Iterator[Payload]:
    """Every ISUP/BICC payload of ``frames``, in capture order (for reassembled data: in the order the
    data completed).  Frames of the common Ethernet/IPv4/SCTP/M3UA shape take the
    :mod:`~sigdiag.carrier.fastlane` (same result, fewer steps) unless ``fast_lane`` is false."""
    return walk_frames(frames, settings, anomalies, fast_lane=fast_lane)


def walk_frames(
    frames: Iterable[Frame],
    settings: DecodeSettings,
    anomalies: list[Anomaly],
    *,
    fast_lane: bool = True,
    build: Callable[..., Any] = Payload,
    convert: Callable[[Payload], Any] | None = None,
) -> Iterator[Any]:
    """The per-frame loop of :func:`iter_payloads`, with two hooks for the decoder
    (:func:`sigdiag.decode.iter_messages`): ``build`` is what the M3UA fast lane makes of a frame's
    fields (a :class:`Payload`, or anything that takes the same fields in the same order, such as the
    codec's ``decode_message``: no Payload in between), and ``convert`` is applied to every payload of
    the general path (None: the payloads themselves)."""
    from sigdiag.carrier.net import NetDecoder  # here, not at import time: net imports carrier.units

    net = NetDecoder(anomalies)
    units = UnitDecoder(settings, anomalies)
    lane = M3uaFastLane(settings)
    take = lane.take if lane.enabled and fast_lane else None
    feed = net.feed
    sig_decode = units.sigtran.decode
    mtp_decode = units.mtp.decode
    sip_decode = units.sip.decode
    mtp_linktypes = _MTP_LINKTYPES
    for frame in frames:
        lt = frame.linktype
        if lt == 1 and take is not None:
            x = take(frame, build)
            if x is not None:
                net._last = frame  # what the general path would have seen last
                yield x
                continue
        if lt in mtp_linktypes:
            p = mtp_decode(MtpUnit(frame.number, frame.ts, lt, frame.interface, frame.data))
            if p is not None:
                yield p if convert is None else convert(p)
            continue
        for unit in feed(frame):
            cls = unit.__class__
            if cls is SctpUnit:
                p = sig_decode(unit)  # type: ignore[arg-type]
                if p is not None:
                    yield p if convert is None else convert(p)
            elif cls is StreamUnit:
                ps = sip_decode(unit)  # type: ignore[arg-type]
                yield from ps if convert is None else map(convert, ps)
            elif cls is MtpUnit:
                p = mtp_decode(unit)  # type: ignore[arg-type]
                if p is not None:
                    yield p if convert is None else convert(p)
    for unit in net.finish() or ():
        ps = units.decode(unit)
        yield from ps if convert is None else map(convert, ps)
    units.finish()
