"""sigdiag agrees with tshark on generated captures covering every carrier, link type, container and
point-code format.

Each scenario builds a capture in ``tmp_path`` from a realistic message mix (calls with IAM/SAM/ACM/CPG/
ANM/CON/REL/RLC, maintenance with GRS/CGB/RSC/BLO, BICC IAM with application transport), decodes it with
sigdiag and with ``tshark -T fields``, and compares, message for message: frame, OPC, DPC, CIC, message
type, called/calling/subsequent digits, cause value and cause location (``tests.tshark_util.compare``).

tshark options: ``-o mtp3.standard:ITU|ANSI|Chinese ITU|Japan`` (the names ``tshark -G defaultprefs``
lists) with sigdiag's matching ``pc_format``; ``-o "m3ua.version:Internet Draft version 6"`` for draft-6
M3UA; ``-o mtp2.capture_contains_frame_check_sequence:TRUE`` for MTP2 with FCS (sigdiag detects it).

Where tshark represents a value differently, the comparison normalises it:

* ST (end of pulsing) is shown by tshark as a trailing ``F`` digit; sigdiag leaves ST out of the digits
  and says ``called_complete``.  ``tests.tshark_util.strip_st`` drops the ``F``.
* ANSI and China point codes: tshark adds the string fields ``mtp3.ansi_opc``/``mtp3.chinese_opc``
  ("n-c-m,decimal,hex"), but also the integer ``mtp3.opc``/``mtp3.dpc`` for every MTP3 standard, which is
  what is compared (M3UA point codes come from ``m3ua.protocol_data_opc/dpc``, always integers).
* ANSI causes: tshark's ANSI ISUP decoder shows them as ``ansi_isup.cause_indicator`` and
  ``isup.cause_location`` instead of the Q.850 fields; ``tshark_frames_any_variant`` reads both.
* ITU causes with a coding standard other than ITU-T: tshark shows no value or location (see
  :class:`_View`).
* SIP-I bodies have no routing label and no CIC: tshark shows none, sigdiag gives ``None``.

The mixes avoid one thing on purpose: octet 1a (recommendation) in ANSI cause indicators, which ANSI
T1.113 does not define and tshark's ANSI decoder reads as the cause value.

The agreement figures (messages compared / agreed, per scenario and in total) are printed at the end of
the module's run (``-s`` not needed: they go to the terminal reporter).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sigdiag import Message, read_messages
from sigdiag.capture.writer import PcapngInterface, PcapngWriter, PcapWriter
from sigdiag.carrier import flows as wire_flows
from sigdiag.carrier import sctp as wire_sctp
from sigdiag.carrier import transport as wire_transport
from sigdiag.carrier.mtp import build_mtp2, build_mtp2_phdr, build_mtp3, crc16_x25
from sigdiag.carrier.sigtran import (
    build_m2pa_user_data,
    build_m2ua_data,
    build_m3ua_data,
    build_m3ua_draft6_data,
)
from sigdiag.carrier.sip import build_sip_message
from sigdiag.codec import encode_message
from tests.tshark_util import agreement, needs_tshark, tshark_frames_any_variant, tshark_times

pytestmark = [needs_tshark, pytest.mark.tshark]

T0 = 1_700_000_000.0

#: tshark's name for each point-code format (``tshark -G defaultprefs``: "One of: ITU, ANSI, Chinese ITU,
#: Japan").
MTP3_STANDARD = {"itu": "ITU", "ansi": "ANSI", "china": "Chinese ITU", "japan": "Japan"}
#: A pair of point codes per format, using the full width of the format.
POINT_CODES = {
    "itu": (0x2D02, 0x0C3B),  # 14 bits: 5-160-2 and 1-135-3
    "ansi": (0xF00A0B, 0x01FE03),  # 24 bits, network 240 and 1
    "china": (0x8A0B0C, 0x210203),
    "japan": (0xABCD, 0x1234),  # 16 bits
}
DRAFT6 = ("-o", "m3ua.version:Internet Draft version 6")
MTP2_FCS = ("-o", "mtp2.capture_contains_frame_check_sequence:TRUE")
#: Tests where every message of every scenario is compared; filled in by :func:`_check`.
AGREEMENT: dict[str, tuple[int, int]] = {}


# ----------------------------------------------------------------------------------------------------
# message mixes

#: BAT ASE information (APM segmentation octet, address lengths, action indicator "connect forward",
#: BNCId, codec list, tunnelled SDP, ...) from the Wireshark wiki's bicc.pcap IAM.
BAT_ASE_SDP = bytes.fromhex(
    "c00000018283020283839c88048d8505858502058080058385010107828304081e81832020763d300d0a6f3d2d203020"
    "3120494e20495034203139322e3136382e3138392e3230300d0a733d300d0a633d494e20495034203139322e3136382e"
    "3138392e3230300d0a743d3020300d0a613d69706263703a3120526571756573740d0a6d3d617564696f203430303732"
    "205254502f415650203130300d0a613d7274706d61703a31303020564e442e334750502e495546502f31363030300d0a"
    "09828301"
)


@dataclass(frozen=True)
class Msg:
    """One message to send: its type and parameters, the CIC, and the direction (forward = from A)."""

    type: str
    params: dict[str, Any]
    cic: int
    forward: bool = True


def _number(digits: str, nai: int = 3, st: bool = False, **extra: int) -> dict[str, Any]:
    return {"nature_of_address": nai, "numbering_plan": 1, "digits": digits, "st": st, **extra}


def _cause(value: int, location: int, *, recommendation: int | None = None, diag: str = "") -> dict[str, Any]:
    c: dict[str, Any] = {
        "coding_standard": 0,
        "location": location,
        "cause_value": value,
        "diagnostics": diag,
    }
    if recommendation is not None:
        c["recommendation"] = recommendation  # octet 1a present
    return {"cause_indicators": c}


def _iam(
    cic: int,
    called: dict[str, Any],
    calling: dict[str, Any] | None,
    variant: str,
    protocol: str,
    rng: random.Random,
) -> Msg:
    p: dict[str, Any] = {
        "nature_of_connection_indicators": {"satellite": 0, "continuity_check": 0, "echo_control_device": 1},
        "forward_call_indicators": {
            "isup_all_the_way": 1,
            "isup_preference": rng.choice([0, 1]),
            "isdn_access": 1,
        },
        "calling_partys_category": {"category": rng.choice([10, 10, 10, 15, 13])},
    }
    if variant == "ansi":
        p["user_service_information"] = {
            "coding_standard": 0,
            "information_transfer_capability": 0,
            "information_transfer_rate": 16,
            "additional": "a2",
        }
    else:
        p["transmission_medium_requirement"] = {"medium": rng.choice([0, 3])}
    p["called_party_number"] = called
    if calling is not None:
        p["calling_party_number"] = calling
    if rng.random() < 0.5:
        p["hop_counter"] = {"hop_counter": rng.randrange(10, 31)}
    if protocol == "bicc":
        # BICC bearer set-up: the Application Transport parameter carries BAT ASE data that tunnels SDP,
        # laid out as in the Wireshark wiki's bicc.pcap (octet 2 = 0x81, then APM segmentation 0xc0...).
        p["application_transport"] = {
            "context_id": 5,
            "send_notification": 0,
            "apm_segmentation": 1,
            "information": BAT_ASE_SDP.hex(),
        }
    return Msg("IAM", p, cic)


def _digits(rng: random.Random, n: int, hexdigits: bool = False) -> str:
    alphabet = "0123456789BC" if hexdigits else "0123456789"
    return "".join(rng.choice(alphabet) for _ in range(n))


def call_mix(
    variant: str = "itu",
    protocol: str = "isup",
    *,
    seed: int = 1,
    cic_base: int = 1,
    maintenance: bool = True,
) -> list[Msg]:
    """A realistic mix: seven calls of different shapes plus circuit maintenance, ~40 messages."""
    rng = random.Random(seed)
    out: list[Msg] = []
    cic = cic_base
    calling = _number("01058722000", nai=3, screening=3)
    # 1. en-bloc, answered, normal clearing by the caller; called number carries ST
    out += [
        _iam(cic, _number("0" + _digits(rng, 10), st=True), calling, variant, protocol, rng),
        Msg("ACM", {"backward_call_indicators": {"charge": 2, "called_partys_status": 1}}, cic, False),
        Msg("CPG", {"event_information": {"event": 1}}, cic, False),
        Msg("ANM", {}, cic, False),
        Msg("REL", _cause(16, 0), cic, True),
        Msg("RLC", {}, cic, False),
    ]
    # 2. overlap: IAM with the first digits, SAMs with the rest (the last one with ST), busy
    cic += 1
    out += [
        _iam(
            cic,
            _number("0453114"),
            _number("2" + _digits(rng, 7), nai=1, screening=1),
            variant,
            protocol,
            rng,
        ),
        Msg("SAM", {"subsequent_number": {"digits": _digits(rng, 3)}}, cic),
        Msg("SAM", {"subsequent_number": {"digits": _digits(rng, 1), "st": True}}, cic),
        Msg("ACM", {"backward_call_indicators": {"charge": 1, "called_partys_status": 0}}, cic, False),
        Msg("REL", _cause(17, 1, diag="8a"), cic, False),
        Msg("RLC", {}, cic, True),
    ]
    # 3. hex digits (code 11 / code 12) in both numbers; CON; REL with octet 1a (recommendation)
    cic += 1
    out += [
        _iam(
            cic,
            _number("1B" + _digits(rng, 4, True) + "C"),
            _number("C" + _digits(rng, 6, True)),
            variant,
            protocol,
            rng,
        ),
        Msg("CON", {"backward_call_indicators": {"charge": 2, "called_partys_status": 1}}, cic, False),
        # ANSI T1.113 cause indicators have no octet 1a (tshark's ANSI decoder reads it as the value)
        Msg("REL", _cause(31, 3, recommendation=None if variant == "ansi" else 0), cic, False),
        Msg("RLC", {}, cic, True),
    ]
    # 4. the reference fault: REL cause 38 right after the SAM, location 4 (remote public network)
    cic += 1
    out += [
        _iam(cic, _number("0453114"), calling, variant, protocol, rng),
        Msg("SAM", {"subsequent_number": {"digits": "5678"}}, cic),
        Msg("REL", _cause(38, 4, diag="0300"), cic, False),
        Msg("RLC", {}, cic, True),
    ]
    # 5. no calling number; address incomplete (28) from a transit network; international number
    cic += 1
    out += [
        _iam(cic, _number("44" + _digits(rng, 9), nai=4), None, variant, protocol, rng),
        Msg("REL", _cause(28, 3), cic, False),
        Msg("RLC", {}, cic, True),
    ]
    # 6. answered, then released beyond an interworking point (location 10)
    cic += 1
    out += [
        _iam(cic, _number(_digits(rng, 8), nai=1, st=True), calling, variant, protocol, rng),
        Msg("ACM", {"backward_call_indicators": {"charge": 2}}, cic, False),
        Msg("CPG", {"event_information": {"event": 2}}, cic, False),
        Msg("ANM", {}, cic, False),
        Msg("REL", _cause(127, 10), cic, False),
        Msg("RLC", {}, cic, True),
    ]
    # 7. no circuit (34) with the national coding standard, which tshark does not decode (see _View)
    cic += 1
    rel7 = _cause(34, 2)
    rel7["cause_indicators"]["coding_standard"] = 2
    out += [
        _iam(cic, _number(_digits(rng, 11), st=True), calling, variant, protocol, rng),
        Msg("REL", rel7, cic, False),
        Msg("RLC", {}, cic, True),
    ]
    if maintenance and protocol == "isup":
        base = cic_base + 16
        out += [
            Msg("GRS", {"range_and_status": {"range": 15}}, base),
            Msg("GRA", {"range_and_status": {"range": 15, "status": "0000"}}, base, False),
            Msg(
                "CGB",
                {
                    "circuit_group_supervision_message_type": {"type": 0},
                    "range_and_status": {"range": 7, "status": "ff"},
                },
                base,
            ),
            Msg(
                "CGBA",
                {
                    "circuit_group_supervision_message_type": {"type": 0},
                    "range_and_status": {"range": 7, "status": "ff"},
                },
                base,
                False,
            ),
            Msg("RSC", {}, base + 9),
            Msg("BLO", {}, base + 10),
            Msg("BLA", {}, base + 10, False),
            Msg("UBL", {}, base + 10),
        ]
    return out


def encode(m: Msg, variant: str = "itu", protocol: str = "isup", with_cic: bool = True) -> bytes:
    return encode_message(
        m.type, m.params, cic=m.cic if with_cic else None, protocol=protocol, variant=variant
    )


def variant_of(pc_format: str) -> str:
    return "ansi" if pc_format == "ansi" else "itu"


# ----------------------------------------------------------------------------------------------------
# carriers


@dataclass
class Capture:
    """Frames of one capture: ``(interface, data)`` pairs, the interfaces' link types, options."""

    linktypes: list[int]
    frames: list[tuple[int, bytes]] = field(default_factory=list)
    tshark: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    #: what the builder did, to check that a scenario exercises what its name says (see ``_run``)
    features: Counter[str] = field(default_factory=Counter)

    def add(self, data: bytes, interface: int = 0) -> None:
        self.frames.append((interface, data))


