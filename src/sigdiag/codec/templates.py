"""Pre-rendered messages: encoded once by :func:`~sigdiag.codec.isup.encode_message`, digits filled per use.

A traffic generator sends the same message shapes millions of times with other digits.  A
:class:`DigitTemplate` encodes a shape once with placeholder digits and keeps the octets around each
digit field; :meth:`DigitTemplate.render` then joins those pieces with the BCD octets of the real digits
(:func:`bcd`), and :meth:`DigitTemplate.hex_pieces` gives the same as hex text for a one-``fromhex``
build.  The splice positions are found by encoding the shape twice with two different placeholder
digits and comparing, so they always match the codec's layout: nothing here knows where a parameter
goes.  ``tests/unit/test_codec_templates.py`` checks rendered messages against ``encode_message``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sigdiag.codec.params import SWAP

__all__ = ["SWAP", "DigitTemplate", "bcd"]


def bcd(digits: str, st: bool = False) -> bytes:
    """BCD octets of ``digits`` (+ ST), first digit in the low nibble, filler 0: what the codec's number
    encoder writes (:func:`sigdiag.codec.params.bcd_encode` without its checks, for hot loops)."""
    text = digits + "F" if st else digits
    if len(text) & 1:
        text += "0"
    return bytes.fromhex(text).translate(SWAP)


class DigitTemplate:
    """A message's octets with holes for its digit fields.

    ``encode(placeholders)`` must encode the message with the given digit strings (one per field, in
    order) in the fields; ``fields`` gives each field's digit count and whether ST follows.  A field of 0
    digits stays in the template as encoded (ST included).  ``render(d0, d1, ...)`` is then
    ``encode([d0, d1, ...])`` for any digits of those counts.
    """

    __slots__ = ("fields", "pieces")

    def __init__(self, encode: Callable[[list[str]], bytes], fields: Sequence[tuple[int, bool]]) -> None:
        self.fields = tuple((n, bool(st)) for n, st in fields)
        first = encode(["E" * n for n, _ in self.fields])
        second = encode(["D" * n for n, _ in self.fields])
        if len(first) != len(second):  # pragma: no cover - digits never change lengths
            raise AssertionError("placeholder encodings differ in length")
        diff = [i for i in range(len(first)) if first[i] != second[i]]
        # A field of n >= 1 digits is ceil((n + st) / 2) octets and its first octet always differs.
        pieces: list[bytes] = []
        pos = 0
        for n, st in self.fields:
            if n == 0:
                pieces.append(b"")  # nothing to splice: the field (ST only, or empty) stays in the template
                continue
            start = next(i for i in diff if i >= pos)
            pieces.append(first[pos:start])
            pos = start + (n + st + 1) // 2
        pieces.append(first[pos:])
        #: the constant octets: ``pieces[0] + field 0 + pieces[1] + field 1 + ... + pieces[-1]``
        self.pieces: tuple[bytes, ...] = tuple(pieces)

    def render(self, *digits: str) -> bytes:
        """The message with ``digits`` (one string per field, of the field's count) in its fields."""
        out = bytearray(self.pieces[0])
        for d, (n, st), piece in zip(digits, self.fields, self.pieces[1:], strict=True):
            if n:
                out += bcd(d, st)
            out += piece
        return bytes(out)

    def hex_pieces(self) -> tuple[str, ...]:
        """The pieces as nibble-swapped hex, ST and filler nibbles included, so that
        ``bytes.fromhex(h[0] + d0 + h[1] + d1 + ... + h[-1]).translate(SWAP) == render(d0, d1, ...)``:
        one ``fromhex`` and one ``translate`` build a message (the simulator's hot path)."""
        out = [p.translate(SWAP).hex() for p in self.pieces]
        for i, (n, st) in enumerate(self.fields):
            if n:  # after the digits: ST, then the filler of an odd count
                out[i + 1] = ("F" if st else "") + ("0" if (n + st) & 1 else "") + out[i + 1]
        return tuple(out)
