"""Point-code format detection per link (``pc_format: auto``, the default).

The width of the MTP3 routing label is not in the message (DOMAIN.md section 1): ITU labels are 4
octets with 14-bit point codes, ANSI and China labels 7 octets with 24-bit point codes, Japan labels 5
octets with 16-bit point codes.  Read with the wrong width, every field after the label shifts and the
messages decode as garbage with plausible-looking numbers.  :class:`PcDetector` decides each link's
format from its traffic instead:

1. The first ``pc_detect_messages`` ISUP/BICC messages of a link whose ``pc_format`` setting is
   ``auto`` are held back (:class:`~sigdiag.carrier.mtp.PendingPayload`, the MTP3 octets kept), and so
   is everything after them in the capture, so that the output stays in file order.
2. When the link has that many messages (or at the end of the file, or when too much is held back) each
   candidate format (itu, china, ansi, japan) reads every held message: the label must fit, China and
   Japan SLS octets have a zero high nibble, the user part must decode as ISUP (or BICC) with the ISUP
   tables that go with the format (ANSI tables for ANSI labels unless a variant is set) and no anomaly -
   a known message type, pointers inside the message, parameters that end where the message ends, CIC
   spare bits zero - and the OPC/DPC pair of a message should recur in the sample (a link carries a
   few signalling relations; garbage labels give a new pair for almost every message).  Each problem
   costs penalty points (the weights below); the candidate with the fewest wins, ties going in the
   order itu, china, ansi, japan (ansi before china when the link's variant setting is ansi).
3. The held messages are read again with the decided format and released; the unit decoders read the
   link's later messages with it directly, so the output is the one an explicit ``pc_format`` of the
   decided format gives (``tests/unit/test_pc_detect.py`` checks that).  Messages without a payload
   whose anomaly depends on the width (shorter than a 7-octet label, a service indicator reported once
   per link) wait in :class:`~sigdiag.carrier.mtp.DeferredMsus` and are reported with the decided
   format too (at the end of the file, as ITU on a link that never carried ISUP/BICC).

M3UA (RFC 4666) carries point codes as 32-bit numbers, so the width does not change decoding: for an
M3UA link the detector only names the format the point codes fit (itu up to 16383, else china, or ansi
when the link's variant setting is ansi), for display.  BICC directly on SCTP and SIP-I have no label:
their messages pass straight through (``pc_format`` None).

An explicit format, global or per link, always wins: such links never reach the detector.

The detector also keeps a tally per link of the messages it passes on and of those with anomalies
(:func:`anomalous`), which :class:`sigdiag.decode.MessageReader` turns into its per-link report.

Layering: the carrier does not import the codec.  To score the ISUP part, the detector calls the
``decoder`` it is given (the decode pipeline gives the codec's ``decode_payload``) and scores the
:class:`~sigdiag.model.Message` it returns (:func:`message_penalty`).  Without a decoder it scores the
labels and the CIC octets only, which cannot always tell ITU from China labels.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sigdiag.anomalies import Anomaly
from sigdiag.carrier.mtp import DeferredMsus, PendingPayload, parse_mtp3, payload_from_msu
from sigdiag.carrier.payload import Payload
from sigdiag.settings import DecodeSettings, variant_for

__all__ = [
    "BENIGN_ANOMALIES",
    "CANDIDATES",
    "Decision",
    "PcDetector",
    "anomalous",
    "message_penalty",
]

#: The formats tried on a link with MTP3 labels, in tie-break order.
CANDIDATES = ("itu", "china", "ansi", "japan")
_ANSI_FIRST = ("itu", "ansi", "china", "japan")

#: Anomalies that do not make a message count as anomalous in the per-link tally: octets after a
#: complete message (some testers pad every message, e.g. the kancom capture in ../shared/captures).
BENIGN_ANOMALIES = frozenset({"isup.trailing_bytes"})

# Penalty points per message (see the module docstring).
W_LABEL_TRUNCATED = 10  # the message is shorter than the candidate's label
W_UNDECODABLE = 10  # no message type, or a type no table names
W_SLS_SPARE = 2  # China/Japan: the SLS octet's high nibble is not zero
W_CIC_SPARE = 2  # the CIC's spare bits are not zero
W_LONE_PAIR = 1  # the message's OPC/DPC pair occurs once in the sample
W_OTHER = 3  # an anomaly not weighted below
ANOMALY_WEIGHTS: dict[str, int] = {
    "isup.truncated": 6,
    "isup.pointer_out_of_range": 6,
    "isup.parameter_overrun": 6,
    "isup.missing_end_of_optional": 4,
    "isup.duplicate_parameter": 3,
    "isup.bad_parameter": 2,
    "isup.trailing_bytes": 1,
}


def anomalous(anomalies: Iterable[Anomaly]) -> bool:
    """True when one of ``anomalies`` is not in :data:`BENIGN_ANOMALIES`."""
    return any(a.name not in BENIGN_ANOMALIES for a in anomalies)


class Message(Protocol):
    """What the detector reads of a decoded message (the codec's :class:`~sigdiag.codec.message.Message`,
    which this layer does not import)."""

    type_code: int
    anomalies: list[Anomaly]
    layout: dict[str, Any] | None

    @property
    def params(self) -> dict[str, Any]: ...


def message_penalty(m: Message) -> tuple[int, bool]:
    """Penalty points of one decoded message, and whether it decoded cleanly (no penalty other than
    for benign anomalies).  Decodes every parameter."""
    if m.type_code < 0 or any(a.name == "isup.unknown_message_type" for a in m.anomalies):
        return W_UNDECODABLE, False
    penalty = 0
    clean = True
    try:
        m.params  # noqa: B018 - decoding the parameters adds isup.bad_parameter anomalies
    except Exception:  # pragma: no cover - the codec does not raise; a bug must not stop detection
        penalty += W_OTHER
        clean = False
    for a in m.anomalies:
        penalty += ANOMALY_WEIGHTS.get(a.name, W_OTHER)
        if a.name not in BENIGN_ANOMALIES:
            clean = False
    if m.layout and "cic_spare" in m.layout:
        penalty += W_CIC_SPARE
        clean = False
    return penalty, clean


def _shape_penalty(p: Payload) -> tuple[int, bool]:
    """Without a decoder: the CIC octets only (spare bits of the CIC must be zero)."""
    data = p.data
    if p.protocol == "bicc":
        return (0, True) if len(data) >= 5 else (W_UNDECODABLE, False)
    if len(data) < 3:
        return W_UNDECODABLE, False
    spare = data[1] >> 6 if p.variant == "ansi" else data[1] >> 4
    return (W_CIC_SPARE, False) if spare else (0, True)


@dataclass(frozen=True, slots=True)
class Decision:
    """How the detector decided a link's format.

    ``sample`` messages were looked at; ``scores`` is, per candidate format, the share of them that
    decoded cleanly (label fits, no anomaly but benign ones, spare bits zero) - empty for M3UA links,
    decided from the point codes' range;
    ``basis`` says it in words.
    """

    link: str
    pc_format: str
    variant: str
    sample: int
    scores: dict[str, float] = field(default_factory=dict)
    basis: str = ""

    @property
    def score(self) -> float | None:
        """The decided format's share of cleanly decoded messages (None for M3UA links)."""
        return self.scores.get(self.pc_format)