class Association:
    """Both directions of an SCTP association: TSNs and SSNs counted per direction and stream."""

    def __init__(
        self,
        a: str = "10.0.0.1",
        b: str = "10.0.0.2",
        port_a: int = 2905,
        port_b: int = 2905,
        *,
        linktype: int = 1,
        vlans: Sequence[int | tuple[int, int]] = (),
        ppid: int = 3,
        streams: int = 4,
    ) -> None:
        self.flows = {
            True: wire_flows.SctpFlow(a, b, port_a, port_b, linktype=linktype, vlans=vlans, vtag=0x1234),
            False: wire_flows.SctpFlow(b, a, port_b, port_a, linktype=linktype, vlans=vlans, vtag=0x5678),
        }
        self.tsn = {True: 100, False: 5000}
        self.ssn: dict[tuple[bool, int], int] = {}
        self.ppid = ppid
        self.streams = streams

    def chunks(self, forward: bool, data: bytes, stream: int, parts: int = 1) -> list[bytes]:
        """DATA chunks of one user message (split into ``parts`` fragments with B/E flags)."""
        ssn = self.ssn.get((forward, stream), 0)
        self.ssn[(forward, stream)] = ssn + 1
        out = wire_sctp.data_chunks(
            data, self.tsn[forward], parts=parts, stream=stream, ssn=ssn, ppid=self.ppid
        )
        self.tsn[forward] += len(out)
        return out

    def frame(self, forward: bool, chunks: Sequence[bytes]) -> bytes:
        return self.flows[forward].frame(chunks)


