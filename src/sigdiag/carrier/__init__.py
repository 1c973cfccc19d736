"""Carrier layers: from capture frames to ISUP/BICC payloads.

One module per wire layer, each with its layout table, its constants, its parser and its builder side
by side (the decoders below read the formats through them; tests and the simulator build with them):

==============================  ==========================================================================
module                          layer
==============================  ==========================================================================
:mod:`~sigdiag.carrier.link`    Ethernet + VLAN/MPLS/PPPoE/LLC, Linux SLL and SLL2, BSD loopback, raw IP
:mod:`~sigdiag.carrier.ip`      IPv4, IPv6 + extension headers, fragment reassembly, Internet checksum
:mod:`~sigdiag.carrier.sctp`    SCTP common header, DATA / I-DATA chunks, reassembly, PPIDs, CRC32c
:mod:`~sigdiag.carrier.transport`  UDP, TCP, in-order TCP byte streams
:mod:`~sigdiag.carrier.ua`      the SIGTRAN common header and parameters (M3UA, M2UA, M2PA)
:mod:`~sigdiag.carrier.m3ua`    M3UA DATA (RFC 4666 and draft 6): Protocol Data, Routing Context
:mod:`~sigdiag.carrier.m2pa`    M2PA User Data
:mod:`~sigdiag.carrier.m2ua`    M2UA DATA
:mod:`~sigdiag.carrier.mtp2`    MTP2 signal units, FCS (CRC-16/X.25), the link type 139 pseudo-header
:mod:`~sigdiag.carrier.mtp3`    MTP3 SIO and routing label (itu, ansi, china, japan), point codes as text
:mod:`~sigdiag.carrier.sip`     SIP-I / SIP-T: SIP framing and ISUP bodies (multipart), and their decoder
==============================  ==========================================================================

The decoders: :class:`sigdiag.carrier.net.NetDecoder` (link layer, IP, SCTP, UDP, TCP: frames to
transport units), :class:`~sigdiag.carrier.sigtran.SigtranDecoder` (M3UA, M2UA, M2PA, BICC on SCTP),
:class:`~sigdiag.carrier.mtp.MtpDecoder` (link types 139-141 and the MTP3 messages of any layer),
:class:`~sigdiag.carrier.sip.SipDecoder`, and :class:`~sigdiag.carrier.fastlane.M3uaFastLane` for the
common Ethernet/IPv4/SCTP/M3UA frame (its offsets derived from the layer modules).
:mod:`~sigdiag.carrier.flows` prebuilds whole frames for volume (simulators, benchmarks);

:func:`iter_payloads` composes the network layers with the signalling adaptation layers.  Links are
named ``"<carrier>:<a>:<pa>-<b>:<pb>"`` for IP carriers (endpoints in a fixed order, so both
directions share one name) and ``"mtp2:if<N>"`` for link types 139-141; each link's point-code format
and variant come from :meth:`DecodeSettings.for_link`, looked up once per link, or, when that is
``auto``, from the :class:`~sigdiag.carrier.pcdetect.PcDetector` that :func:`walk_frames` runs (it holds
back the first messages of such a link until it has decided, and keeps the output in file order).

Anomalies: those that stop a frame from yielding a payload are appended to ``anomalies``; those about
a payload that was still produced travel on ``Payload.anomalies``.  All carry the frame number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sigdiag.anomalies import Anomaly
from sigdiag.capture.frame import Frame
from sigdiag.carrier.fastlane import M3uaFastLane
from sigdiag.carrier.link import MTP_LINKTYPES
from sigdiag.carrier.mtp import Decided, MtpDecoder, PendingPayload, format_pc, parse_pc
from sigdiag.carrier.payload import Payload
from sigdiag.carrier.pcdetect import PcDetector, anomalous
from sigdiag.carrier.sigtran import SigtranDecoder, link_name
from sigdiag.carrier.sip import SipDecoder
from sigdiag.carrier.units import MtpUnit, SctpUnit, StreamUnit
from sigdiag.settings import DecodeSettings

__all__ = [
    "MtpDecoder",
    "MtpUnit",
    "PcDetector",
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


class UnitDecoder:
    """The adaptation layers together: units in, payloads out (no network layers).

    Useful on its own to decode units built by hand (tests, simulators); :func:`iter_payloads` uses it
    behind :class:`~sigdiag.carrier.net.NetDecoder`.

    With ``pc_format: auto`` (and no decision in ``decided``), MTP3 messages come out as
    :class:`~sigdiag.carrier.mtp.PendingPayload`: read provisionally as ITU, see
    :mod:`sigdiag.carrier.pcdetect`.
    """

    def __init__(
        self, settings: DecodeSettings, anomalies: list[Anomaly], decided: Decided | None = None
    ) -> None:
        decided = {} if decided is None else decided
        self.sigtran = SigtranDecoder(settings, anomalies, decided)
        self.mtp = MtpDecoder(settings, anomalies, decided)
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
    frames: Iterable[Frame],
    settings: DecodeSettings,
    anomalies: list[Anomaly],
    *,
    fast_lane: bool = True,
    decoder: Callable[[Payload], Any] | None = None,
) -> Iterator[Payload]:
    """Every ISUP/BICC payload of ``frames``, in capture order (for reassembled data: in the order the
    data completed).  Frames of the common Ethernet/IPv4/SCTP/M3UA shape take the
    :mod:`~sigdiag.carrier.fastlane` (same result, fewer steps) unless ``fast_lane`` is false.

    With ``pc_format: auto``, ``decoder`` (a payload -> :class:`~sigdiag.model.Message` function such as
    ``sigdiag.codec.decode_payload``) lets the detector score the ISUP part of each candidate format;
    without it the detector judges the labels and CIC octets only (:mod:`sigdiag.carrier.pcdetect`)."""
    detector = PcDetector(settings, anomalies, decoder=decoder)
    return walk_frames(frames, settings, anomalies, fast_lane=fast_lane, detector=detector)


def walk_frames(
    frames: Iterable[Frame],
    settings: DecodeSettings,
    anomalies: list[Anomaly],
    *,
    fast_lane: bool = True,
    build: Callable[..., Any] = Payload,
    convert: Callable[[Payload], Any] | None = None,
    detector: PcDetector | None = None,
) -> Iterator[Any]:
    """The per-frame loop of :func:`iter_payloads`, with two hooks for the decoder
    (:func:`sigdiag.decode.iter_messages`): ``build`` is what the M3UA fast lane makes of a frame's
    fields (a :class:`Payload`, or anything that takes the same fields in the same order, such as the
    codec's ``decode_message``: no Payload in between), and ``convert`` is applied to every payload of
    the general path (None: the payloads themselves).

    ``detector`` decides the format of ``auto`` links and tallies every item per link (a new one when
    None, scoring with ``convert``); its ``convert`` is set to ``convert`` here."""
    from sigdiag.carrier.net import NetDecoder  # here, not at import time: net imports carrier.units

    if detector is None:
        detector = PcDetector(settings, anomalies, decoder=convert)
    detector.convert = convert
    net = NetDecoder(anomalies)
    units = UnitDecoder(settings, anomalies, detector.decided)
    lane = M3uaFastLane(settings, detector.decided)
    detector.listeners += [units.sigtran.set_format, units.mtp.set_format, lane.set_format]
    units.sigtran.deferred = units.mtp.deferred = detector.deferred
    held = detector.queue  # not empty while the detector holds items back
    push = detector.push
    tally = detector.tally
    start_tally = detector.start_tally
    emit = _emitter(detector, convert)
    take = lane.take if lane.enabled and fast_lane else None
    feed = net.feed
    sig_decode = units.sigtran.decode
    mtp_decode = units.mtp.decode
    sip_decode = units.sip.decode
    mtp_linktypes = MTP_LINKTYPES
    stream_unit = StreamUnit
    sctp_unit = SctpUnit
    for frame in frames:
        lt = frame.linktype
        if lt == 1 and take is not None:  # Ethernet: maybe the fast lane's shape
            x = take(frame, build)
            if x is not None:
                net._last = frame  # what the general path would have seen last
                if held or x.pc_format == "auto":
                    yield from push(x)
                    continue
                t = tally.get(x.link) or start_tally(x)
                t[0] += 1
                if x.anomalies:
                    t[1] += anomalous(x.anomalies)
                yield x
                continue
        if lt in mtp_linktypes:
            p = mtp_decode(MtpUnit(frame.number, frame.ts, lt, frame.interface, frame.data))
            if p is not None:
                yield from emit(p)
            continue
        for unit in feed(frame):
            cls = unit.__class__
            if cls is stream_unit:
                for p in sip_decode(unit):  # type: ignore[arg-type]
                    yield from emit(p)
                continue
            p = sig_decode(unit) if cls is sctp_unit else mtp_decode(unit)  # type: ignore[arg-type]
            if p is not None:
                yield from emit(p)
    yield from _finish(net, units, detector, emit)


def _emitter(
    detector: PcDetector, convert: Callable[[Payload], Any] | None
) -> Callable[[Payload], Iterable[Any]]:
    """The items of one payload of the general path: held back by the detector while it decides
    (or while it holds earlier items), else converted and tallied per link."""
    held = detector.queue
    push = detector.push
    tally = detector.tally
    start_tally = detector.start_tally
    pending_cls = PendingPayload

    def emit(p: Payload) -> Iterable[Any]:
        if held or p.pc_format == "auto":
            return push(p if convert is None or p.__class__ is pending_cls else convert(p))
        x = p if convert is None else convert(p)
        t = tally.get(x.link) or start_tally(x)
        t[0] += 1
        if x.anomalies:
            t[1] += anomalous(x.anomalies)
        return (x,)

    return emit


def _finish(
    net: Any, units: UnitDecoder, detector: PcDetector, emit: Callable[[Payload], Iterable[Any]]
) -> Iterator[Any]:
    """End of capture: the data the network layers still held, then what the detector held back."""
    for unit in net.finish() or ():
        for p in units.decode(unit):
            yield from emit(p)
    units.finish()
    yield from detector.finish()
