"""``sigdiag show`` shows at least every ISUP/BICC parameter tshark shows, with the same code, length and
octets, and the same CIC, message type, OPC and DPC, frame by frame.

tshark's view is read from ``-T pdml``: in each ``isup``/``bicc`` protocol element, a parameter is an
element holding an ``isup.parameter_type`` field (its code; code 0 ends the optional part); its length is
the ``isup.parameter_length`` field (variable and optional parameters) or the element's size (fixed
ones), and its value octets are the last ``length`` octets of the element's ``value``.  Bundled captures
(``captures/``, with their ``.config.yaml`` settings) and the shared ones (``../shared/captures``, with
MANIFEST.tsv's tshark options) are checked; a large capture is sampled (at most :data:`SAMPLE` frames,
every message type first).
"""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sigdiag.decode import resolve_settings
from sigdiag.report.dissect import frame_trees
from tests.tshark_util import TSHARK, needs_tshark, shared_cases

pytestmark = [needs_tshark, pytest.mark.tshark]

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures"
SHARED = ROOT.parent / "shared" / "captures"
MANIFEST = SHARED / "MANIFEST.tsv"
SHARED_CASES = shared_cases(MANIFEST)
#: Most frames compared per capture.
SAMPLE = 200


# -- tshark's side --------------------------------------------------------------------------------------


def _fields(element: ET.Element, name: str) -> list[ET.Element]:
    return [f for f in element.iter("field") if f.get("name") == name]


def _parameter(wrapper: ET.Element) -> dict[str, Any] | None:
    """A parameter element of tshark's ISUP tree: code, length and value octets (None: not one)."""
    kind = next((f for f in wrapper if f.get("name") == "isup.parameter_type"), None)
    if kind is None or int(kind.get("show", "0")) == 0:
        return None
    lengths = [f for f in wrapper if f.get("name") == "isup.parameter_length"]
    length = int(lengths[0].get("show", "0")) if lengths else int(wrapper.get("size", "0"))
    value = wrapper.get("value")
    raw = value[len(value) - 2 * length :] if value is not None and len(value) >= 2 * length else None
    return {"code": int(kind.get("show", "0")), "length": length, "raw": raw}


def _message(proto: ET.Element) -> dict[str, Any]:
    types = _fields(proto, "isup.message_type")
    cics = _fields(proto, "isup.cic") + _fields(proto, "bicc.cic")
    params = [p for p in (_parameter(w) for w in proto.iter("field") if w.get("name") == "") if p]
    return {
        "type_code": int(types[0].get("show", "-1"), 0) if types else None,
        "cic": int(cics[0].get("show", "0"), 0) if cics else None,
        "params": params,
    }


def tshark_view(path: Path, options: list[str]) -> dict[int, dict[str, Any]]:
    """Per frame with ISUP/BICC: its messages (type, CIC, parameters) and the OPC/DPC values in order."""
    assert TSHARK is not None
    cmd = [TSHARK, "-n", "-r", str(path), *options, "-Y", "isup or bicc", "-T", "pdml"]
    out = subprocess.run(cmd, capture_output=True, check=True, timeout=900).stdout
    frames: dict[int, dict[str, Any]] = {}
    for packet in ET.fromstring(out).iter("packet"):
        number = int(_fields(packet, "frame.number")[0].get("show", "0"))
        protos = [p for p in packet.iter("proto") if p.get("name") in ("isup", "bicc")]
        opcs = _fields(packet, "m3ua.protocol_data_opc") or _fields(packet, "mtp3.opc")
        dpcs = _fields(packet, "m3ua.protocol_data_dpc") or _fields(packet, "mtp3.dpc")
        frames[number] = {
            "messages": [_message(p) for p in protos],
            "opc": [int(f.get("show", "0"), 0) for f in opcs],
            "dpc": [int(f.get("show", "0"), 0) for f in dpcs],
        }
    return frames


def sample(frames: dict[int, dict[str, Any]], size: int = SAMPLE) -> list[int]:
    """At most ``size`` frame numbers, deterministically: round robin over the message types, so every
    type is in."""
    by_type: dict[Any, list[int]] = defaultdict(list)
    for number in sorted(frames):
        key = tuple(m["type_code"] for m in frames[number]["messages"])
        by_type[key].append(number)
    chosen: list[int] = []
    queues = [list(v) for _, v in sorted(by_type.items(), key=lambda kv: str(kv[0]))]
    while len(chosen) < size and any(queues):
        for q in queues:
            if q and len(chosen) < size:
                chosen.append(q.pop(0))
    return sorted(chosen)


# -- our side ------------------------------------------------------------------------------------------


