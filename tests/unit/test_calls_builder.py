"""Message and capture builders for the calls tests (imported by the other test_calls*/test_stats* files),
and tests of the builders themselves.

:class:`Flow` makes decoded :class:`~sigdiag.model.Message` objects directly (no capture file), for fast
state-machine tests; :func:`write_capture` writes the same messages as M3UA over SCTP in a pcap with their
time stamps, for end-to-end tests of the pipeline and the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sigdiag.calls import CallSettings, Correlator
from sigdiag.codec import encode_message
from sigdiag.codec.isup import decode_payload
from sigdiag.model import Message, Payload

T0 = 1_700_000_000.0
A, B = 100, 200  # point codes: A calls B unless said otherwise


def body(typ: str, cic: int | None, protocol: str = "isup", variant: str = "itu", **kw: Any) -> bytes:
    """The octets of one message with sensible mandatory parameters; keywords adjust them."""
    p: dict[str, Any]
    if typ == "IAM":
        called = {"nature_of_address": 3, "numbering_plan": 1, "digits": kw.get("called", "0453114")}
        if kw.get("st"):
            called["st"] = True
        p = {
            "nature_of_connection_indicators": {},
            "forward_call_indicators": {},
            "calling_partys_category": {"category": 10},
            "transmission_medium_requirement": {"medium": 3},
            "called_party_number": called,
        }
        if kw.get("calling", "01058722000"):
            p["calling_party_number"] = {
                "nature_of_address": kw.get("calling_nai", 3),
                "numbering_plan": 1,
                "digits": kw.get("calling", "01058722000"),
            }
    elif typ == "SAM":
        p = {"subsequent_number": {"digits": kw.get("digits", "2345"), "st": bool(kw.get("st", False))}}
    elif typ in ("ACM", "CON"):
        p = {"backward_call_indicators": {"called_partys_status": kw.get("status", 1)}}
    elif typ == "CPG":
        p = {"event_information": {"event": kw.get("event", 1)}}
    elif typ in ("REL", "CFN"):
        p = {"cause_indicators": {"location": kw.get("location", 2), "cause_value": kw.get("cause", 16)}}
    elif typ in ("GRS", "GRA"):
        p = {"range_and_status": {"range": kw.get("range", 3)}}
    elif typ in ("CGB", "CGU"):
        rng = kw.get("range", 7)
        status = kw.get("status", (1 << (rng + 1)) - 1)
        nbytes = (rng + 8) // 8
        p = {
            "circuit_group_supervision_message_type": {"type": kw.get("cgsm", 0)},
            "range_and_status": {"range": rng, "status": status.to_bytes(nbytes, "little").hex()},
        }
    elif typ == "COT":
        p = {"continuity_indicators": {"continuity_check_successful": 1}}
    elif typ == "FAC":
        p = {}
    else:
        p = {}
    return encode_message(typ, p, cic=cic, protocol=protocol, variant=variant)


class Flow:
    """Builds messages with increasing frame numbers and time stamps (``step`` seconds apart).

    ``fwd=True`` sends from ``A`` to ``B`` (the calling side), ``fwd=False`` from ``B`` to ``A``.
    """

    def __init__(self, step: float = 0.1, t0: float = T0, protocol: str = "isup") -> None:
        self.step = step
        self.ts = t0
        self.frame = 0
        self.protocol = protocol
        self.messages: list[Message] = []
        self.raw: list[tuple[float, int, int, bytes, str, str | None]] = []

    def msg(
        self,
        typ: str,
        cic: int | None = 5,
        fwd: bool = True,
        *,
        dt: float | None = None,
        ts: float | None = None,
        opc: int | None = None,
        dpc: int | None = None,
        sip: str | None = None,
        **kw: Any,
    ) -> Message:
        self.frame += 1
        if ts is None:
            self.ts += self.step if dt is None else dt
            ts = self.ts
        if opc is None:
            opc, dpc = (A, B) if fwd else (B, A)
        assert dpc is not None
        if sip is not None:
            data = body(typ, None, **kw)
            p = Payload(self.frame, ts, "sip-i", "isup", "itu", None, None, None, None, None, data, False)
            p.sip_call_id = sip
        else:
            data = body(typ, cic, self.protocol, **kw)
            p = Payload(self.frame, ts, "m3ua", self.protocol, "itu", "itu", opc, dpc, 2, 0, data, True)
        m = decode_payload(p)
        assert not m.anomalies, m.anomalies
        self.messages.append(m)
        self.raw.append((ts, opc, dpc, data, self.protocol, sip))
        return m

    def copy(self, m: Message, dt: float = 0.0002) -> Message:
        """The same message again (a second hop), ``dt`` later."""
        self.frame += 1
        p = Payload(
            self.frame,
            m.ts + dt,
            m.carrier,
            m.protocol,
            m.variant,
            m.pc_format,
            m.opc,
            m.dpc,
            m.ni,
            m.sls,
            m.raw,
        )
        p.sip_call_id = m.sip_call_id
        c = decode_payload(p)
        self.messages.append(c)
        self.raw.append((m.ts + dt, m.opc or 0, m.dpc or 0, m.raw, m.protocol, m.sip_call_id))
        return c


def correlate(messages: list[Message], **settings: Any) -> tuple[Correlator, list[Any]]:
    """Run a correlator over messages; returns it and every finished call (in finishing order)."""
    c = Correlator(CallSettings(**settings))
    calls = list(c.run(messages))
    return c, calls


def by_iam(calls: list[Any]) -> dict[int, Any]:
    return {c.iam_frame: c for c in calls}


def write_capture(path: Path, flow: Flow) -> Path:
    """The flow's messages as M3UA DATA (ISUP SI 5, BICC SI 13) over SCTP in a pcap, with their times."""
    from sigdiag.capture.writer import PcapWriter
    from sigdiag.carrier.sigtran import build_m3ua_data
    from tests.unit._packets import sctp_frame

    with PcapWriter(path, 1) as w:
        for i, (ts, opc, dpc, data, protocol, sip) in enumerate(flow.raw):
            assert sip is None, "write_capture writes M3UA only"
            si = 13 if protocol == "bicc" else 5
            m3ua = build_m3ua_data(opc, dpc, si, 2, 0, i & 0x0F, data)
            src, dst = ("10.0.0.1", "10.0.0.2") if opc < dpc else ("10.0.0.2", "10.0.0.1")
            w.write(sctp_frame(src, dst, 2905, 2905, 3, m3ua, tsn=i + 1), ts)
    return path