def _pcs(pc_format: str, forward: bool) -> tuple[int, int]:
    a, b = POINT_CODES[pc_format]
    return (a, b) if forward else (b, a)


def _msu(m: Msg, pc_format: str, protocol: str = "isup", ni: int = 2) -> bytes:
    opc, dpc = _pcs(pc_format, m.forward)
    si = 13 if protocol == "bicc" else 5
    return build_mtp3(si, ni, opc, dpc, m.cic & 0x0F, pc_format, encode(m, variant_of(pc_format), protocol))


def _std(pc_format: str) -> tuple[str, ...]:
    return ("-o", f"mtp3.standard:{MTP3_STANDARD[pc_format]}")


def sigtran_capture(
    kind: str,
    msgs: Sequence[Msg],
    *,
    pc_format: str = "itu",
    protocol: str = "isup",
    linktype: int = 1,
    vlans: Sequence[int | tuple[int, int]] = (),
    v6: bool = False,
    rc: int | None = None,
    na: int | None = None,
    bundle: int = 1,
    fragment_every: int = 0,
) -> Capture:
    """An SCTP capture of ``msgs`` over M3UA (RFC or draft 6), M2PA, M2UA or BICC on SCTP.

    ``bundle``: DATA chunks per packet (same direction); ``fragment_every``: every n-th message is split
    into three chunks, whose first two travel in a packet of their own.
    """
    variant = variant_of(pc_format)
    ppid, port = {
        "m3ua": (3, 2905),
        "draft6": (3, 2905),
        "m2pa": (5, 3565),
        "m2ua": (2, 2904),
        "sctp": (8, 2905),
    }[kind]
    a, b = ("2001:db8::1", "2001:db8::2") if v6 else ("10.0.0.1", "10.0.0.2")
    assoc = Association(a, b, port, port, linktype=linktype, vlans=vlans, ppid=ppid)
    cap = Capture([linktype], tshark=_std(pc_format), settings={"pc_format": pc_format})
    if kind == "draft6":
        cap.tshark += DRAFT6
    bsn = {True: 0, False: 0}
    pending: list[bytes] = []
    pending_dir = True

    def flush() -> None:
        nonlocal pending
        if pending:
            cap.add(assoc.frame(pending_dir, pending))
            if sum(c[0] == 0 for c in pending) > 1:
                cap.features["bundled"] += 1
            pending = []

    for i, m in enumerate(msgs):
        opc, dpc = _pcs(pc_format, m.forward)
        sls = m.cic & 0x0F
        if kind == "m3ua":
            si = 13 if protocol == "bicc" else 5
            user = build_m3ua_data(opc, dpc, si, 2, 0, sls, encode(m, variant, protocol), rc, na)
        elif kind == "draft6":
            li = None if i % 2 else 0x3F
            user = build_m3ua_draft6_data(_msu(m, pc_format, protocol), routing_context=rc, li=li)
        elif kind == "m2pa":
            bsn[m.forward] += 1
            user = build_m2pa_user_data(bsn[not m.forward], bsn[m.forward], _msu(m, pc_format, protocol))
        elif kind == "m2ua":
            # integer and text interface identifiers; Protocol Data 2 (with a TTC priority) now and then
            iid: int | str = 7 if i % 3 else "E1/0/1"
            user = build_m2ua_data(iid, _msu(m, pc_format, protocol), ttc_priority=1 if i % 5 == 4 else None)
        else:  # BICC directly on SCTP: the data starts at the call instance code
            user = encode(m, variant, "bicc")
        stream = 1 + m.cic % (assoc.streams - 1)
        if pending and (m.forward != pending_dir or len(pending) >= bundle):
            flush()
        pending_dir = m.forward
        if fragment_every and i % fragment_every == fragment_every - 1:
            pieces = assoc.chunks(m.forward, user, stream, parts=3)
            cap.features["fragmented"] += 1
            flush()
            cap.add(assoc.frame(m.forward, pieces[:2]))
            pending = [wire_sctp.sack_chunk(assoc.tsn[not m.forward] - 1), pieces[2]]
        else:
            pending.append(assoc.chunks(m.forward, user, stream)[0])
    flush()
    return cap


