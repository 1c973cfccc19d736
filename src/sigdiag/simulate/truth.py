"""What a run says about its capture: the truth rows, the events file, message ladders, the decode
settings and the run's :class:`SimulationResult`.

* ``<out>.truth.jsonl``: one row per call whose IAM is in the capture, in IAM frame order, written by
  :meth:`TruthWriter._truth_row` (a :class:`~sigdiag.simulate.flows.Call`) or :func:`_truth_rows` (the
  tuple tags of fast-path calls, :mod:`sigdiag.simulate.fastpath`), JSON built by hand: it is per call;
* ``<out>.events.jsonl``: faults that are not one call (:meth:`TruthWriter._event`), and orphan
  messages (:meth:`TruthWriter._orphan`);
* ``<out>.config.yaml``: the decode settings for the capture (:meth:`TruthWriter._config_yaml`).

:class:`TruthWriter` is the run's part for these (see :mod:`sigdiag.simulate.runstate`); the writer
process (:mod:`sigdiag.simulate.output`) uses :func:`_truth_rows` too, so both write the same text.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigdiag.simulate.flows import ANM, CON, REL, SAM, Call
from sigdiag.simulate.isupgen import MESSAGE_TYPE
from sigdiag.simulate.runstate import RunState

#: Time stamps (µs) below this print the same as ``f"{us / 1e6:.6f}"`` when written as whole seconds, a
#: point and six digits of micro-seconds: a double is then within half a micro-second of the value (its
#: spacing at 2**32 s is below one micro-second), so the float rounds back to it.
_EXACT_US = (1 << 32) * 1_000_000

#: Ladder names of the message types (the codec's names, see :data:`~sigdiag.simulate.isupgen.MESSAGE_TYPE`).
_NAMES = {code: name for name, code in MESSAGE_TYPE.items()}


@dataclass
class SimulationResult:
    """What :func:`sigdiag.simulate.simulate` wrote."""

    path: Path
    truth_path: Path
    events_path: Path
    config_path: Path
    format: str
    seed: int
    calls: int = 0  # truth rows (calls whose IAM is in the capture)
    messages: int = 0  # ISUP/BICC messages written (each copy on a second hop counts)
    frames: int = 0  # capture records (SIP-I adds records without ISUP: 100 Trying, ACK, 200 OK)
    events: int = 0
    skipped: int = 0  # arrivals that found no idle circuit
    duration_s: float = 0.0  # capture span (last minus first time stamp)
    elapsed_s: float = 0.0  # wall-clock time of the run
    outcomes: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        """Messages written per second of wall-clock time."""
        return self.messages / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> str:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items())) or "none"
        return (
            f"{self.path}: {self.frames} frames, {self.messages} messages, {self.calls} calls "
            f"({', '.join(f'{k} {v}' for k, v in sorted(self.outcomes.items()))}); faults: {faults}; "
            f"{self.events} events; {self.duration_s:.1f} s of traffic; "
            f"{self.rate:,.0f} messages/s"
        )


def output_paths(out: str | os.PathLike[str]) -> tuple[Path, Path, Path, Path]:
    """(capture, truth, events, config) paths for an output name: ``x.pcap`` -> ``x.truth.jsonl`` ..."""
    p = Path(out)
    stem = p.name
    for ext in (".pcapng", ".pcap", ".cap"):
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
            break
    return (
        p,
        p.with_name(stem + ".truth.jsonl"),
        p.with_name(stem + ".events.jsonl"),
        p.with_name(stem + ".config.yaml"),
    )


class TruthWriter(RunState):
    """TRUTHMIXIN"""

    def _observe(self, call: Call, visible: list[tuple[int, int, bytes]]) -> None:
        """What the capture shows of a call cut by the end of the capture: its outcome so far, and the
        called digits of the address messages that are in the capture."""
        from sigdiag.codec import decode_bytes

        if len(visible) < len(call.flow):
            tr = call.trunk
            sams = [m for m in call.flow if m[2][0] == SAM]
            seen = [m for m in visible if m[2][0] == SAM]
            if len(seen) < len(sams):
                cut = "".join(
                    decode_bytes(
                        m[2], protocol=tr.spec.protocol, variant=tr.spec.variant, has_cic=False
                    ).subsequent
                    or ""
                    for m in sams[len(seen) :]
                )
                call.called = call.called[: len(call.called) - len(cut)]
                call.sam_count = len(seen)
        types = {m[2][0] for m in visible}
        if REL not in types:
            call.outcome = "answered" if (ANM in types or CON in types) else "unknown"
            call.detail = "open-at-capture-end"
            call.cause = call.location = call.released_by = call.conv = None
        call.tail_json = None

    def _orphan(self, call: Call, visible: list[tuple[int, int, bytes]]) -> None:
        tr = call.trunk
        s = tr.spec
        reason = "iam-lost" if call.drop_iam else "capture-started-mid-call"
        opc, dpc = (s.dpc, s.opc) if call.reverse else (s.opc, s.dpc)
        nopc = tr.no_pcs
        self._event(
            {
                "fault": "orphan-message",
                "scope": "call",
                "reason": reason,
                "trunk": s.name,
                "opc": None if nopc else opc,
                "dpc": None if nopc else dpc,
                "cic": call.cic,
                "call_id": call.call_id,
                "called": call.called,
                "messages": [_ladder(m) for m in visible],
                "window_start": self._ts(call.t0 + visible[0][0]),
                "window_end": self._ts(call.t0 + visible[-1][0]),
            }
        )

    # -- output ---------------------------------------------------------------------------------------
    def _ts(self, t: int) -> float:
        return round((self.epoch_us + t) / 1e6, 6)

    def _event(self, row: dict[str, Any]) -> None:
        """Write one row of the events file (faults that are not one call, and orphan messages)."""
        self.event_seq += 1
        out = {"event_id": self.event_seq, **row}
        self.result.events += 1
        self.result.faults[f"{row['fault']} (event)"] += 1
        assert self.fevents is not None
        self.fevents.write(json.dumps(out, separators=(",", ":")) + "\n")

    @staticmethod
    def _tail_json(call: Call) -> str:
        """The truth row from ``outcome`` on (the part that does not depend on the call's identity).

        Also run for every pooled flow (16,384 of them in the benchmark's run): the JSON of the small
        values comes from the memos :data:`_JS` and :data:`_JN` rather than from function calls."""
        js, jn = _JS, _JN
        flow = call.flow
        conv = "null" if call.conv is None else f"{call.conv / 1e6:.3f}"
        ladder = ",".join([_LADDER[d][b[0]] for _, d, b in flow])
        answered = (
            "true"
            if call.conv is not None
            or call.kind == "answered"
            or any(b[0] == ANM or b[0] == CON for _, _, b in flow)
            else "false"
        )
        is_open = "true" if call.fault == "hung-call" or call.detail == "open-at-capture-end" else "false"
        return (
            f'"outcome":"{call.outcome}","outcome_detail":{js[call.detail]},'
            f'"intended_outcome":"{call.intended}",'
            f'"cause":{jn[call.cause]},"cause_location":{jn[call.location]},'
            f'"released_by":{js[call.released_by]},"answered":{answered},'
            f'"conversation_s":{conv},"sam_count":{call.sam_count},"open":{is_open},'
            f'"fault":{js[call.fault]},"fault_detail":{js[call.fault_detail]},'
            f'"related_call_id":{jn[call.related]},"group":{jn[call.group]},"messages":[{ladder}]}}\n'
        )

    def _truth_row(self, call: Call, frame: int, ts: int) -> str:
        """The truth row of a call whose IAM is frame ``frame`` (JSON built by hand: it is per call); the
        call is counted in the result."""
        tr = call.trunk
        s = tr.spec
        if tr.no_pcs:
            opc = dpc = "null"
        elif call.reverse:
            opc, dpc = s.dpc, s.opc
        else:
            opc, dpc = s.opc, s.dpc
        calling = call.calling
        if calling is None:
            cg = '"calling":null,"calling_nai":null,'
        else:
            cg = f'"calling":{_js(calling)},"calling_nai":{call.calling_attrs[0]},'
        row = (
            f'{{"call_id":{call.call_id},{tr.prefix},"opc":{opc},"dpc":{dpc},"cic":{_j(call.cic)},'
            f'"sip_call_id":{_js(call.sip_call_id)},"iam_frame":{frame},'
            f'"start":{(self.epoch_us + ts) / 1e6:.6f},'
            f'"called":"{call.called}",{cg}{call.tail_json or self._tail_json(call)}'
        )
        r = self.result
        r.calls += 1
        r.outcomes[call.outcome] += 1
        if call.fault:
            r.faults[call.fault] += 1
        return row

    def _config_yaml(self) -> str:
        """Decode settings for this capture (``sigdiag ... --config``)."""
        from sigdiag.carrier.sigtran import link_name

        first = self.sc.trunks[0]
        glob_pc = first.pc_format
        glob_variant = "ansi" if glob_pc == "ansi" else "itu"
        links: list[dict[str, str]] = []
        seen: set[str] = set()
        for tr in self.trunks:
            s = tr.spec
            if s.pc_format == glob_pc and s.variant == glob_variant:
                continue
            carrier = {"bicc": "sctp", "sip-i": "sip-i"}.get(s.carrier, s.carrier)
            legs = [(s.a_ip, s.b_ip)] if s.hops == 1 else [(s.a_ip, s.stp_ip), (s.stp_ip, s.b_ip)]
            for i, (a, b) in enumerate(legs):
                if s.carrier == "mtp2":
                    hop = self.hop_list[tr.hops[i][0]]
                    match = f"mtp2:if{hop.iface}"
                else:
                    match = link_name(carrier, a, s.sport, b, s.dport)
                if match in seen:
                    continue
                seen.add(match)
                links.append({"match": match, "pc_format": s.pc_format, "variant": s.variant})
        lines = [
            "# Decode settings for this simulated capture (sigdiag --config FILE).",
            f"pc_format: {glob_pc}",
        ]
        if links:
            lines.append("links:")
            for link in links:
                lines.append(f'  - match: "{link["match"]}"')
                lines.append(f"    pc_format: {link['pc_format']}")
                lines.append(f"    variant: {link['variant']}")
        return "\n".join(lines) + "\n"


def _truth_rows(
    rows: list[str],
    tagged: list[tuple[int, tuple[Any, ...]]],
    epoch_us: int,
    base: int,
    other: Callable[[Any, int, int], str],
) -> int:
    """Append to ``rows`` the truth rows of a bucket's tagged items ``(frame, item)`` (``base``: the
    bucket's start); the row of a tag that is neither a fast-path tuple nor an int comes from
    ``other(tag, frame, time)``.  Returns the number of SIP messages without ISUP (tag -1)."""
    # the bucket's start as whole seconds and micro-seconds: a row's start is "{sec}." and the six
    # digits of usec + offset while the offset stays in that second and the time is below _EXACT_US
    sec, usec = divmod(epoch_us + base, 1_000_000)
    exact = 1 <= sec < _EXACT_US // 1_000_000
    secdot = f"{sec}."
    aux = 0
    for i, (ts, _, _, tag) in tagged:
        cls = tag.__class__
        if cls is int:  # -1: a SIP message without ISUP
            aux += 1
            continue
        if cls is not tuple:
            rows.append(other(tag, i, base + ts))
            continue
        # a fast-path call (_Run._fast_caller): (call id, the row's text from the trunk to "iam_frame":,
        # called, calling, the text from the calling number's end to the flow's part, that part)
        call_id, head, called, calling, nai, tail_json = tag
        us = usec + ts
        if exact and 0 <= us < 1_000_000:  # f"{time / 1e6:.6f}" without the float (3x faster)
            rows.append(  # (a format spec such as :06d costs more than str()[1:])
                f'{{"call_id":{call_id},{head}{i},"start":{secdot}{str(us + 1_000_000)[1:]},'
                f'"called":"{called}","calling":"{calling}{nai}{tail_json}'
            )
        else:
            rows.append(
                f'{{"call_id":{call_id},{head}{i},"start":{(epoch_us + base + ts) / 1e6:.6f},'
                f'"called":"{called}","calling":"{calling}{nai}{tail_json}'
            )
    return aux


def _j(v: int | None) -> str:
    return "null" if v is None else str(v)


_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:@ ")


def _js(v: str | None) -> str:
    """A JSON string (or null); plain tokens without escaping, anything else through json."""
    if v is None:
        return "null"
    if _SAFE.issuperset(v):
        return f'"{v}"'
    return json.dumps(v)


class _Memo(dict[Any, str]):
    """``memo[v]`` is ``fn(v)``, computed once per value (up to 4096 values are kept): truth rows repeat a
    few values (outcome details, causes, who released) many times, and a dictionary look-up is several
    times cheaper than a function call."""

    def __init__(self, fn: Callable[[Any], str]) -> None:
        super().__init__()
        self.fn = fn

    def __missing__(self, v: Any) -> str:
        text = self.fn(v)
        if len(self) < 4096:
            self[v] = text
        return text


#: Memos of :func:`_js` (strings or None) and :func:`_j` (ints or None); kept apart so that 1 and "1"
#: never meet.
_JS = _Memo(_js)
_JN = _Memo(_j)


def _ladder_names(d: int) -> list[str]:
    names = [_NAMES.get(c, f"0x{c:02X}") for c in range(256)]
    return [f'"{n}>"' if d == 0 else f'"<{n}"' for n in names]


#: '"IAM>"' forward, '"<REL"' backward: ladder entries by direction and message type code.
_LADDER = (_ladder_names(0), _ladder_names(1))


def _ladder(m: tuple[int, int, bytes]) -> str:
    name = _NAMES.get(m[2][0], f"0x{m[2][0]:02X}")
    return f"{name}>" if m[1] == 0 else f"<{name}"
