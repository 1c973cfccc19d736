"""Outcome classification from an operator-editable data file (``sigdiag/calls/outcomes.yaml``).

The file is an ordered list of classes; the first whose ``when`` conditions all hold gives the call's
outcome (``answered``, ``subscriber``, ``caller``, ``network`` or ``unknown``) and ``detail``.  The last
class must have no conditions, so every call gets an outcome.  Format::

    version: 1
    cause_details:            # cause value -> short name, used by "{cause_detail}" in a detail
      17: user-busy
    classes:
      - outcome: answered
        detail: answered
        when: {answered: true}
      - outcome: network
        detail: "{cause_detail}"
        when: {cause: [2, 3, 27, "95-111", 127]}
      - outcome: unknown
        detail: unclassified

Conditions (each value is one item or a list of allowed items; all conditions of a class must hold):

=================  ==========================================================================
``answered``       true/false: ANM or CON seen
``released``       true/false: a REL was seen
``backward_seen``  true/false: any message from the called side before the release
``t7_expired``     true/false: no backward message within T7 of the latest address message
                   (and the call lasted that long)
``blocked``        true/false: the called side blocked the circuit (BLO/CGB) during set-up
``cause``          cause values (integers, ``"95-111"`` ranges, ``null`` for no cause)
``cause_location`` cause locations (integers or ranges)
``released_by``    ``calling``, ``called``, ``null`` (who sent the first REL)
``phase``          ``setup``, ``alerting``, ``answered`` (at the release)
``end_reason``     how the call ended: ``released``, ``release_unacknowledged``, ``open``, ``evicted``,
                   ``superseded``, ``reset``, ``blocked``, ``ucic``, ``dual_seizure``, ``rlc_without_rel``
``protocol``       ``isup``, ``bicc``
=================  ==========================================================================

Lookup of the default file (:func:`default_outcomes_path`): the ``SIGDIAG_OUTCOMES`` environment
variable, else the table shipped in the package (``sigdiag/calls/outcomes.yaml``, :data:`PACKAGED`; the
one copy, in a source checkout as in an installed package).  To change the classification, copy it,
edit the copy and point ``SIGDIAG_OUTCOMES`` or ``--outcomes`` at it.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Iterable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from sigdiag.settings import ConfigError

__all__ = [
    "END_REASONS",
    "OUTCOMES",
    "OutcomeClass",
    "OutcomeTable",
    "OutcomesError",
    "default_outcomes_path",
    "load_outcomes",
]

OUTCOMES = ("answered", "subscriber", "caller", "network", "unknown")
END_REASONS = (
    "released",
    "release_unacknowledged",
    "open",
    "evicted",
    "superseded",
    "reset",
    "blocked",
    "ucic",
    "dual_seizure",
    "rlc_without_rel",
)
_BOOL_CONDITIONS = ("answered", "released", "backward_seen", "t7_expired", "blocked")
_ENUM_CONDITIONS: dict[str, tuple[Any, ...]] = {
    "released_by": ("calling", "called", None),
    "phase": ("setup", "alerting", "answered"),
    "end_reason": END_REASONS,
    "protocol": ("isup", "bicc"),
}
_INT_CONDITIONS = ("cause", "cause_location")
CONDITIONS = _BOOL_CONDITIONS + tuple(_ENUM_CONDITIONS) + _INT_CONDITIONS

#: The shipped outcome table (package data of ``sigdiag.calls``).
PACKAGED = Path(__file__).with_name("outcomes.yaml")


class OutcomesError(ConfigError):
    """The outcomes file is wrong; the message names the file, the line and the problem."""


@dataclass(frozen=True, slots=True)
class OutcomeClass:
    """One class of the table: outcome, detail template, conditions as (call attribute, allowed values)."""

    outcome: str
    detail: str
    conditions: tuple[tuple[str, frozenset[Any]], ...]
    line: int

    def matches(self, call: Any) -> bool:
        return all(getattr(call, attr) in allowed for attr, allowed in self.conditions)


class OutcomeTable:
    """A loaded outcomes file: :meth:`classify` gives ``(outcome, detail)`` for a finished call."""

    def __init__(
        self, classes: Iterable[OutcomeClass], cause_details: dict[int, str], source: str = "<memory>"
    ) -> None:
        self.classes = tuple(classes)
        self.cause_details = dict(cause_details)
        self.source = source
        # The result depends only on the attributes the conditions read (and the cause, for details):
        # classify() memoises it on their values, which take few distinct combinations.
        attrs = sorted({"cause"} | {attr for cls in self.classes for attr, _ in cls.conditions})
        self._facts = operator.attrgetter(*attrs)
        self._memo: dict[Any, tuple[str, str]] = {}

    def classify(self, call: Any) -> tuple[str, str]:
        """The first matching class's outcome and detail (the table ends with a catch-all)."""
        facts = self._facts(call)
        result = self._memo.get(facts)
        if result is None:
            result = self._classify(call)
            if len(self._memo) < 65_536:
                self._memo[facts] = result
        return result

    def _classify(self, call: Any) -> tuple[str, str]:
        for cls in self.classes:
            for attr, allowed in cls.conditions:
                if getattr(call, attr) not in allowed:
                    break
            else:
                detail = cls.detail
                if "{" in detail:
                    cause = call.cause
                    name = (
                        self.cause_details.get(cause, f"cause-{cause}") if cause is not None else "no-cause"
                    )
                    detail = detail.replace("{cause_detail}", name).replace("{cause}", str(cause))
                return cls.outcome, detail
        return "unknown", "unclassified"

    def cause_detail(self, cause: int | None) -> str:
        if cause is None:
            return "no-cause"
        return self.cause_details.get(cause, f"cause-{cause}")