def _fisu(fcs: bool, lssu: bool = False) -> bytes:
    su = bytes((0x80, 0x80, 1, 0x01)) if lssu else bytes((0x80, 0x80, 0))
    return su + crc16_x25(su).to_bytes(2, "little") if fcs else su


def mtp_capture(
    linktype: int, msgs: Sequence[Msg], *, pc_format: str = "itu", fcs: bool = False, annex_a: bool = False
) -> Capture:
    """Link type 140 (MTP2), 139 (MTP2 with pseudo-header) or 141 (MTP3), with FISUs and LSSUs between
    the MSUs on MTP2 links."""
    cap = Capture([linktype], tshark=_std(pc_format), settings={"pc_format": pc_format})
    if fcs:
        cap.tshark += MTP2_FCS
    fsn = {True: 0, False: 0}
    for i, m in enumerate(msgs):
        msu = _msu(m, pc_format)
        if linktype == 141:
            cap.add(msu)
            continue
        fsn[m.forward] = (fsn[m.forward] + 1) & 0x7F
        su = build_mtp2(msu, fsn=fsn[m.forward], bsn=fsn[not m.forward], fcs=fcs, extended=annex_a)
        if linktype == 139:
            su = build_mtp2_phdr(link_number=3, sent=int(m.forward), annex_a=1 if annex_a else 0) + su
        cap.add(su)
        if i % 4 == 0 and not annex_a:
            filler = _fisu(fcs, lssu=i % 8 == 0)
            cap.add(build_mtp2_phdr(3) + filler if linktype == 139 else filler)
    return cap


SIP_START = {
    "IAM": "INVITE sip:{n}@192.0.2.20:5060 SIP/2.0",
    "SAM": "INFO sip:{n}@192.0.2.20:5060 SIP/2.0",
    "ACM": "SIP/2.0 183 Session Progress",
    "CPG": "SIP/2.0 180 Ringing",
    "ANM": "SIP/2.0 200 OK",
    "CON": "SIP/2.0 200 OK",
    "REL": "BYE sip:{n}@192.0.2.20:5060 SIP/2.0",
    "RLC": "SIP/2.0 200 OK",
}


