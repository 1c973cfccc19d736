"""Parsing and checking a scenario: the sections of the file, and the defaults for what is missing.

:func:`parse_scenario` builds a :class:`~sigdiag.simulate.scenario.Scenario` from parsed YAML,
:func:`load_scenario` reads a file, :func:`default_scenario` is the mix used without one.  Every key and
value is checked; the first problem raises :class:`~sigdiag.simulate.scenario.ScenarioError` naming the
file, the line and the key (:mod:`sigdiag.simulate.scenario_yaml`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from sigdiag.simulate.dist import Dist
from sigdiag.simulate.faults import (
    BURST_FAULTS,
    CALLING_ANOMALIES,
    CIRCUIT_FAULTS,
    FAULT_PARAMS,
    FAULT_TYPES,
    FaultSpec,
)
from sigdiag.simulate.scenario import (
    CARRIERS,
    DEFAULT_CALLED,
    DEFAULT_CALLING,
    DEFAULT_OUTCOMES,
    OUTCOME_KINDS,
    PC_BITS,
    PC_FORMATS,
    PROTOCOLS,
    VARIANTS,
    CaptureSpec,
    NumberPattern,
    OutcomeEntry,
    Scenario,
    ScenarioError,
    TrafficSpec,
    TrunkSpec,
)
from sigdiag.simulate.scenario_yaml import _Ctx, _enum_or_int, _kind, _line_of, _Section, _yaml_load

__all__ = ["default_scenario", "load_scenario", "parse_scenario"]

_NAI_NAMES = {"subscriber": 1, "unknown": 2, "national": 3, "international": 4}
_PLAN_NAMES = {"unknown": 0, "isdn": 1, "data": 3, "telex": 4, "private": 5}


#: The trunks used when a scenario has no ``trunks`` section.
DEFAULT_TRUNKS: list[dict[str, Any]] = [
    {
        "name": "isup-m3ua",
        "carrier": "m3ua",
        "protocol": "isup",
        "pc_format": "itu",
        "opc": 2061,
        "dpc": 2089,
        "cics": "1-1023",
        "routing_context": 10,
    },
    {
        "name": "bicc-m3ua",
        "carrier": "m3ua",
        "protocol": "bicc",
        "pc_format": "china",
        "opc": "10-27-44",
        "dpc": "10-27-61",
        "cics": "1-4000",
    },
]


def default_scenario() -> Scenario:
    """The mix used without a scenario file: healthy traffic (no faults) on two M3UA trunks, one ISUP
    with ITU 14-bit point codes and one BICC with China 24-bit point codes, 20 calls/s, 1000 calls."""
    return replace(
        parse_scenario({}, "<default>"), name="default", description="healthy traffic, default mix"
    )


def _parse_pc(s: _Section, key: str, pc_format: str, default: int) -> int:
    v = s.raw(key, None)
    if v is None:
        return default
    bits = PC_BITS[pc_format]
    if isinstance(v, int) and not isinstance(v, bool):
        value = v
    elif isinstance(v, str):
        from sigdiag.carrier.mtp import parse_pc

        try:
            value = parse_pc(v, pc_format)
        except ValueError as exc:
            raise s.fail(key, str(exc)) from None
    else:
        raise s.fail(key, f"expected a point code (decimal or structured text), got {_kind(v)}")
    if not 0 <= value < (1 << bits):
        raise s.fail(key, f"point code {value} does not fit the {bits} bits of the {pc_format} format")
    return value


def _parse_cics(
    s: _Section, key: str, default: tuple[tuple[int, int], ...], bits: int
) -> tuple[tuple[int, int], ...]:
    v = s.raw(key, None)
    if v is None:
        return default
    items = v if isinstance(v, list) else [v]
    out: list[tuple[int, int]] = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            a = b = item
        elif (
            isinstance(item, str)
            and item.replace(" ", "").replace("-", "").isdigit()
            and item.count("-") <= 1
        ):
            parts = item.replace(" ", "").split("-")
            a, b = int(parts[0]), int(parts[-1])
        else:
            raise s.fail(
                key, f"expected a CIC range like '1-960', an integer, or a list of them; got {_kind(item)}"
            )
        if not 0 <= a <= b < (1 << bits):
            raise s.fail(key, f"CIC range {a}-{b} must be within 0-{(1 << bits) - 1}")
        out.append((a, b))
    out.sort()
    for (_, b1), (a2, _) in pairwise(out):
        if a2 <= b1:
            raise s.fail(key, "CIC ranges overlap")
    total = sum(b - a + 1 for a, b in out)
    if total > 200_000:
        raise s.fail(key, f"{total} circuits is too many for one trunk (at most 200000)")
    return tuple(out)


def _parse_numbers(ctx: _Ctx, v: Any, where: str, line: int) -> tuple[NumberPattern, ...]:
    if not isinstance(v, list) or not v:
        raise ctx.fail(line, where, "expected a non-empty list of number patterns")
    out = []
    for i, item in enumerate(v):
        s = _Section(ctx, item, f"{where}[{i}]", _line_of(v, i, line))
        prefix = s.text("prefix", "")
        if not all(c in "0123456789ABCDEabcde" for c in prefix):
            raise s.fail("prefix", f"digits only, got {prefix!r}")
        length = s.integer("length", max(len(prefix), 1), 0, 40)
        if length < len(prefix):
            raise s.fail("length", f"length {length} is shorter than the prefix {prefix!r}")
        pat = NumberPattern(
            prefix=prefix.upper(),
            length=length,
            weight=s.number("weight", 1.0, 0.0),
            nai=_enum_or_int(s, "nai", 3, _NAI_NAMES, 127),
            plan=_enum_or_int(s, "plan", 1, _PLAN_NAMES, 7),
            screening=s.integer("screening", 3, 0, 3),
            presentation=s.integer("presentation", 0, 0, 3),
        )
        s.finish()
        out.append(pat)
    if sum(p.weight for p in out) <= 0:
        raise ctx.fail(line, where, "the weights add up to zero")
    return tuple(out)


def _parse_trunk(ctx: _Ctx, item: Any, i: int, line: int, names: set[str]) -> TrunkSpec:
    s = _Section(ctx, item, f"trunks[{i}]", line)
    name = s.text("name", f"trunk{i + 1}")
    if name in names:
        raise s.fail("name", f"trunk name {name!r} is used twice")
    s.where = f"trunks[{i}] ({name})"
    carrier = s.text("carrier", "m3ua", CARRIERS)
    protocol = s.text("protocol", "bicc" if carrier == "bicc" else "isup", PROTOCOLS)
    if carrier == "bicc" and protocol != "bicc":
        raise s.fail("protocol", "carrier bicc (BICC directly on SCTP) carries protocol bicc")
    variant = s.text("variant", "itu", VARIANTS)
    if protocol == "bicc" and variant != "itu":
        raise s.fail("variant", "BICC uses the ITU message formats")
    pc_format = s.text("pc_format", "ansi" if variant == "ansi" else "itu", PC_FORMATS)
    opc = _parse_pc(s, "opc", pc_format, 1 + 2 * i)
    dpc = _parse_pc(s, "dpc", pc_format, 2 + 2 * i)
    if opc == dpc:
        raise s.fail("dpc", "OPC and DPC are the same point code")
    cic_bits = 32 if protocol == "bicc" else (14 if variant == "ansi" else 12)
    default_hi = 4000 if protocol == "bicc" else (1 << cic_bits) - 1
    cics = _parse_cics(s, "cics", ((1, default_hi),), cic_bits)
    ipv = s.integer("ip_version", 4, 4, 6)
    if ipv not in (4, 6):
        raise s.fail("ip_version", "4 or 6")
    default_a = f"10.{(i // 250) % 250}.{i % 250}.1" if ipv == 4 else f"2001:db8:{i:x}::1"
    default_b = f"10.{(i // 250) % 250}.{i % 250}.2" if ipv == 4 else f"2001:db8:{i:x}::2"
    default_stp = f"10.{(i // 250) % 250}.{i % 250}.254" if ipv == 4 else f"2001:db8:{i:x}::fe"
    ip = s.section("ip")
    a_ip = ip.text("a", default_a)
    b_ip = ip.text("b", default_b)
    stp_ip = ip.text("stp", default_stp)
    vlan = ip.opt_integer("vlan", 0, 4095)
    ip.finish()
    import ipaddress

    for key, addr in (("a", a_ip), ("b", b_ip), ("stp", stp_ip)):
        try:
            parsed = ipaddress.ip_address(addr)
        except ValueError:
            raise ip.fail(key, f"not an IP address: {addr!r}") from None
        if parsed.version != ipv:
            raise ip.fail(key, f"{addr} is not an IPv{ipv} address (ip_version is {ipv})")
    default_port = {"m3ua": 2905, "m2pa": 3565, "m2ua": 2904, "bicc": 9900, "sip-i": 5060, "mtp2": 0}[carrier]
    sport = s.integer("sport", default_port, 0, 65535)
    dport = s.integer("dport", default_port, 0, 65535)
    streams = s.integer("streams", 16, 2, 65535)
    hops = s.integer("hops", 1, 1, 2)
    trunk = TrunkSpec(
        name=name,
        carrier=carrier,
        protocol=protocol,
        variant=variant,
        pc_format=pc_format,
        opc=opc,
        dpc=dpc,
        ni=s.integer("ni", 2, 0, 3),
        cics=cics,
        weight=s.number("weight", 1.0, 0.0),
        ip_version=ipv,
        a_ip=a_ip,
        b_ip=b_ip,
        stp_ip=stp_ip,
        vlan=vlan,
        sport=sport,
        dport=dport,
        streams=streams,
        routing_context=s.opt_integer("routing_context", 0, 0xFFFFFFFF),
        network_appearance=s.opt_integer("network_appearance", 0, 0xFFFFFFFF),
        hops=hops,
        hop_delay_ms=s.dist("hop_delay_ms", Dist.uniform(0.2, 2.0)),
        m2ua_interface=s.integer("m2ua_interface", i, 0, 0xFFFFFFFF),
        mtp2_fcs=s.boolean("mtp2_fcs", False),
        hop_counter=s.opt_integer("hop_counter", 0, 31),
        called=_parse_numbers(ctx, s.raw("called"), s.path("called"), s.key_line("called"))
        if s.has("called")
        else (),
        calling=(
            _parse_numbers(ctx, s.raw("calling"), s.path("calling"), s.key_line("calling"))
            if s.has("calling")
            else ()
        ),
        line=s.line,
    )
    s.finish()
    names.add(name)
    return trunk


def _parse_busy_hours(s: _Section, key: str) -> tuple[tuple[int, int], ...]:
    v = s.raw(key, None)
    if v is None:
        return ()
    if not isinstance(v, list):
        raise s.fail(key, "expected a list of 'HH:MM-HH:MM' periods")
    out = []
    for item in v:
        text = str(item).replace(" ", "")
        try:
            a, b = text.split("-")
            ah, am = [*a.split(":"), "0"][:2]
            bh, bm = [*b.split(":"), "0"][:2]
            start, end = int(ah) * 60 + int(am), int(bh) * 60 + int(bm)
        except ValueError:
            raise s.fail(key, f"expected 'HH:MM-HH:MM', got {item!r}") from None
        if not (0 <= start < end <= 24 * 60):
            raise s.fail(key, f"period {item!r} must lie within one day, start before end")
        out.append((start, end))
    return tuple(out)


#: The traffic section's durations and shares, in the order they are read.
_TRAFFIC_DISTS = (
    "holding_s",
    "pdd_ms",
    "alert_ms",
    "ring_s",
    "no_answer_s",
    "abandon_s",
    "early_release_ms",
    "response_ms",
)
_TRAFFIC_SHARES = ("caller_releases", "early_abandon", "cpg_share", "con_share")


def _parse_traffic(ctx: _Ctx, v: Any, line: int) -> TrafficSpec:
    s = _Section(ctx, v, "traffic", line)
    d = TrafficSpec()
    ov = s.section("overlap")
    iam_digits = ov.int_range("iam_digits", d.iam_digits, 0, 30)
    cps = s.number("cps", d.cps, 1e-6, 1e6)
    busy_hours = _parse_busy_hours(s, "busy_hours")
    off_peak = s.number("off_peak", 1.0 if not s.has("busy_hours") else 0.3, 0.0, 1.0)
    # read in this order (the first problem is the one reported)
    dists: dict[str, Any] = {k: s.dist(k, getattr(d, k)) for k in _TRAFFIC_DISTS}
    shares: dict[str, Any] = {k: s.share(k, getattr(d, k)) for k in _TRAFFIC_SHARES}
    spec = TrafficSpec(
        cps=cps,
        busy_hours=busy_hours,
        off_peak=off_peak,
        **dists,
        **shares,
        overlap_share=ov.share("share", d.overlap_share),
        iam_digits=iam_digits,
        sams=ov.int_range("sams", d.sams, 1, 20),
        inter_digit_ms=ov.dist("inter_digit_ms", d.inter_digit_ms),
        final_st=ov.share("final_st", d.final_st),
        en_bloc_st=s.share("en_bloc_st", d.en_bloc_st),
        min_release_after_sam_ms=ov.number("min_release_after_sam_ms", d.min_release_after_sam_ms, 0.0),
        line=s.line,
    )
    ov.finish()
    s.finish()
    if spec.response_ms.lo < 1.0 and spec.response_ms.kind != "fixed":
        raise s.fail("response_ms", "responses need at least 1 ms (min >= 1)")
    return spec


def _parse_outcomes(ctx: _Ctx, v: Any, line: int) -> tuple[OutcomeEntry, ...]:
    s = _Section(ctx, v, "outcomes", line)
    out: list[OutcomeEntry] = []
    for key in list(s.data):
        if key == "network":
            net = s.raw("network")
            if not isinstance(net, dict):
                raise s.fail(
                    "network", "expected a mapping of cause value -> weight, e.g. {34: 0.004, 41: 0.002}"
                )
            for cause, w in net.items():
                cl = _line_of(net, cause, s.key_line("network"))
                if isinstance(cause, bool) or not isinstance(cause, int) or not 1 <= cause <= 127:
                    raise ctx.fail(cl, "outcomes.network", f"cause values are integers 1-127, got {cause!r}")
                if isinstance(w, bool) or not isinstance(w, int | float) or w < 0:
                    raise ctx.fail(cl, f"outcomes.network.{cause}", f"expected a weight >= 0, got {_kind(w)}")
                out.append(OutcomeEntry("network", float(w), cause))
            continue
        if key not in OUTCOME_KINDS:
            raise ctx.fail(
                s.key_line(str(key)), f"outcomes.{key}", f"unknown outcome; known: {', '.join(OUTCOME_KINDS)}"
            )
        w = s.number(str(key), 0.0, 0.0)
        out.append(OutcomeEntry(str(key), w, OUTCOME_KINDS[str(key)][1]))
    s.finish()
    if not out or sum(o.weight for o in out) <= 0:
        raise ctx.fail(s.line, "outcomes", "the outcome weights add up to zero")
    return tuple(out)


def _fault_trunks(ctx: _Ctx, s: _Section, ftype: str, trunks: Mapping[str, TrunkSpec]) -> tuple[str, ...]:
    """The trunks a fault may act on: those named (``trunks`` or ``trunk``), else every trunk; only
    trunks with circuits for a fault that needs them; one trunk for a burst."""
    names: tuple[str, ...] = ()
    if s.has("trunks") or s.has("trunk"):
        key = "trunks" if s.has("trunks") else "trunk"
        v = s.raw(key)
        names_list = v if isinstance(v, list) else [v]
        for n in names_list:
            if not isinstance(n, str) or n not in trunks:
                raise s.fail(key, f"no trunk named {n!r}; trunks: {', '.join(trunks)}")
        names = tuple(names_list)
    eligible = [trunks[n] for n in names] if names else list(trunks.values())
    if ftype in CIRCUIT_FAULTS:
        bad = [t.name for t in eligible if t.carrier == "sip-i"]
        if names and bad:
            raise s.fail("trunks", f"{ftype} needs circuits; trunk {bad[0]!r} is SIP-I")
        eligible = [t for t in eligible if t.carrier != "sip-i"]
        if not eligible:
            raise ctx.fail(s.line, s.where, f"{ftype} needs circuits, and every trunk is SIP-I")
        names = tuple(t.name for t in eligible)
    if ftype in BURST_FAULTS and len(names) != 1:
        names = (eligible[0].name,)
    return names


def _parse_fault(ctx: _Ctx, item: Any, i: int, line: int, trunks: Mapping[str, TrunkSpec]) -> FaultSpec:
    s = _Section(ctx, item, f"faults[{i}]", line)
    ftype = s.text("type", "")
    if not ftype:
        raise ctx.fail(s.line, f"faults[{i}]", f"needs a 'type'; one of: {', '.join(FAULT_TYPES)}")
    if ftype not in FAULT_TYPES:
        raise s.fail("type", f"unknown fault type {ftype!r}; known: {', '.join(FAULT_TYPES)}")
    s.where = f"faults[{i}] ({ftype})"
    rate = s.share("rate", 0.0)
    count = s.integer("count", 0, 0, 10_000_000)
    if ftype in BURST_FAULTS:
        if s.has("rate") and rate:
            raise s.fail("rate", f"{ftype} is a burst: give 'count' (and 'start_s'), not 'rate'")
        if not count:
            count = (
                10
                if ftype not in ("circuit-reset-burst", "blocked-circuit-attempt", "repeat-attempts")
                else 1
            )
    elif not rate and not count:
        raise ctx.fail(s.line, s.where, "give 'rate' (share of calls) or 'count' (extra calls)")
    start_s = s.number("start_s", -1.0, 0.0) if s.has("start_s") else None
    end_s = s.number("end_s", -1.0, 0.0) if s.has("end_s") else None
    if start_s is not None and end_s is not None and end_s < start_s:
        raise s.fail("end_s", f"end_s {end_s} is before start_s {start_s}")
    names = _fault_trunks(ctx, s, ftype, trunks)
    params: dict[str, Any] = {}
    for pname, (pkind, default) in FAULT_PARAMS[ftype].items():
        if not s.has(pname):
            if default is not None:
                params[pname] = default
            continue
        params[pname] = _fault_param(ctx, s, pname, pkind)
    s.finish(extra_known=("type", "rate", "count", "start_s", "end_s", "trunks", "trunk"))
    return FaultSpec(
        type=ftype,
        rate=rate,
        count=count,
        start_s=start_s,
        end_s=end_s,
        trunks=names,
        params=params,
        line=s.line,
    )


#: Fault parameter kinds read by one typed getter: kind -> reader(section, key).
_PARAM_READERS: dict[str, Callable[[_Section, str], Any]] = {
    "dist": lambda s, name: s.dist(name, Dist.fixed(0.0)),
    "share": lambda s, name: s.share(name, 0.0),
    "num": lambda s, name: s.number(name, 0.0, 0.0),
    "int": lambda s, name: s.integer(name, 0, 0, 1 << 31),
    "int4": lambda s, name: s.integer(name, 0, 0, 15),
    "bool": lambda s, name: s.boolean(name, False),
    "irange": lambda s, name: s.int_range(name, (0, 0), 0, 1000),
    "cause": lambda s, name: s.integer(name, 0, 1, 127),
    "nai": lambda s, name: _enum_or_int(s, name, 3, _NAI_NAMES, 127),
    "outcome": lambda s, name: s.text(name, "", [k for k in OUTCOME_KINDS if k != "network"]),
}


def _fault_param(ctx: _Ctx, s: _Section, name: str, kind: str) -> Any:
    """The value of fault parameter ``name`` of ``kind`` (see :data:`FAULT_PARAMS`)."""
    reader = _PARAM_READERS.get(kind)
    if reader is not None:
        return reader(s, name)
    if kind == "digits":
        v = s.text(name, "")
        if not v or not all(c in "0123456789" for c in v):
            raise s.fail(name, f"expected decimal digits, got {v!r}")
        return v
    if kind.startswith("choice:"):
        return s.text(name, "", kind[7:].split(","))
    if kind == "causes":
        v = s.raw(name)
        if not isinstance(v, list) or not v or not all(isinstance(c, int) and 1 <= c <= 127 for c in v):
            raise s.fail(name, "expected a non-empty list of cause values 1-127")
        return tuple(v)
    if kind == "anomalies":
        v = s.raw(name)
        if (
            not isinstance(v, list)
            or not v
            or not all(isinstance(c, str) and c in CALLING_ANOMALIES for c in v)
        ):
            raise s.fail(name, f"expected a list of: {', '.join(CALLING_ANOMALIES)}")
        return tuple(v)
    raise AssertionError(kind)  # pragma: no cover


def _parse_start(s: _Section, key: str, default: float) -> tuple[float, float]:
    """(epoch seconds, UTC offset in seconds of the time given)."""
    v = s.raw(key, None)
    if v is None:
        return default, 8 * 3600.0
    if isinstance(v, bool):
        raise s.fail(key, "expected an ISO 8601 time or epoch seconds")
    if isinstance(v, int | float):
        return float(v), 0.0
    if isinstance(v, datetime):
        dt = v
    elif isinstance(v, date):
        dt = datetime(v.year, v.month, v.day)
    elif isinstance(v, str):
        try:
            dt = datetime.fromisoformat(v)
        except ValueError:
            raise s.fail(key, f"not an ISO 8601 time: {v!r}") from None
    else:
        raise s.fail(key, f"expected an ISO 8601 time or epoch seconds, got {_kind(v)}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    offset = dt.utcoffset()
    return dt.timestamp(), offset.total_seconds() if offset is not None else 0.0


def _parse_capture(ctx: _Ctx, v: Any, line: int) -> CaptureSpec:
    s = _Section(ctx, v, "capture", line)
    d = CaptureSpec()
    start, offset = _parse_start(s, "start", d.start)
    spec = CaptureSpec(
        start=start,
        utc_offset_s=offset,
        warmup_s=s.number("warmup_s", 0.0, 0.0, 86400.0),
        end=s.text("end", "drain", ("drain", "cut")),
        tail_s=s.number("tail_s", d.tail_s, 0.0),
        jitter_share=s.share("jitter_share", 0.0),
        jitter_max_ms=s.number("jitter_max_ms", d.jitter_max_ms, 0.0, 1000.0),
        format=s.text("format", "", ("pcap", "pcapng")) or None,
        line=s.line,
    )
    s.finish()
    return spec


def parse_scenario(data: Any, source: str = "<scenario>") -> Scenario:
    """Build a :class:`Scenario` from parsed YAML (as :func:`load_scenario` reads it)."""
    ctx = _Ctx(source)
    top = _Section(ctx, data, "", 1)
    v = top.raw("trunks") if top.has("trunks") else DEFAULT_TRUNKS
    tl = top.key_line("trunks")
    if not isinstance(v, list) or not v:
        raise ctx.fail(tl, "trunks", "expected a non-empty list of trunks")
    names: set[str] = set()
    trunks = tuple(_parse_trunk(ctx, item, i, _line_of(v, i, tl), names) for i, item in enumerate(v))
    if sum(t.weight for t in trunks) <= 0:
        raise ctx.fail(top.key_line("trunks"), "trunks", "the trunk weights add up to zero")
    traffic = (
        _parse_traffic(ctx, top.raw("traffic"), top.key_line("traffic"))
        if top.has("traffic")
        else TrafficSpec()
    )
    called, calling = DEFAULT_CALLED, DEFAULT_CALLING
    if top.has("numbers"):
        ns = top.section("numbers")
        if ns.has("called"):
            called = _parse_numbers(ctx, ns.raw("called"), "numbers.called", ns.key_line("called"))
        if ns.has("calling"):
            calling = _parse_numbers(ctx, ns.raw("calling"), "numbers.calling", ns.key_line("calling"))
        ns.finish()
    outcomes = (
        _parse_outcomes(ctx, top.raw("outcomes"), top.key_line("outcomes"))
        if top.has("outcomes")
        else DEFAULT_OUTCOMES
    )
    by_name = {t.name: t for t in trunks}
    faults: tuple[FaultSpec, ...] = ()
    if top.has("faults"):
        v = top.raw("faults")
        fl = top.key_line("faults")
        if v is None:
            v = []
        if not isinstance(v, list):
            raise ctx.fail(fl, "faults", "expected a list of faults")
        faults = tuple(_parse_fault(ctx, item, i, _line_of(v, i, fl), by_name) for i, item in enumerate(v))
    capture = (
        _parse_capture(ctx, top.raw("capture"), top.key_line("capture"))
        if top.has("capture")
        else CaptureSpec()
    )
    scenario = Scenario(
        name=top.text("name", Path(source).stem if source[:1] != "<" else "scenario"),
        description=top.text("description", ""),
        calls=top.integer("calls", 1000, 0, 1 << 40),
        duration_s=(top.number("duration_s", 0.0, 1e-3) if top.has("duration_s") else None),
        trunks=trunks,
        traffic=traffic,
        called=called,
        calling=calling,
        outcomes=outcomes,
        faults=faults,
        capture=capture,
        source=source,
    )
    top.finish()
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file; :class:`ScenarioError` names the file, the line and the problem."""
    from sigdiag.settings import ConfigError, read_config_text

    p = Path(path)
    try:
        text = read_config_text(p, "scenario")
    except ConfigError as exc:
        raise ScenarioError(str(exc)) from None
    data = _yaml_load(text, str(p))
    if data is None:
        raise ScenarioError(f"{p}:1: the file is empty; expected a scenario mapping (docs/scenario.md)")
    return parse_scenario(data, str(p))