def default_outcomes_path() -> Path:
    """The outcomes file used when none is given (see the module docstring for the lookup order)."""
    env = os.environ.get("SIGDIAG_OUTCOMES")
    if env:
        return Path(env)
    return PACKAGED


_CACHE: dict[tuple[str, int, int], OutcomeTable] = {}


def load_outcomes(path: str | PathLike[str] | None = None) -> OutcomeTable:
    """Load and check an outcomes file (the default one when ``path`` is None)."""
    from sigdiag.settings import read_config_text

    p = Path(path) if path is not None else default_outcomes_path()
    try:
        st = p.stat()
    except OSError as exc:
        raise OutcomesError(f"{p}: cannot read outcomes file: {exc.strerror}") from None
    text = read_config_text(p, "outcomes file", error=OutcomesError)
    key = (str(p.resolve()), st.st_mtime_ns, st.st_size)
    table = _CACHE.get(key)
    if table is None:
        table = _CACHE[key] = parse_outcomes(text, str(p))
    return table


def parse_outcomes(text: str, source: str = "<string>") -> OutcomeTable:
    """Parse the text of an outcomes file; errors name ``source`` and the line."""
    import yaml

    from sigdiag.settings import compose_yaml, yaml_loader_class

    # bounded: size, nesting depth and alias expansion (sigdiag.settings.YamlLimits)
    root = compose_yaml(text, source, error=OutcomesError)
    constructor = yaml_loader_class()("")
    if root is None or not isinstance(root, yaml.MappingNode):
        raise OutcomesError(f"{source}:1: expected a mapping with 'version', 'cause_details' and 'classes'")

    def err(node: Any, message: str) -> OutcomesError:
        return OutcomesError(f"{source}:{node.start_mark.line + 1}: {message}")

    def value(node: Any) -> Any:
        try:
            return constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
            raise err(node, f"bad value: {problem}") from None

    top: dict[str, Any] = {}
    for knode, vnode in root.value:
        k = value(knode)
        if k in top:
            raise err(knode, f"duplicate key {k!r}")
        if k not in ("version", "cause_details", "classes"):
            raise err(knode, f"unknown key {k!r}; expected version, cause_details, classes")
        top[k] = (knode, vnode)
    if "version" in top and value(top["version"][1]) != 1:
        raise err(top["version"][1], "only version 1 is supported")
    cause_details = _cause_details(top["cause_details"][1], value, err) if "cause_details" in top else {}
    if "classes" not in top:
        raise err(root, "missing 'classes' (the ordered list of outcome classes)")
    lnode = top["classes"][1]
    if not isinstance(lnode, yaml.SequenceNode) or not lnode.value:
        raise err(lnode, "'classes' must be a non-empty list")
    classes = [_parse_class(node, value, err) for node in lnode.value]
    if classes[-1].conditions:
        raise err(lnode.value[-1], "the last class must have no 'when' conditions (a catch-all)")
    return OutcomeTable(classes, cause_details, source)