def our_messages(tree: dict[str, Any], label: dict[str, int] | None = None) -> Iterator[dict[str, Any]]:
    """The ISUP/BICC nodes of a tree in order, each with the OPC/DPC of the layer above it."""
    label = dict(label or {})
    for f in tree["fields"]:
        if f["name"] in ("OPC", "DPC"):
            label[f["name"]] = f["value"]
    for child in tree["children"]:
        if child["layer"] in ("ISUP", "BICC"):
            values = {f["name"]: f["value"] for f in child["fields"]}
            yield {
                "type_code": values["message type"],
                "cic": values.get("CIC"),
                "opc": label.get("OPC"),
                "dpc": label.get("DPC"),
                "params": child["children"],
            }
        else:
            yield from our_messages(child, label)


def differences(number: int, ours: list[dict[str, Any]], theirs: dict[str, Any]) -> list[str]:
    problems = []
    if len(ours) != len(theirs["messages"]):
        return [f"frame {number}: sigdiag {len(ours)} messages, tshark {len(theirs['messages'])}"]
    for i, (m, t) in enumerate(zip(ours, theirs["messages"], strict=True)):
        where = f"frame {number} message {i + 1}"
        for key in ("type_code", "cic"):
            if t[key] is not None and m[key] != t[key]:
                problems.append(f"{where}: {key} sigdiag {m[key]} tshark {t[key]}")
        for key in ("opc", "dpc"):
            if i < len(theirs[key]) and m[key] != theirs[key][i]:
                problems.append(f"{where}: {key} sigdiag {m[key]} tshark {theirs[key][i]}")
        unused = list(m["params"])
        for tp in t["params"]:
            p = next((p for p in unused if p["code"] == tp["code"]), None)
            if p is None:
                problems.append(f"{where}: parameter {tp['code']} missing (tshark shows it)")
                continue
            unused.remove(p)
            if p["length"] != tp["length"] or (tp["raw"] is not None and p["raw"] != tp["raw"]):
                problems.append(
                    f"{where}: parameter {tp['code']} sigdiag {p['length']}:{p['raw']} tshark {tp}"
                )
    return problems


def check(path: Path, options: list[str], settings: Any) -> int:
    theirs = tshark_view(path, options)
    chosen = sample(theirs)
    trees = frame_trees(path, chosen, settings)
    problems: list[str] = []
    compared = 0
    for number in chosen:
        ours = list(our_messages(trees[number]))
        problems += differences(number, ours, theirs[number])
        compared += sum(len(t["params"]) for t in theirs[number]["messages"])
    assert not problems, "\n".join(problems[:30])
    return compared


# -- the captures ----------------------------------------------------------------------------------------


def _bundled() -> list[Path]:
    return sorted(p for p in CAPTURES.glob("*.pcap*") if p.is_file())


@pytest.mark.parametrize("path", _bundled(), ids=lambda p: p.name)
def test_bundled_capture(path: Path) -> None:
    config = path.with_name(path.name.split(".")[0] + ".config.yaml")
    settings = resolve_settings(None, config if config.is_file() else None)
    assert check(path, [], settings) > 0


@pytest.mark.skipif(not MANIFEST.is_file(), reason="../shared/captures is absent")
@pytest.mark.parametrize(("name", "options"), SHARED_CASES, ids=[n for n, _ in SHARED_CASES])
def test_shared_capture(name: str, options: list[str]) -> None:
    draft6 = "m3ua.version:Internet Draft version 6" in options
    settings = resolve_settings(None, None, m3ua_version="draft6" if draft6 else None)
    assert check(SHARED / name, options, settings) > 0


def test_sample_covers_every_message_type() -> None:
    frames = {n: {"messages": [{"type_code": 1 if n % 10 else 12}]} for n in range(1, 1001)}
    chosen = sample(frames, 20)
    assert len(chosen) == 20
    assert {frames[n]["messages"][0]["type_code"] for n in chosen} == {1, 12}
    assert chosen == sample(frames, 20)


def test_a_missing_or_different_parameter_is_a_difference() -> None:
    path = CAPTURES / "reference-fault.pcap"
    theirs = tshark_view(path, [])
    number = min(theirs)
    settings = resolve_settings(None, CAPTURES / "reference-fault.config.yaml")
    ours = list(our_messages(frame_trees(path, [number], settings)[number]))
    assert differences(number, ours, theirs[number]) == []
    params = ours[0]["params"]
    first = params[0]
    params[0] = {**first, "raw": "ff" * first["length"]}
    assert any("parameter" in d for d in differences(number, ours, theirs[number]))
    del params[0]
    assert any("missing" in d for d in differences(number, ours, theirs[number]))
    ours[0]["cic"] += 1
    assert any("cic" in d for d in differences(number, ours, theirs[number]))