def sip_messages(msgs: Sequence[Msg], version: str, variant: str) -> Iterator[tuple[bool, bytes]]:
    """``(forward, SIP message)`` for every call-control message of ``msgs`` (one SIP dialog per CIC).

    REL before answer travels in a CANCEL-less BYE here: the SIP method does not matter to the ISUP layer.
    """
    sdp = (
        "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\n"
        "t=0 0\r\nm=audio 4000 RTP/AVP 8\r\n"
    )
    cseq: dict[int, int] = {}
    for m in msgs:
        start = SIP_START.get(m.type)
        if start is None:
            continue
        cseq[m.cic] = cseq.get(m.cic, 0) + 1
        headers = [
            ("Via", f"SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-{m.cic}-{cseq[m.cic]}"),
            ("From", f"<sip:01058722000@192.0.2.10>;tag=a{m.cic}"),
            ("To", "<sip:called@192.0.2.20>"),
            ("Call-ID", f"call-{m.cic}@192.0.2.10"),
            ("CSeq", f"{cseq[m.cic]} {'INVITE' if start.startswith('SIP') else start.split()[0]}"),
            ("Max-Forwards", "70"),
        ]
        multipart = m.type in ("IAM", "ACM", "ANM")
        body = encode(m, variant, with_cic=False)  # SIP-I: from the message type on
        yield (
            m.forward,
            build_sip_message(
                start.format(n=m.cic),
                headers,
                body,
                version,
                sdp if multipart else None,
                compact=m.type == "CPG",
            ),
        )


def sip_capture(
    transport: str,
    msgs: Sequence[Msg],
    *,
    version: str = "itu-t92+",
    variant: str = "itu",
    mtu: int = 0,
    linktype: int = 1,
    segment: bool = False,
    v6: bool = False,
    vlans: Sequence[int | tuple[int, int]] = (),
    reverse_fragments: bool = False,
) -> Capture:
    """SIP-I over UDP (IP-fragmented when ``mtu``, fragments last-first when ``reverse_fragments``) or
    TCP (messages coalesced and split over segments when ``segment``), over IPv4 or IPv6."""
    cap = Capture([linktype])
    a, b = ("2001:db8::10", "2001:db8::20") if v6 else ("192.0.2.10", "192.0.2.20")
    if transport == "udp":
        flows = {
            True: wire_flows.UdpFlow(a, b, 5060, 5060, linktype=linktype, vlans=vlans, mtu=mtu),
            False: wire_flows.UdpFlow(b, a, 5060, 5060, linktype=linktype, vlans=vlans, mtu=mtu),
        }
        for forward, sip in sip_messages(msgs, version, variant):
            cap.features["messages"] += 1
            frames = flows[forward].frames(sip)
            cap.features["fragmented"] += len(frames) > 1
            if reverse_fragments:
                frames.reverse()
            for f in frames:
                cap.add(f)
        return cap
    tflows = {
        True: wire_flows.TcpFlow(a, b, 40000, 5060, seq=1000, ack=9000, linktype=linktype, vlans=vlans),
        False: wire_flows.TcpFlow(b, a, 5060, 40000, seq=9000, ack=1000, linktype=linktype, vlans=vlans),
    }
    cap.add(tflows[True].frame(b"", wire_transport.SYN))
    cap.add(tflows[False].frame(b"", wire_transport.SYN | wire_transport.ACK))
    cap.add(tflows[True].frame(b"", wire_transport.ACK))
    stream = list(sip_messages(msgs, version, variant))
    cap.features["messages"] = len(stream)
    i = 0
    while i < len(stream):
        forward, sip = stream[i]
        if segment and i % 3 == 0 and i + 1 < len(stream) and stream[i + 1][0] == forward:
            # two messages in one segment stream, cut in the middle of the second one's body
            data = sip + stream[i + 1][1]
            cut = len(sip) + len(stream[i + 1][1]) - 5
            cap.add(tflows[forward].frame(data[:cut]))
            cap.add(tflows[forward].frame(data[cut:]))
            cap.features["segmented"] += 1
            i += 2
            continue
        cap.add(tflows[forward].frame(sip))
        i += 1
    return cap


# ----------------------------------------------------------------------------------------------------
# running and comparing


def write(cap: Capture, path: Path, *, container: str = "pcap", gzip: bool = False, **kw: Any) -> Path:
    if container == "pcapng":
        with PcapngWriter(path, [(lt, f"if{i}") for i, lt in enumerate(cap.linktypes)], gzip=gzip, **kw) as w:
            for n, (iface, data) in enumerate(cap.frames):
                w.write(data, T0 + n * 0.25, iface)
    else:
        assert len(cap.linktypes) == 1
        with PcapWriter(path, cap.linktypes[0], gzip=gzip, **kw) as w:
            for n, (_, data) in enumerate(cap.frames):
                w.write(data, T0 + n * 0.25)
    return path


class _View:
    """A message as tshark would show it, for the comparison: the few representational differences
    that are not digit formatting (``tests.tshark_util.strip_st`` handles ST) are normalised here.

    * ITU/BICC cause indicators with a coding standard other than ITU-T (national, other
      international): tshark's Q.850 decoder stops at the coding standard and shows no cause value or
      location (the value is then national, not Q.850), while sigdiag still reports the value and the
      location octets.  The view hides them.  (tshark's ANSI ISUP decoder shows them, so ANSI messages
      are compared as they are.)
    """

    def __init__(self, m: Message) -> None:
        self._m = m
        self.cause = m.cause
        self.cause_location = m.cause_location
        cause = m.params.get("cause_indicators") if m.cause is not None else None
        if cause is not None and cause.get("coding_standard", 0) != 0 and m.variant != "ansi":
            self.cause = self.cause_location = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._m, name)


def compare_with_tshark(
    ours: Sequence[Message], theirs: list[dict[str, Any]]
) -> tuple[int, int, int, list[str]]:
    return agreement([_View(m) for m in ours], theirs)