def _cause_details(cnode: Any, value: Any, err: Any) -> dict[int, str]:
    """The ``cause_details`` mapping: cause value (0-127) -> short name."""
    import yaml

    if not isinstance(cnode, yaml.MappingNode):
        raise err(cnode, "cause_details must map cause values to names")
    cause_details: dict[int, str] = {}
    for knode, vnode in cnode.value:
        k, v = value(knode), value(vnode)
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= 127:
            raise err(knode, f"cause value must be an integer 0-127, not {k!r}")
        if not isinstance(v, str) or not v:
            raise err(vnode, f"cause detail must be a non-empty string, not {v!r}")
        cause_details[k] = v
    return cause_details


def _parse_class(node: Any, value: Any, err: Any) -> OutcomeClass:
    import yaml

    if not isinstance(node, yaml.MappingNode):
        raise err(node, "each class must be a mapping with outcome, detail and when")
    fields: dict[str, tuple[Any, Any]] = {}
    for knode, vnode in node.value:
        k = value(knode)
        if k not in ("outcome", "detail", "when", "note"):
            raise err(knode, f"unknown key {k!r} in a class; expected outcome, detail, when, note")
        if k in fields:
            raise err(knode, f"duplicate key {k!r}")
        fields[k] = (knode, vnode)
    if "outcome" not in fields:
        raise err(node, "class without 'outcome'")
    outcome = value(fields["outcome"][1])
    if outcome not in OUTCOMES:
        raise err(fields["outcome"][1], f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    if "detail" not in fields:
        raise err(node, "class without 'detail'")
    detail = value(fields["detail"][1])
    if not isinstance(detail, str) or not detail:
        raise err(fields["detail"][1], f"detail must be a non-empty string, not {detail!r}")
    conditions: list[tuple[str, frozenset[Any]]] = []
    if "when" in fields:
        wnode = fields["when"][1]
        if isinstance(wnode, yaml.ScalarNode) and value(wnode) is None:
            wnode = yaml.MappingNode("tag:yaml.org,2002:map", [])
        if not isinstance(wnode, yaml.MappingNode):
            raise err(wnode, "'when' must be a mapping of conditions")
        seen: set[str] = set()
        for knode, vnode in wnode.value:
            name = value(knode)
            if name not in CONDITIONS:
                raise err(knode, f"unknown condition {name!r}; known: {', '.join(CONDITIONS)}")
            if name in seen:
                raise err(knode, f"duplicate condition {name!r}")
            seen.add(name)
            conditions.append((name, _allowed(name, value(vnode), vnode, err)))
    return OutcomeClass(outcome, detail, tuple(conditions), node.start_mark.line + 1)


def _allowed(name: str, raw: Any, node: Any, err: Any) -> frozenset[Any]:
    items = raw if isinstance(raw, list) else [raw]
    if name in _BOOL_CONDITIONS:
        if len(items) != 1 or not isinstance(items[0], bool):
            raise err(node, f"condition {name!r} must be true or false, not {raw!r}")
        return frozenset(items)
    if name in _ENUM_CONDITIONS:
        allowed = _ENUM_CONDITIONS[name]
        for item in items:
            if item not in allowed:
                shown = ", ".join("null" if a is None else str(a) for a in allowed)
                raise err(node, f"condition {name!r}: {item!r} is not one of {shown}")
        return frozenset(items)
    out: set[int | None] = set()
    for item in items:
        if item is None and name == "cause":
            out.add(None)
        elif isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 127:
            out.add(item)
        elif isinstance(item, str) and "-" in item:
            lo_s, _, hi_s = item.partition("-")
            try:
                lo, hi = int(lo_s), int(hi_s)
            except ValueError:
                raise err(node, f'condition {name!r}: bad range {item!r} (use e.g. "95-111")') from None
            if not 0 <= lo <= hi <= 127:
                raise err(node, f"condition {name!r}: range {item!r} must lie within 0-127")
            out.update(range(lo, hi + 1))
        else:
            raise err(node, f'condition {name!r}: {item!r} is not a value 0-127, a range "a-b" or null')
    return frozenset(out)