def test_flow_builds_decodable_messages() -> None:
    f = Flow()
    iam = f.msg("IAM", called="0453114", calling="01058722000")
    sam = f.msg("SAM", digits="2345", st=True)
    rel = f.msg("REL", fwd=False, cause=38, location=3)
    cgb = f.msg("CGB", fwd=False, range=7, status=0b101, cgsm=1)
    assert (iam.type, iam.called, iam.called_complete, iam.calling) == (
        "IAM",
        "0453114",
        False,
        "01058722000",
    )
    assert (sam.subsequent, sam.called_complete) == ("2345", True)
    assert (rel.opc, rel.dpc, rel.cause, rel.cause_location) == (B, A, 38, 3)
    assert cgb.params["range_and_status"]["status_bits"] == "10100000"
    assert cgb.params["circuit_group_supervision_message_type"]["type"] == 1
    assert f.copy(rel).raw == rel.raw


def test_write_capture_round_trips(tmp_path: Path) -> None:
    import sigdiag

    f = Flow()
    f.msg("IAM")
    f.msg("ACM", fwd=False)
    path = write_capture(tmp_path / "x.pcap", f)
    got = list(sigdiag.read_messages(path))
    assert [(m.type, m.opc, m.dpc, m.cic) for m in got] == [("IAM", A, B, 5), ("ACM", B, A, 5)]
    assert [round(m.ts, 6) for m in got] == [round(m.ts, 6) for m in f.messages]