def _check(name: str, path: Path, expected: int, tshark_options: Sequence[str], **settings: Any) -> None:
    """Compare sigdiag with tshark on ``path``; record and print the agreement; assert 100 %."""
    ours = list(read_messages(path, **settings))
    theirs = tshark_frames_any_variant(path, tshark_options)
    compared, agreed, total, problems = compare_with_tshark(ours, theirs)
    AGREEMENT[name] = (total, agreed)
    print(f"{name}: {agreed}/{total} messages agree with tshark")
    assert not problems, "\n".join(problems[:40])
    assert len(ours) == expected, (len(ours), expected)
    assert compared == agreed == total == expected
    # compare() skips a key that tshark leaves empty: check that tshark showed a CIC, OPC and DPC for
    # exactly the messages that have one (all but SIP-I; BICC on SCTP has a CIC only)
    keys = ("cic", "opc", "dpc")
    shown = Counter(k for t in theirs for tm in t["messages"] for k in keys if tm[k] is not None)
    assert shown == Counter(k for m in ours for k in keys if getattr(m, k) is not None)
    bad = [(m.frame, a.name) for m in ours for a in m.anomalies]
    assert not bad, bad


def _run(name: str, cap: Capture, tmp_path: Path, expected: int, **write_kw: Any) -> None:
    for feature in ("bundled", "fragmented", "segmented"):
        if feature in name:
            assert cap.features[feature] > 1, f"{name}: the capture has nothing {feature}"
    suffix = ".pcapng" if write_kw.get("container") == "pcapng" else ".pcap"
    path = write(cap, tmp_path / f"{name}{suffix}{'.gz' if write_kw.get('gzip') else ''}", **write_kw)
    _check(name, path, expected, cap.tshark, **cap.settings)


