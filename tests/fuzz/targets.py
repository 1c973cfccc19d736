"""Fuzz targets: functions taking bytes, and the seeds they start from.

Each target raises nothing for any input but the documented error of its layer (:data:`EXPECTED`):
:class:`~sigdiag.capture.CaptureError` for a file that is not a capture, :class:`~sigdiag.rules.RuleError`
(a :class:`~sigdiag.settings.ConfigError`) for a bad rule file.  Any other exception is a crasher, and so
is a broken promise the targets check on the way (raised as :class:`Broken`):

* ``capture``: the bytes as a capture file through decode (every message's parameters rendered), then
  ``sigdiag.rules.check`` with the shipped rules (decode -> correlate -> classify -> rules); only
  catalogued anomalies, never an ``*.internal_error`` one (a decoder raised and the pipeline hid it),
  and a ``CaptureError`` only for a file that does not start like a capture.
* ``frame``: one frame's data through a link type (octet 0 selects it from :data:`LINKTYPES`, octet 1
  the decode settings and, bit 0, the general path instead of the M3UA fast lane), then the codec; the
  same promises.
* ``codec``: ISUP/BICC message octets (octet 0 selects protocol and variant) through the codec: decode,
  render, and ``encode(decode(b)) == b`` when decoding reported no anomaly (as ``tests/unit/test_codec.py``
  states the round trip).
* ``rules``: YAML text through the rule loader (``load_rule``, from memory); the file is named after
  the ``id:`` line so that mutations reach past the id check.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
import zlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from sigdiag import CaptureError, read_messages
from sigdiag.anomalies import CATALOGUE
from sigdiag.capture import open_capture
from sigdiag.capture.formats import PCAP_MAGICS, PCAPNG_SHB
from sigdiag.codec import decode_bytes, reencode
from sigdiag.decode import iter_messages
from sigdiag.model import Frame
from sigdiag.rules.loader import NOT_RULES, RuleError, load_rule, load_rules, shipped_rules_dir
from sigdiag.settings import ConfigError, DecodeSettings

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures"
SHARED_CAPTURES = ROOT.parent / "shared" / "captures"
RULES = ROOT / "rules"

#: The documented errors of each target: an exception of these types is an answer, not a crash.
EXPECTED: dict[str, tuple[type[BaseException], ...]] = {
    "capture": (CaptureError,),
    "frame": (),
    "codec": (),
    "rules": (RuleError, ConfigError),
}

#: Link types the ``frame`` target feeds (octet 0 of its input, modulo the length).
LINKTYPES = (1, 113, 276, 0, 108, 101, 12, 14, 228, 229, 139, 140, 141)

#: Decode settings the ``frame`` and ``capture`` targets choose from (octet 1 of a frame input).
SETTINGS = tuple(
    DecodeSettings(pc_format=pc, mtp2_fcs=fcs, m3ua_version=m3ua)
    for pc in ("auto", "itu", "ansi", "china", "japan")
    for fcs in ("auto", "yes", "no")
    for m3ua in ("auto", "rfc", "draft6")
)

#: (protocol, variant, has_cic) of a codec input (octet 0, modulo the length).
CODEC_MODES = (
    ("isup", "itu", True),
    ("isup", "ansi", True),
    ("bicc", "itu", True),
    ("isup", "itu", False),
    ("isup", "ansi", False),
)

#: the first four octets of a pcap file (either byte order, µs or ns) or of a pcapng file
_PCAP_MAGICS = {*PCAP_MAGICS, PCAPNG_SHB.to_bytes(4, "little")}


class Broken(AssertionError):
    """A promise the code under test broke without raising (a hidden internal error, an anomaly not in
    the catalogue, a capture called 'not a capture', a failed round trip)."""


def _anomalies_ok(anomalies: Any) -> None:
    for a in anomalies:
        if a.name not in CATALOGUE:
            raise Broken(f"anomaly not in the catalogue: {a.name}")
        if a.name.endswith(".internal_error"):
            raise Broken(f"{a.name}: {a.detail}")


def _starts_like_capture(data: bytes) -> bool:
    """True when the file (decompressed, if it is gzip) starts with a pcap or pcapng magic number."""
    if data[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(31).decompress(data, 4)
        except zlib.error:
            return False
        return head[:4] in _PCAP_MAGICS
    return data[:4] in _PCAP_MAGICS


# ------------------------------------------------------------------------------------------------
# targets


@cache
def _ruleset() -> Any:
    return load_rules()


@cache
def _scratch() -> Path:
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix="sigdiag-fuzz-", dir=base))
    atexit.register(cleanup)
    return path


def cleanup() -> None:
    """Remove the scratch folder of the capture target (also called before ``os._exit``)."""
    if _scratch.cache_info().currsize:
        shutil.rmtree(_scratch(), ignore_errors=True)
        _scratch.cache_clear()


def target_capture(data: bytes) -> None:
    """The bytes as a capture file: decode (every message rendered), then check with the shipped rules."""
    from sigdiag.rules.check import check

    path = _scratch() / f"in-{os.getpid()}.pcap"
    path.write_bytes(data)
    try:
        reader = read_messages(path)
        for m in reader:
            m.as_dict()
            _anomalies_ok(m.anomalies)
        _anomalies_ok(reader.anomalies)
        run = check(path, rules=_ruleset(), workers=1)
        for f in run:
            f.as_dict()
        run.summary()
    except CaptureError as exc:
        damaged_gzip = data[:2] == b"\x1f\x8b" and "before the capture header" in str(exc)
        if _starts_like_capture(data) and not damaged_gzip:
            raise Broken(f"CaptureError for a file that starts like a capture: {exc}") from None
        if "\n" in str(exc):
            raise Broken(f"a CaptureError of several lines: {exc!r}") from None
        raise


def target_frame(data: bytes) -> None:
    """One frame through a link type, decode settings and path chosen by octets 0 and 1."""
    if len(data) < 2:
        return
    linktype = LINKTYPES[data[0] % len(LINKTYPES)]
    settings = SETTINGS[(data[1] >> 1) % len(SETTINGS)]
    frame = Frame(1, 1_700_000_000.0, linktype, data[2:], len(data) - 2)
    anomalies: list[Any] = []
    for m in iter_messages([frame], settings, anomalies, fast_lane=not data[1] & 1):
        m.as_dict()
        _anomalies_ok(m.anomalies)
    _anomalies_ok(anomalies)


def target_codec(data: bytes) -> None:
    """ISUP/BICC octets through the codec (octet 0: protocol and variant); clean messages round-trip."""
    if not data:
        return
    protocol, variant, has_cic = CODEC_MODES[data[0] % len(CODEC_MODES)]
    body = data[1:]
    m = decode_bytes(body, protocol=protocol, variant=variant, has_cic=has_cic)
    params = m.params  # decodes every parameter: may add anomalies
    if not isinstance(params, dict):
        raise Broken(f"params is a {type(params).__name__}")
    m.as_dict()
    _anomalies_ok(m.anomalies)
    if has_cic and not m.anomalies and m.type != "?":
        again = reencode(m)
        if again != body:
            raise Broken(f"round trip: {body.hex()} -> {again.hex()}")


_ID = re.compile(r"^id:[ \t]*['\"]?([A-Za-z0-9_.-]{1,100})", re.M)


def target_rules(data: bytes) -> None:
    """YAML text through the rule loader; the file is named after its ``id:`` line."""
    text = data.decode("utf-8", errors="replace")
    found = _ID.search(text)
    name = found.group(1) if found else "fuzzed-rule"
    load_rule(Path("fuzz") / f"{name}.yaml", text=text)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "capture": target_capture,
    "frame": target_frame,
    "codec": target_codec,
    "rules": target_rules,
}

#: Largest input each target is given (libFuzzer's -max_len; the Python mutator's cap).
MAX_LEN = {"capture": 64 * 1024, "frame": 4096, "codec": 512, "rules": 16 * 1024}


# ------------------------------------------------------------------------------------------------
# seeds


def _capture_files() -> list[Path]:
    files = sorted(CAPTURES.glob("*.pcap")) + sorted(CAPTURES.glob("*.pcapng"))
    if SHARED_CAPTURES.is_dir():
        files += sorted(SHARED_CAPTURES.glob("*.pcap")) + sorted(SHARED_CAPTURES.glob("*.pcapng"))
    return files


def _frames(path: Path, limit: int) -> list[Frame]:
    out: list[Frame] = []
    try:
        for f in open_capture(path, []):
            out.append(f)
            if len(out) >= limit:
                break
    except CaptureError:
        pass
    return out


def _head(path: Path, max_bytes: int) -> bytes:
    """The start of a capture, cut at a record boundary near ``max_bytes`` (pcap) or just cut."""
    data = path.read_bytes()
    return data[:max_bytes]


def _capture_seeds() -> list[bytes]:
    # whole small files; the first 16 KiB of big ones (the decoder reads a cut file fine)
    return [_head(p, 16 * 1024) for p in _capture_files()]


def _frame_seeds() -> list[bytes]:
    out: list[bytes] = []
    for p in _capture_files():
        seen: set[int] = set()
        for f in _frames(p, 400):
            if f.linktype not in LINKTYPES or len(f.data) > MAX_LEN["frame"] - 2:
                continue
            h = hash(f.data[:60])
            if h in seen or len(seen) >= 24:
                continue
            seen.add(h)
            out.append(bytes((LINKTYPES.index(f.linktype), 0)) + f.data)
    return out


def _codec_seeds() -> list[bytes]:
    out: list[bytes] = []
    seen_raw: set[bytes] = set()
    for p in _capture_files():
        try:
            reader = read_messages(p)
            for i, m in enumerate(reader):
                if i >= 2000:
                    break
                mode_of = (m.protocol, m.variant, m.cic is not None)
                mode = CODEC_MODES.index(mode_of) if mode_of in CODEC_MODES else 0
                key = m.raw[:1] + m.raw[2:3] if m.protocol == "isup" else m.raw[4:5]
                k = bytes((mode,)) + key + bytes((len(m.raw) // 8,))
                if k in seen_raw or len(m.raw) > MAX_LEN["codec"] - 1:
                    continue
                seen_raw.add(k)
                out.append(bytes((mode,)) + m.raw)
        except CaptureError:
            continue
    return out


def _rules_seeds() -> list[bytes]:
    out = [p.read_bytes() for p in sorted(RULES.glob("*.yaml")) if p.name not in NOT_RULES]
    out += [p.read_bytes() for p in sorted((shipped_rules_dir() / "tests").glob("*.yaml"))[:5]]
    return out


_SEEDS = {"capture": _capture_seeds, "frame": _frame_seeds, "codec": _codec_seeds, "rules": _rules_seeds}


@cache
def seeds(target: str) -> tuple[bytes, ...]:
    """The seed inputs of ``target``, from the bundled captures, the shared captures (when present) and
    the shipped rules, in a fixed order."""
    return tuple(_SEEDS[target]())