class _Open:
    """A link whose format is not decided yet: its held cells, in file order."""

    __slots__ = ("cells", "link")

    def __init__(self, link: str) -> None:
        self.link = link
        self.cells: list[list[Any]] = []


class PcDetector:
    """Holds back the messages of undecided links, decides their format, releases everything in order.

    :func:`sigdiag.carrier.walk_frames` feeds it: :meth:`push` takes every item while something is held
    back or when the item's ``pc_format`` is ``"auto"``, and returns the items that are ready, in file
    order; :meth:`finish` decides what is left at the end of the file.  ``convert`` turns a payload into
    the output item (None: the payload itself); ``decoder`` decodes a candidate payload for scoring.

    ``decided`` (link -> (pc_format, variant)) is shared with the unit decoders, and ``listeners`` are
    called with (link, pc_format, variant) on each decision, so that the decoders read the link's later
    messages with the decided format.  ``decisions`` keeps each :class:`Decision`; ``tally`` counts, per
    link, [messages, anomalous messages, carrier, pc_format of the first message] of what was passed on.
    """

    def __init__(
        self,
        settings: DecodeSettings,
        anomalies: list[Anomaly],
        decoder: Callable[[Payload], Message] | None = None,
        convert: Callable[[Payload], Any] | None = None,
    ) -> None:
        self.settings = settings
        self.anomalies = anomalies
        self.decoder = decoder
        self.convert = convert
        self.limit = settings.pc_detect_messages
        #: most items held back at once; past it the oldest undecided link is decided with what it has
        self.max_held = max(4096, 4 * self.limit)
        self.decided: dict[str, tuple[str, str]] = {}
        self.decisions: dict[str, Decision] = {}
        self.tally: dict[str, list[Any]] = {}
        self.listeners: list[Callable[[str, str, str], None]] = []
        #: cells [ready, item, open link or None] in file order; not empty while something is held back
        self.queue: deque[list[Any]] = deque()
        self._open: dict[str, _Open] = {}
        self._si_reported: set[tuple[str, int]] = set()
        #: anomalies of undecided links' messages that depend on the format (the unit decoders add them)
        self.deferred = DeferredMsus(anomalies, self.max_held)

    # ------------------------------------------------------------------------------------------
    def count(self, x: Any) -> None:
        """Add one passed-on item (payload or message) to its link's tally."""
        t = self.tally.get(x.link) or self.start_tally(x)
        t[0] += 1
        if x.anomalies and anomalous(x.anomalies):
            t[1] += 1

    def start_tally(self, x: Any) -> list[Any]:
        """The new, empty tally of the link of ``x`` (its first passed-on item): ``[items, anomalous
        items, carrier, pc_format]``."""
        t = self.tally[x.link] = [0, 0, x.carrier, x.pc_format]
        return t

    def push(self, x: Any) -> list[Any]:
        """Take one item (a :class:`PendingPayload`, or an output item already converted); return the
        items now ready, in file order."""
        if x.pc_format == "auto":
            op = self._open.get(x.link)
            if op is None:
                op = self._open[x.link] = _Open(x.link)
            cell = [False, x, op]
            op.cells.append(cell)
            self.queue.append(cell)
            if len(op.cells) >= self.limit:
                self._decide(op)
        else:
            self.queue.append([True, x, None])
        if len(self.queue) > self.max_held and not self.queue[0][0]:
            self._decide(self.queue[0][2])
        return self._flush()

    def finish(self) -> list[Any]:
        """Decide every link still open (at the end of the file) and return what was held back."""
        for cell in list(self.queue):
            if not cell[0] and cell[2].link in self._open:
                self._decide(cell[2])
        self.deferred.settle(None, "itu")  # links without ISUP/BICC: the provisional reading
        return self._flush()

    def _flush(self) -> list[Any]:
        out = []
        q = self.queue
        while q and q[0][0]:
            x = q.popleft()[1]
            if x is not None:
                self.count(x)
                out.append(x)
        return out

    # ------------------------------------------------------------------------------------------
    def _decide(self, op: _Open) -> None:
        decision = self.decide(op.link, [cell[1] for cell in op.cells])
        link, fmt, variant = op.link, decision.pc_format, decision.variant
        self.decisions[link] = decision
        self.decided[link] = (fmt, variant)
        del self._open[link]
        for listener in self.listeners:
            listener(link, fmt, variant)
        self.deferred.settle(link, fmt)
        convert = self.convert
        for cell in op.cells:
            x = cell[1]
            if x.__class__ is PendingPayload:
                p = payload_from_msu(
                    x.msu,
                    x.start,
                    x.end,
                    x.frame,
                    x.ts,
                    x.carrier,
                    link,
                    fmt,
                    variant,
                    self.anomalies,
                    self._si_reported,
                )
                if p is None:
                    self.anomalies.extend(x.anomalies)  # as MtpDecoder does when no payload is left
                    cell[1] = None
                else:
                    p.anomalies.extend(x.anomalies)
                    cell[1] = p if convert is None else convert(p)
            else:
                x.pc_format = fmt  # M3UA: decoded already, the format only names the point codes
            cell[0] = True
        op.cells = []

    def decide(self, link: str, items: list[Any]) -> Decision:
        """The format of ``link`` from its held ``items`` (see the module docstring)."""
        _, variant_setting = self.settings.link_setting(link)
        pending = [x for x in items if x.__class__ is PendingPayload]
        if not pending:
            top = max((max(x.opc or 0, x.dpc or 0) for x in items), default=0)
            if top <= 0x3FFF:
                fmt = "itu"
            else:
                fmt = "ansi" if variant_setting == "ansi" else "china"
            basis = f"M3UA, point codes up to {top}"
            return Decision(link, fmt, variant_for(fmt, variant_setting), len(items), {}, basis)
        order = _ANSI_FIRST if variant_setting == "ansi" else CANDIDATES
        results = []
        for i, cand in enumerate(order):
            penalty, clean = self._score(pending, cand, variant_for(cand, variant_setting))
            results.append((penalty, i, cand, clean))
        results.sort()
        n = len(pending)
        fmt = results[0][2]
        scores = {cand: clean / n for _, _, cand, clean in results}
        basis = f"{n} messages decode cleanly as " + ", ".join(
            f"{cand} {clean}/{n}" for _, _, cand, clean in results
        )
        return Decision(link, fmt, variant_for(fmt, variant_setting), n, scores, basis)

    def _score(self, pending: list[PendingPayload], cand: str, variant: str) -> tuple[int, int]:
        """(penalty points, messages that decoded cleanly) of reading ``pending`` as ``cand``."""
        decoder = self.decoder
        total = 0
        per: list[tuple[int, bool, tuple[int, int]]] = []
        pairs: Counter[tuple[int, int]] = Counter()
        for x in pending:
            parsed = parse_mtp3(x.msu, x.start, cand, x.end)
            if parsed is None:
                total += W_LABEL_TRUNCATED
                continue
            si, ni, opc, dpc, sls, user = parsed
            spare = cand in ("china", "japan") and x.msu[user - 1] > 0x0F
            p = Payload(
                x.frame,
                x.ts,
                x.carrier,
                "isup" if si == 5 else "bicc",
                variant,
                cand,
                opc,
                dpc,
                ni,
                sls,
                x.msu[user : x.end],
                True,
                x.link,
            )
            penalty, ok = _shape_penalty(p) if decoder is None else message_penalty(decoder(p))
            if spare:
                penalty += W_SLS_SPARE
            pair = (opc, dpc) if opc <= dpc else (dpc, opc)
            pairs[pair] += 1
            per.append((penalty, ok and not spare, pair))
        clean = 0
        lone = len(pending) > 1
        for penalty, ok, pair in per:
            if lone and pairs[pair] == 1:
                penalty += W_LONE_PAIR
            total += penalty
            clean += ok
        return total, clean