@pytest.fixture(scope="module", autouse=True)
def _report(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if not AGREEMENT:
        return
    total = sum(t for t, _ in AGREEMENT.values())
    agreed = sum(a for _, a in AGREEMENT.values())
    lines = [f"  {name:<34} {a:>4}/{t:<4}" for name, (t, a) in sorted(AGREEMENT.items())]
    lines.append(f"  {'TOTAL':<34} {agreed:>4}/{total:<4} ({100.0 * agreed / max(total, 1):.1f} %)")
    text = "\nsigdiag vs tshark on generated captures (messages agreed/compared):\n" + "\n".join(lines)
    print(text)
    # Also to the terminal, past output capturing, so the figures show in every run.
    capman = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capman is not None and reporter is not None:
        with capman.global_and_fixture_disabled():
            reporter.write_line(text)


# ----------------------------------------------------------------------------------------------------
# scenarios

ITU_MIX = call_mix()
BICC_MIX = call_mix(protocol="bicc", seed=7, cic_base=0x01020300)  # 32-bit call instance codes

Builder = Callable[[], Capture]

SIGTRAN: dict[str, tuple[Builder, int]] = {
    "m3ua_rfc": (lambda: sigtran_capture("m3ua", ITU_MIX), len(ITU_MIX)),
    "m3ua_rfc_rc": (lambda: sigtran_capture("m3ua", ITU_MIX, rc=1), len(ITU_MIX)),
    "m3ua_rfc_na_rc": (lambda: sigtran_capture("m3ua", ITU_MIX, rc=7, na=3), len(ITU_MIX)),
    "m3ua_draft6": (lambda: sigtran_capture("draft6", ITU_MIX), len(ITU_MIX)),
    "m3ua_draft6_rc": (lambda: sigtran_capture("draft6", ITU_MIX, rc=2), len(ITU_MIX)),
    "m2pa": (lambda: sigtran_capture("m2pa", ITU_MIX), len(ITU_MIX)),
    "m2ua": (lambda: sigtran_capture("m2ua", ITU_MIX), len(ITU_MIX)),
    "bicc_m3ua": (lambda: sigtran_capture("m3ua", BICC_MIX, protocol="bicc"), len(BICC_MIX)),
    "bicc_sctp_ppid8": (lambda: sigtran_capture("sctp", BICC_MIX, protocol="bicc"), len(BICC_MIX)),
    "bicc_m2pa": (lambda: sigtran_capture("m2pa", BICC_MIX, protocol="bicc"), len(BICC_MIX)),
    "m3ua_ipv6": (lambda: sigtran_capture("m3ua", ITU_MIX, v6=True), len(ITU_MIX)),
    "m3ua_vlan": (lambda: sigtran_capture("m3ua", ITU_MIX, vlans=[100]), len(ITU_MIX)),
    "m3ua_qinq": (lambda: sigtran_capture("m3ua", ITU_MIX, vlans=[(0x88A8, 10), 200]), len(ITU_MIX)),
    "m3ua_sll": (lambda: sigtran_capture("m3ua", ITU_MIX, linktype=113), len(ITU_MIX)),
    "m3ua_sll2": (lambda: sigtran_capture("m3ua", ITU_MIX, linktype=276), len(ITU_MIX)),
    "m3ua_loopback": (lambda: sigtran_capture("m3ua", ITU_MIX, linktype=0), len(ITU_MIX)),
    "m3ua_loopback_be": (lambda: sigtran_capture("m3ua", ITU_MIX, linktype=108), len(ITU_MIX)),
    "m3ua_raw_ip": (lambda: sigtran_capture("m3ua", ITU_MIX, linktype=101), len(ITU_MIX)),
    "m2pa_sll2_ipv6": (lambda: sigtran_capture("m2pa", ITU_MIX, linktype=276, v6=True), len(ITU_MIX)),
    "m3ua_bundled": (lambda: sigtran_capture("m3ua", ITU_MIX, bundle=4), len(ITU_MIX)),
    "m3ua_fragmented": (lambda: sigtran_capture("m3ua", ITU_MIX, fragment_every=3), len(ITU_MIX)),
    "m2pa_bundled_fragmented": (
        lambda: sigtran_capture("m2pa", ITU_MIX, bundle=3, fragment_every=4),
        len(ITU_MIX),
    ),
    "bicc_bundled_fragmented": (
        lambda: sigtran_capture("m3ua", BICC_MIX, protocol="bicc", bundle=3, fragment_every=2),
        len(BICC_MIX),
    ),
}


@pytest.mark.parametrize("name", list(SIGTRAN))
def test_sigtran(name: str, tmp_path: Path) -> None:
    build, expected = SIGTRAN[name]
    _run(name, build(), tmp_path, expected)


CALL_CONTROL = {"IAM", "SAM", "ACM", "CPG", "ANM", "CON", "REL", "RLC"}
SIP_COUNT = sum(m.type in CALL_CONTROL for m in ITU_MIX)

SIP: dict[str, Builder] = {
    "sipi_udp": lambda: sip_capture("udp", ITU_MIX),
    "sipi_udp_fragmented": lambda: sip_capture("udp", ITU_MIX, mtu=576),
    "sipi_udp_ipv6_sll": lambda: sip_capture("udp", ITU_MIX, linktype=113, v6=True),
    "sipi_udp_ipv6_fragmented": lambda: sip_capture("udp", ITU_MIX, mtu=576, v6=True),
    "sipi_udp_fragmented_last_first": lambda: sip_capture("udp", ITU_MIX, mtu=300, reverse_fragments=True),
    "sipi_tcp_ipv6_vlan_segmented": lambda: sip_capture("tcp", ITU_MIX, segment=True, v6=True, vlans=[42]),
    "sipi_tcp": lambda: sip_capture("tcp", ITU_MIX),
    "sipi_tcp_segmented": lambda: sip_capture("tcp", ITU_MIX, segment=True),
    "sipi_ansi_udp_fragmented": lambda: sip_capture(
        "udp", call_mix("ansi", maintenance=False), version="ansi88", variant="ansi", mtu=576
    ),
}


@pytest.mark.parametrize("name", list(SIP))
def test_sip_i(name: str, tmp_path: Path) -> None:
    cap = SIP[name]()
    assert cap.features["messages"] == SIP_COUNT  # every call-control message of the mix, one per SIP message
    _run(name, cap, tmp_path, SIP_COUNT)


@pytest.mark.parametrize("pc_format", list(MTP3_STANDARD))
@pytest.mark.parametrize(
    "carrier", ["mtp3_141", "mtp2_140", "mtp2_140_fcs", "mtp2_139", "m3ua", "m2pa", "m2ua"]
)
def test_point_code_formats(carrier: str, pc_format: str, tmp_path: Path) -> None:
    seed = list(MTP3_STANDARD).index(pc_format) + 20
    # ANSI CICs above 4095 use the 14-bit CIC field
    msgs = call_mix(variant_of(pc_format), seed=seed, cic_base=9000 if pc_format == "ansi" else 100)
    if carrier.startswith("mtp"):
        linktype = int(carrier.split("_")[1])
        cap = mtp_capture(linktype, msgs, pc_format=pc_format, fcs=carrier.endswith("fcs"))
    else:
        cap = sigtran_capture(carrier, msgs, pc_format=pc_format)
    _run(f"{carrier}_{pc_format}", cap, tmp_path, len(msgs))


@pytest.mark.parametrize(
    ("name", "linktype", "kw", "settings"),
    [
        ("mtp2_140_fcs_forced", 140, {"fcs": True}, {"mtp2_fcs": "yes"}),
        ("mtp2_140_no_fcs_forced", 140, {}, {"mtp2_fcs": "no"}),
        ("mtp2_139_annex_a", 139, {"annex_a": True}, {}),
    ],
)
def test_mtp2_options(
    name: str, linktype: int, kw: dict[str, Any], settings: dict[str, Any], tmp_path: Path
) -> None:
    """MTP2 with the FCS setting forced either way, and with Q.703 annex A (extended sequence numbers,
    announced in the link type 139 pseudo-header)."""
    cap = mtp_capture(linktype, ITU_MIX, **kw)
    cap.settings.update(settings)
    _run(name, cap, tmp_path, len(ITU_MIX))


def test_mtp2_long_msus(tmp_path: Path) -> None:
    """MSUs longer than 63 octets (LI capped at 63), with FCS: auto-detection needs the CRC here."""
    extra = {
        "original_called_number": _number("861058722999", nai=4),
        "redirecting_number": _number("861058722998", nai=4),
        "redirection_information": {
            "redirecting_indicator": 3,
            "redirection_counter": 1,
            "redirecting_reason": 1,
        },
        "location_number": _number("861058722000", nai=4),
        "generic_number": {"number_qualifier": 6, **_number("8613800138000", nai=4)},
        "access_transport": {"raw": "7c038890a2"},  # Q.931 low layer compatibility
    }
    long_mix = [
        Msg(m.type, {**m.params, **extra}, m.cic, m.forward) if m.type == "IAM" else m for m in ITU_MIX
    ]
    assert max(len(encode(m)) for m in long_mix) > 63
    for fcs in (False, True):
        cap = mtp_capture(140, long_mix, fcs=fcs)
        _run(f"mtp2_140_long{'_fcs' if fcs else ''}", cap, tmp_path, len(long_mix))


@pytest.mark.parametrize(
    ("name", "write_kw"),
    [
        ("pcap_nanosecond", {"nanosecond": True}),
        ("pcap_big_endian", {"big_endian": True}),
        ("pcap_gzip", {"gzip": True}),
        ("pcapng", {"container": "pcapng"}),
        ("pcapng_gzip", {"container": "pcapng", "gzip": True}),
    ],
)
def test_containers(name: str, write_kw: dict[str, Any], tmp_path: Path) -> None:
    _run(name, sigtran_capture("m3ua", ITU_MIX, bundle=2), tmp_path, len(ITU_MIX), **write_kw)


def _merge(*caps: Capture) -> Capture:
    """One pcapng capture holding the frames of ``caps`` interleaved, one interface per capture."""
    out = Capture([c.linktypes[0] for c in caps], tshark=caps[0].tshark)
    iters = [iter(c.frames) for c in caps]
    live = list(range(len(caps)))
    while live:
        for i in list(live):
            item = next(iters[i], None)
            if item is None:
                live.remove(i)
                continue
            out.add(item[1], i)
    return out


def test_pcapng_several_link_types(tmp_path: Path) -> None:
    """Ethernet/M3UA, MTP2 (140), MTP3 (141), SLL2/M2PA, MTP2 with pseudo-header (139) and raw IP SIP-I
    in one pcapng, each on its own interface, interleaved."""
    mixes = [call_mix(seed=s, cic_base=200 * s) for s in range(1, 6)]
    caps = [
        sigtran_capture("m3ua", mixes[0], bundle=2),
        mtp_capture(140, mixes[1]),
        mtp_capture(141, mixes[2]),
        sigtran_capture("m2pa", mixes[3], linktype=276),
        mtp_capture(139, mixes[4]),
        sip_capture("udp", ITU_MIX, linktype=101, mtu=576),
    ]
    expected = sum(len(m) for m in mixes) + SIP_COUNT
    _run("pcapng_mixed_linktypes", _merge(*caps), tmp_path, expected, container="pcapng")


def test_per_link_point_code_format(tmp_path: Path) -> None:
    """One pcapng with an ITU M3UA link, an ANSI MTP2 link and a China MTP3 link, decoded with a config
    file giving per-link formats; tshark (one MTP3 standard per run) is run once per format and each
    run is compared on the frames of its link."""
    itu = call_mix(seed=11)
    ansi = call_mix("ansi", seed=12, cic_base=300)
    china = call_mix(seed=13, cic_base=600)
    merged = _merge(
        sigtran_capture("m3ua", itu),
        mtp_capture(140, ansi, pc_format="ansi"),
        mtp_capture(141, china, pc_format="china"),
    )
    path = write(merged, tmp_path / "mixed_networks.pcapng", container="pcapng")
    config = tmp_path / "sigdiag.yaml"
    config.write_text(
        "pc_format: itu\n"
        "links:\n"
        "  - match: 'mtp2:if1'\n"
        "    pc_format: ansi\n"
        "  - match: 'mtp2:if2'\n"
        "    pc_format: china\n"
    )
    ours = list(read_messages(path, config=config))
    assert len(ours) == len(itu) + len(ansi) + len(china)
    frames_of = {i: {n for n, (iface, _) in enumerate(merged.frames, 1) if iface == i} for i in range(3)}
    total = agreed_all = 0
    problems: list[str] = []
    for iface, fmt in enumerate(("itu", "ansi", "china")):
        theirs = [t for t in tshark_frames_any_variant(path, _std(fmt)) if t["frame"] in frames_of[iface]]
        mine = [m for m in ours if m.frame in frames_of[iface]]
        assert {m.pc_format for m in mine} == {fmt}
        _, agreed, n, diffs = compare_with_tshark(mine, theirs)
        assert n == len(mine) > 0
        problems += [f"{fmt}: {d}" for d in diffs]
        total += n
        agreed_all += agreed
    AGREEMENT["pcapng_per_link_formats"] = (total, agreed_all)
    print(f"pcapng_per_link_formats: {agreed_all}/{total} messages agree with tshark")
    assert not problems, "\n".join(problems[:40])
    assert agreed_all == total


@pytest.mark.parametrize(
    ("container", "resolution"),
    [
        ("pcap", {}),
        ("pcap", {"nanosecond": True}),
        ("pcap", {"nanosecond": True, "big_endian": True}),
        ("pcapng", {"tsresol": 9}),
        ("pcapng", {"tsresol": 0x80 | 20}),  # 2^-20 s
        ("pcapng", {"tsresol": 3, "tsoffset": 1000}),
        ("pcapng_be", {"tsresol": 6}),
    ],
)
def test_timestamps_agree(tmp_path: Path, container: str, resolution: dict[str, Any]) -> None:
    """``Message.ts`` is tshark's ``frame.time_epoch`` (to the microsecond) for every resolution."""
    cap = sigtran_capture("m3ua", ITU_MIX)
    path = tmp_path / "ts.pcap"
    if container == "pcap":
        with PcapWriter(path, 1, **resolution) as w:
            for n, (_, data) in enumerate(cap.frames):
                w.write(data, T0 + n * 0.123456789)
    else:
        interface = PcapngInterface(1, "eth0", **resolution)
        with PcapngWriter(path, [interface], big_endian=container.endswith("_be")) as w:
            for n, (_, data) in enumerate(cap.frames):
                w.write(data, T0 + n * 0.123456789)
    ours = {m.frame: m.ts for m in read_messages(path)}
    theirs = tshark_times(path)
    assert sorted(ours) == sorted(theirs) and len(ours) == len(ITU_MIX)
    assert max(abs(ours[f] - theirs[f]) for f in ours) < 1e-6
