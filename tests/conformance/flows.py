"""Hand-written ISUP message flows for the conformance tests (not the simulator's).

A flow is a small table, one row per message as an engineer would draw the ladder::

    (seconds, direction, message, parameters)
    (0.0,     ">",       "IAM",   {"called": "0453114", "st": True})
    (1.2,     "<",       "ACM",   {})

``">"`` is sent by exchange :data:`A` to exchange :data:`B`, ``"<"`` by B to A.  Parameters are the few
that the procedure is about (called digits, ST, cause value and location, range and status...); every
other mandatory parameter of Q.763 gets a plain value.  Each message is encoded with the codec's encoder
(:func:`sigdiag.codec.encode_message`), wrapped in M3UA DATA over SCTP over IPv4/Ethernet (the carrier
builders) and written to a pcap (the capture writer) with its time stamp; the tests then read that file
with the library like any capture.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigdiag.calls import CallSettings
from sigdiag.capture.writer import PcapWriter
from sigdiag.carrier import link as wire_link
from sigdiag.carrier import sctp as wire_sctp
from sigdiag.carrier.sigtran import build_m3ua_data
from sigdiag.codec import encode_message
from sigdiag.report.frames import iter_calls
from sigdiag.rules import check

__all__ = ["T0", "A", "B", "Result", "Row", "analyse", "encode", "run_flow", "write_flow"]

#: point codes (ITU, 14 bits) of the two exchanges; ``>`` is A to B
A, B = 1001, 2002
#: time of a flow's 0.0 (epoch seconds)
T0 = 1_750_000_000.0
_IP = {A: "192.0.2.1", B: "192.0.2.2"}

Row = tuple[float, str, str, Mapping[str, Any]]


def _digits_param(digits: str, st: bool, nai: int = 3) -> dict[str, Any]:
    return {"nature_of_address": nai, "numbering_plan": 1, "digits": digits, "st": st}


def encode(typ: str, cic: int, p: Mapping[str, Any]) -> bytes:
    """The octets of one ITU ISUP message (CIC first) from the flow's few parameters."""
    params: dict[str, Any]
    if typ == "IAM":
        params = {
            "nature_of_connection_indicators": {"continuity_check": 1 if p.get("cot") else 0},
            "forward_call_indicators": {"isup_all_the_way": 1},
            "calling_partys_category": {"category": p.get("category", 10)},
            "transmission_medium_requirement": {"medium": 3},
            "called_party_number": _digits_param(p.get("called", "0453114"), bool(p.get("st", True))),
        }
        if p.get("calling", "01058722000"):
            number = _digits_param(p.get("calling", "01058722000"), False)
            number.pop("st")
            params["calling_party_number"] = number
    elif typ == "SAM":
        params = {"subsequent_number": {"digits": p["digits"], "st": bool(p.get("st", False))}}
    elif typ in ("ACM", "CON"):
        params = {"backward_call_indicators": {"called_partys_status": p.get("status", 1), "charge": 2}}
    elif typ == "CPG":
        params = {"event_information": {"event": p.get("event", 1)}}
    elif typ in ("REL", "CFN"):
        params = {"cause_indicators": {"location": p.get("location", 2), "cause_value": p.get("cause", 16)}}
    elif typ == "COT":
        params = {"continuity_indicators": {"continuity_check_successful": 1 if p.get("ok", True) else 0}}
    elif typ in ("GRS", "GRA"):
        status = p.get("status")
        params = {"range_and_status": {"range": p.get("range", 3), **({"status": status} if status else {})}}
    elif typ in ("CGB", "CGU", "CGBA", "CGUA"):
        rng = int(p.get("range", 7))
        bits = str(p.get("bits", "1" * (rng + 1)))  # first circuit first
        value = sum(1 << i for i, b in enumerate(bits) if b == "1")
        params = {
            "circuit_group_supervision_message_type": {"type": 1 if p.get("hardware") else 0},
            "range_and_status": {"range": rng, "status": value.to_bytes(rng // 8 + 1, "little").hex()},
        }
    else:  # RLC, ANM, RSC, BLO, UBL, BLA, UBA, UCIC, CCR, ...: no mandatory parameter
        params = {}
    return encode_message(typ, params, cic=cic)


def write_flow(path: Path, rows: Sequence[Row], cic: int = 1, t0: float = T0) -> Path:
    """Write the flow's messages as M3UA DATA over SCTP in a pcap (a row may give its own ``cic``)."""
    tsn = {A: 0, B: 0}
    with PcapWriter(path, 1) as w:
        for i, (t, direction, typ, p) in enumerate(sorted(rows, key=lambda r: r[0])):
            if direction not in (">", "<"):
                raise ValueError(f"row {i}: direction must be '>' or '<', not {direction!r}")
            opc, dpc = (A, B) if direction == ">" else (B, A)
            data = encode(typ, int(p.get("cic", cic)), p)
            m3ua = build_m3ua_data(opc, dpc, 5, 2, 0, i & 0x0F, data, routing_context=1)
            tsn[opc] += 1
            chunk = wire_sctp.data_chunk(m3ua, tsn[opc], ppid=3)
            packet = wire_sctp.sctp_packet(_IP[opc], _IP[dpc], 2905, 2905, [chunk])
            w.write(wire_link.encapsulate(1, packet), t0 + t)
    return path


@dataclass
class Result:
    """What the library made of a flow: the calls (refined outcomes) and the findings of every rule."""

    calls: list[Any]
    findings: list[Any]

    def rules(self) -> dict[str, int]:
        """Findings per rule id."""
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.rule] = out.get(f.rule, 0) + 1
        return out

    def of(self, rule: str) -> list[Any]:
        return [f for f in self.findings if f.rule == rule]

    def call(self, cic: int | None = None) -> Any:
        """The one call (on ``cic``)."""
        found = [c for c in self.calls if cic is None or c.cic == cic]
        assert len(found) == 1, found
        return found[0]


def analyse(
    path: Path,
    settings: Mapping[str, Mapping[str, Any]] | Iterable[str] | None = None,
    call_settings: CallSettings | None = None,
) -> Result:
    """Read a flow's capture with the library: :func:`sigdiag.iter_calls` (outcomes refined by the shipped
    rules, as the commands give them) and :func:`sigdiag.rules.check` (one process; rule ``settings`` as
    for ``check``)."""
    calls = list(iter_calls(path, settings=call_settings))
    findings = list(check(path, settings=settings, call_settings=call_settings, workers=1))
    return Result(calls, findings)


def run_flow(
    tmp_path: Path,
    rows: Sequence[Row],
    cic: int = 1,
    settings: Mapping[str, Mapping[str, Any]] | Iterable[str] | None = None,
    name: str = "flow.pcap",
) -> Result:
    """Write the flow to ``tmp_path/name`` and analyse it."""
    return analyse(write_flow(tmp_path / name, rows, cic), settings)
