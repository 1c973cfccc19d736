"""The condition language of diagnosis rules (:mod:`sigdiag.rules.language`): every keyword, operator,
selector and template form, the errors, and that a rule reaches nothing but the facts.

:class:`FakeCall` is a minimal call record (the attributes the facts read); the engine tests import it.
Facts read from the IAM's parameter octets are tested on real calls built with
:class:`tests.unit.test_calls_builder.Flow`.
"""

from __future__ import annotations

from typing import Any

import pytest

from sigdiag.rules.language import (
    CALL_FACTS,
    EVENT_FACTS,
    OPERATORS,
    ConditionError,
    Context,
    compile_condition,
    parse_selector,
    render_template,
)
from tests.unit.test_calls_builder import T0, A, B, Flow, correlate

KNOWN = ("IAM", "SAM", "ACM", "CPG", "ANM", "CON", "REL", "RLC", "UCIC", "RSC", "GRS")


class FakeMessage:
    """A decoded message as far as ``param`` and the ladders look: type, frame and params."""

    def __init__(self, type_: str, frame: int = 1, params: dict[str, Any] | None = None, **kw: Any) -> None:
        self.type = type_
        self.frame = frame
        self.params = params or {}
        self.raw_params: list[tuple[int, bytes]] = kw.pop("raw_params", [])
        self.called = kw.pop("called", "0453114")
        self.called_complete = kw.pop("called_complete", False)
        self.calling = kw.pop("calling", "01058722000")
        self.subsequent = kw.pop("subsequent", None)
        self.cause = kw.pop("cause", None)
        self.cause_location = kw.pop("cause_location", None)
        assert not kw, kw


class FakeCall:
    """A call record with the attributes of :class:`sigdiag.calls.correlate.Call` that the facts, the
    engine and the ladders read.  ``timeline`` is built from ``steps``: ``("IAM>", dt)`` etc. (``>``
    forward, ``<`` prefix backward, neither: unknown direction), ``dt`` seconds after ``start``."""

    def __init__(self, steps: tuple[tuple[str, float], ...] = (("IAM>", 0.0),), **kw: Any) -> None:
        self.call_id = kw.pop("call_id", 1)
        self.start = kw.pop("start", T0)
        self.opc = kw.pop("opc", A)
        self.dpc = kw.pop("dpc", B)
        self.cic = kw.pop("cic", 5)
        self.protocol = kw.pop("protocol", "isup")
        self.carrier = kw.pop("carrier", "m3ua")
        self.variant = kw.pop("variant", "itu")
        self.pc_format = kw.pop("pc_format", "itu")
        self.sip_call_id = kw.pop("sip_call_id", None)
        self.timeline: list[tuple[int, float, str, int, bytes]] = []
        for i, (sel, dt) in enumerate(steps):
            direction = 0 if sel.endswith(">") else 1 if sel.startswith("<") else -1
            self.timeline.append((kw.get("frame0", 1) + i, self.start + dt, sel.strip("<>"), direction, b""))
        kw.pop("frame0", None)
        self.iam = kw.pop("iam", None) or FakeMessage("IAM", self.timeline[0][0] if self.timeline else 1)
        self.iam_frame = self.iam.frame
        self.messages: list[Any] | None = kw.pop("messages", None)
        self.called = kw.pop("called", "04531142345")
        self.called_complete = kw.pop("called_complete", False)
        self.calling = kw.pop("calling", "01058722000")
        self.types = kw.pop("types", -1)  # the message types' bits (-1: every type may be there)
        self.sam_count = kw.pop("sam_count", 0)
        self.acm_ts = kw.pop("acm_ts", None)
        self.anm_ts = kw.pop("anm_ts", None)
        self.rel_ts = kw.pop("rel_ts", None)
        self.rlc_ts = kw.pop("rlc_ts", None)
        self.released_by = kw.pop("released_by", None)
        self.cause = kw.pop("cause", None)
        self.cause_location = kw.pop("cause_location", None)
        self.phase = kw.pop("phase", "setup")
        self.end_reason = kw.pop("end_reason", "released")
        self.outcome = kw.pop("outcome", "network")
        self.outcome_detail = kw.pop("outcome_detail", "x")
        self.base_outcome = kw.pop("base_outcome", self.outcome)
        self.outcome_by: str | None = None
        self.pdd_ms = kw.pop("pdd_ms", None)
        self.answer_delay_ms = kw.pop("answer_delay_ms", None)
        self.conversation_s = kw.pop("conversation_s", None)
        self.flags: list[str] = kw.pop("flags", [])
        self.answered = kw.pop("answered", False)
        self.duplicate_frames: list[int] = kw.pop("duplicate_frames", [])
        last = self.timeline[-1][1] if self.timeline else self.start
        self.last_ts = kw.pop("last_ts", last)
        self.end_ts = kw.pop("end_ts", None if self.end_reason == "open" else last)
        assert not kw, f"unknown FakeCall attributes {sorted(kw)}"

    def override_outcome(self, outcome: str, detail: str, by: str) -> None:
        self.outcome, self.outcome_detail, self.outcome_by = outcome, detail, by


def compiled(spec: Any, settings: dict[str, Any] | None = None, facts: Any = CALL_FACTS) -> Any:
    return compile_condition(spec, settings or {}, facts, KNOWN)


def evaluate(spec: Any, call: Any, settings: dict[str, Any] | None = None, **ctx_kw: Any) -> Context | None:
    """The context after the condition, or None when it does not hold."""
    cond = compiled(spec, settings)
    ctx = Context(CALL_FACTS, call=call, **ctx_kw)
    return ctx if cond.test(ctx) else None


def holds(spec: Any, call: Any, settings: dict[str, Any] | None = None, **ctx_kw: Any) -> bool:
    return evaluate(spec, call, settings, **ctx_kw) is not None


def reference_steps() -> tuple[tuple[str, float], ...]:
    """The reference fault: IAM without ST, SAM, REL from the called side 8 ms later, RLC."""
    return (("IAM>", 0.0), ("SAM>", 0.3), ("<REL", 0.308), ("RLC>", 0.312))


# -- combinators -------------------------------------------------------------------------------------------
def test_all_any_not_truth_tables() -> None:
    call = FakeCall(cause=38, sam_count=1)
    yes, no = {"field": "cause", "eq": 38}, {"field": "cause", "eq": 16}
    assert holds({"all": [yes, yes]}, call)
    assert not holds({"all": [yes, no]}, call)
    assert holds({"any": [no, yes]}, call)
    assert not holds({"any": [no, no]}, call)
    assert holds({"not": no}, call)
    assert not holds({"not": yes}, call)
    assert holds({"not": {"all": [yes, no]}}, call)
    assert holds({"all": [{"any": [no, yes]}, {"not": {"any": [no, no]}}]}, call)


def test_any_stops_at_the_first_branch_that_holds_and_keeps_its_bindings() -> None:
    call = FakeCall(reference_steps())
    ctx = evaluate(
        {
            "any": [
                {"label": "first", "present": "UCIC"},
                {"label": "second", "present": "SAM>", "as": "sam"},
                {"label": "third", "present": "IAM>", "as": "iam"},
            ]
        },
        call,
    )
    assert ctx is not None
    assert ctx.labels == ["second"]
    assert ctx.evidence == {"sam_frame": 2, "sam_ts": T0 + 0.3}


def test_not_drops_the_labels_and_bindings_of_its_condition() -> None:
    call = FakeCall(reference_steps(), cause=38)
    ctx = evaluate(
        {"all": [{"not": {"label": "inner", "present": "UCIC"}}, {"field": "cause", "eq": 38}]}, call
    )
    assert ctx is not None and ctx.labels == [] and ctx.evidence == {}
    # the inner condition held: 'not' fails and leaves nothing behind
    cond = compiled({"not": {"label": "inner", "present": "IAM>"}})
    ctx2 = Context(CALL_FACTS, call=call)
    assert cond.test(ctx2) is False
    assert ctx2.labels == [] and ctx2.evidence == {}


def test_a_failed_all_leaves_no_labels_or_bindings() -> None:
    """Inside ``any``, a branch ``all`` whose first part held but second failed must not leave its label
    or its binding in the evidence of the branch that holds."""
    call = FakeCall(reference_steps(), cause=38)
    ctx = evaluate(
        {
            "any": [
                {
                    "all": [
                        {"label": "had a SAM", "present": "SAM>", "as": "sam"},
                        {"field": "cause", "eq": 16},
                    ]
                },
                {"label": "cause 38", "field": "cause", "eq": 38},
            ]
        },
        call,
    )
    assert ctx is not None
    assert ctx.labels == ["cause 38"]
    assert "sam_frame" not in ctx.evidence


def test_labels_accumulate_in_order_for_all() -> None:
    call = FakeCall(reference_steps(), cause=38)
    ctx = evaluate(
        {
            "label": "outer",
            "all": [{"label": "a {cause}", "field": "cause", "eq": 38}, {"label": "b", "present": "SAM>"}],
        },
        call,
    )
    assert ctx is not None and ctx.labels == ["a {cause}", "b", "outer"]


@pytest.mark.parametrize("kw", ["all", "any"])
@pytest.mark.parametrize("value", [[], "x", {"field": "cause", "eq": 1}, None])
def test_all_any_need_a_non_empty_list(kw: str, value: Any) -> None:
    with pytest.raises(ConditionError, match=f"'{kw}' needs a non-empty list"):
        compiled({kw: value})


# -- field and operators -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fact", "value", "op", "operand", "expected"),
    [
        ("cause", 38, "eq", 38, True),
        ("cause", 38, "eq", 16, False),
        ("cause", 38, "ne", 16, True),
        ("cause", 38, "ne", 38, False),
        ("sam_count", 2, "lt", 3, True),
        ("sam_count", 3, "lt", 3, False),
        ("sam_count", 3, "le", 3, True),
        ("sam_count", 4, "le", 3, False),
        ("sam_count", 4, "gt", 3, True),
        ("sam_count", 3, "gt", 3, False),
        ("sam_count", 3, "ge", 3, True),
        ("sam_count", 2, "ge", 3, False),
        ("pdd_ms", 12.5, "gt", 12, True),
        ("pdd_ms", 12.5, "le", 12.4, False),
        ("cause", 34, "in", [34, 42], True),
        ("cause", 16, "in", [34, 42], False),
        ("cause", 16, "not_in", [34, 42], True),
        ("cause", 34, "not_in", [34, 42], False),
        ("released_by", "called", "in", ["called", "calling"], True),
        ("flags", ["dual_seizure", "rel_repeated"], "contains", "rel_repeated", True),
        ("flags", ["dual_seizure"], "contains", "rel_repeated", False),
        ("flags", [], "contains", "rel_repeated", False),
        ("called", "04531142345", "contains", "3114", True),
        ("called", "04531142345", "contains", "999", False),
        ("cause", 38, "contains", "3", False),  # neither a list nor a string
        ("called", "04531142345", "startswith", "0453", True),
        ("called", "04531142345", "startswith", "021", False),
        ("called", "04531142345", "startswith", ["021", "0453"], True),
        ("called", "04531142345", "startswith", ["021", "010"], False),
        ("called", "04531142345", "startswith", [], False),
        ("called", "04531142345", "matches", "^045", True),
        ("called", "04531142345", "matches", "3114", True),  # searched, not anchored
        ("called", "04531142345", "matches", "^3114", False),
        ("cause", 38, "matches", "38", False),  # only strings match
        ("cause", 38, "exists", True, True),
        ("cause", 38, "exists", False, False),
    ],
)
def test_field_operators(fact: str, value: Any, op: str, operand: Any, expected: bool) -> None:
    call = FakeCall(**{fact: value})
    assert holds({"field": fact, op: operand}, call) is expected


@pytest.mark.parametrize(
    ("op", "operand", "expected"),
    [
        ("eq", 38, False),
        ("ne", 38, True),
        ("lt", 100, False),
        ("le", 100, False),
        ("gt", -1, False),
        ("ge", 0, False),
        ("in", [38, 16], False),
        ("not_in", [38, 16], True),
        ("contains", "3", False),
        ("startswith", "3", False),
        ("matches", ".*", False),
        ("exists", True, False),
        ("exists", False, True),
    ],
)
def test_a_missing_fact_fails_every_operator_but_ne_not_in_and_exists_false(
    op: str, operand: Any, expected: bool
) -> None:
    call = FakeCall(cause=None)
    assert holds({"field": "cause", op: operand}, call) is expected


def test_numeric_operators_do_not_take_booleans_as_numbers() -> None:
    call = FakeCall(answered=True)
    assert not holds({"field": "answered", "gt": 0}, call)
    assert not holds({"field": "answered", "ge": 1}, call)
    assert holds({"field": "answered", "eq": True}, call)


def test_in_and_not_in_on_a_list_fact_do_not_crash() -> None:
    """``flags`` is a list: ``in`` with a list of strings compiles to a frozenset; a list fact is not in
    it (and is not_in it) rather than raising TypeError at evaluation time."""
    call = FakeCall(flags=["dual_seizure"])
    assert holds({"field": "flags", "in": ["dual_seizure", "x"]}, call) is False
    assert holds({"field": "flags", "not_in": ["dual_seizure", "x"]}, call) is True


def test_in_with_unhashable_members_still_works() -> None:
    call = FakeCall(flags=["a"])
    assert holds({"field": "flags", "in": [["a"], ["b"]]}, call)
    assert not holds({"field": "flags", "in": [["b"], "c"]}, call)


def test_operator_table_is_what_the_docstring_lists() -> None:
    assert set(OPERATORS) == {
        "eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "contains", "startswith", "matches", "exists"
    }  # fmt: skip


# -- facts -------------------------------------------------------------------------------------------------
def test_derived_call_facts() -> None:
    call = FakeCall(
        (("IAM>", 0.0), ("<ACM", 1.0), ("<ANM", 2.0)),
        called="0219999",
        calling=None,
        anm_ts=T0 + 2.0,
        rel_ts=None,
        end_reason="open",
        duplicate_frames=[7, 9],
        opc=300,
        dpc=200,
    )
    ctx = Context(CALL_FACTS, call=call, capture_end=T0 + 12.3456)
    assert ctx.fact("called_length") == 7
    assert ctx.fact("calling_present") is False
    assert ctx.fact("calling_length") is None
    assert ctx.fact("open") is True
    assert ctx.fact("held_s") == pytest.approx(10.346)
    assert ctx.fact("duplicates") == 2
    assert ctx.fact("trunk") == "200-300"  # lower point code first
    call.rel_ts = T0 + 5.0
    assert Context(CALL_FACTS, call=call).fact("held_s") == pytest.approx(3.0)
    call.anm_ts = None
    assert Context(CALL_FACTS, call=call).fact("held_s") is None


def test_trunk_fact_uses_the_trunk_map_and_the_point_code_printer() -> None:
    class Trunks:
        def name(self, opc: int, dpc: int, cic: int | None) -> str | None:
            return "main" if cic == 5 else None

    call = FakeCall(cic=5)
    assert Context(CALL_FACTS, call=call, trunks=Trunks()).fact("trunk") == "main"
    call = FakeCall(cic=6)
    ctx = Context(CALL_FACTS, call=call, trunks=Trunks(), pc=lambda v: f"pc{v}")
    assert ctx.fact("trunk") == f"pc{A}-pc{B}"
    assert Context(CALL_FACTS, call=FakeCall(opc=None)).fact("trunk") == "m3ua"


def test_facts_from_the_iam_parameters_of_a_real_call() -> None:
    f = Flow()
    f.msg("IAM", cic=7, called="0453114", calling="01058722000", calling_nai=4)
    f.msg("SAM", cic=7, digits="2345", st=True)
    f.msg("REL", cic=7, fwd=False, cause=38, location=3, dt=0.008)
    f.msg("RLC", cic=7)
    f.msg("IAM", cic=8, called="0219999", st=True, calling="")
    _, calls = correlate(f.messages)
    overlap, en_bloc = sorted(calls, key=lambda c: c.cic)
    ctx = Context(CALL_FACTS, call=overlap)
    assert ctx.fact("iam_st") is False and ctx.fact("called_complete") is True
    assert ctx.fact("calling_plan") == 1 and ctx.fact("calling_nai") == 4
    assert ctx.fact("hop_counter") is None
    assert ctx.fact("calling_present") and ctx.fact("calling_length") == 11
    assert (ctx.fact("cause"), ctx.fact("released_by"), ctx.fact("sam_count")) == (38, "called", 1)
    ctx = Context(CALL_FACTS, call=en_bloc)
    assert ctx.fact("iam_st") is True
    assert ctx.fact("calling_present") is False and ctx.fact("calling_plan") is None


def test_facts_are_cached_per_context() -> None:
    seen = []
    facts = {"x": (lambda ctx: seen.append(1) or 5, "x")}
    cond = compile_condition({"all": [{"field": "x", "eq": 5}, {"field": "x", "gt": 1}]}, {}, facts)
    ctx = Context(facts, call=FakeCall())
    assert cond.test(ctx) and seen == [1]


def test_event_facts_read_the_record() -> None:
    rec = {"record": "orphan", "type": "RLC", "cic": 33, "circuits": 1, "reason": "no call"}
    ctx = Context(EVENT_FACTS, record=rec)
    for spec, expected in [
        ({"field": "record", "eq": "orphan"}, True),
        ({"field": "type", "in": ["RSC", "GRS"]}, False),
        ({"field": "cic", "eq": 33}, True),
        ({"field": "reason", "contains": "call"}, True),
        ({"field": "trunk", "exists": False}, True),  # not in this record: None
    ]:
        ctx.evidence, ctx.labels = {}, []
        assert compile_condition(spec, {}, EVENT_FACTS).test(ctx) is expected, spec
    with pytest.raises(ConditionError, match="unknown fact 'sam_count'"):
        compile_condition({"field": "sam_count", "eq": 1}, {}, EVENT_FACTS)


# -- param -------------------------------------------------------------------------------------------------
def test_param_reads_the_first_message_of_a_type_and_binds_the_last_key() -> None:
    iam = FakeMessage("IAM", 1, {"hop_counter": {"hop_counter": 3}})
    rel1 = FakeMessage("REL", 3, {"cause_indicators": {"cause_value": 38, "location": 3}})
    rel2 = FakeMessage("REL", 5, {"cause_indicators": {"cause_value": 16}})
    call = FakeCall(iam=iam, messages=[iam, rel1, rel2])
    ctx = evaluate({"param": "IAM.hop_counter.hop_counter", "le": 3}, call)
    assert ctx is not None and ctx.evidence == {"hop_counter": 3}
    ctx = evaluate({"param": "REL.cause_indicators.cause_value", "eq": 38, "as": "rel_cause"}, call)
    assert ctx is not None and ctx.evidence == {"rel_cause": 38}
    assert not holds({"param": "REL.cause_indicators.cause_value", "eq": 16}, call)  # the first REL only
    # the whole parameter (a dict) can be tested for existence
    assert holds({"param": "REL.cause_indicators", "exists": True}, call)


def test_param_missing_message_or_key_is_a_missing_fact() -> None:
    iam = FakeMessage("IAM", 1, {"hop_counter": {"hop_counter": 3}})
    call = FakeCall(iam=iam, messages=None)
    assert not holds({"param": "REL.cause_indicators.cause_value", "eq": 38}, call)
    assert holds({"param": "REL.cause_indicators.cause_value", "exists": False}, call)
    assert holds({"param": "IAM.hop_counter.nope", "exists": False}, call)
    assert holds({"param": "IAM.hop_counter.hop_counter.deeper", "exists": False}, call)
    assert holds({"param": "IAM.nope", "ne": 1}, call)


def test_param_records_which_messages_it_needs() -> None:
    c = compiled({"all": [{"param": "IAM.hop_counter.hop_counter", "eq": 1}, {"param": "REL.x", "eq": 1}]})
    assert c.params == frozenset({"IAM", "REL"}) and c.timeline is False
    c = compiled({"present": "IAM"})
    assert c.params == frozenset() and c.timeline is True


@pytest.mark.parametrize("path", ["IAM", "IAM.", ".x", "IAM..x", 5, ["IAM", "x"]])
def test_param_path_errors(path: Any) -> None:
    with pytest.raises(ConditionError, match=r"'param' needs TYPE\.parameter"):
        compiled({"param": path, "eq": 1})


def test_param_unknown_message_type() -> None:
    with pytest.raises(ConditionError, match="unknown message type 'XYZ'"):
        compiled({"param": "XYZ.a", "eq": 1})


# -- present, absent, count --------------------------------------------------------------------------------
def test_present_binds_frame_and_time_of_the_first_match() -> None:
    call = FakeCall((("IAM>", 0.0), ("SAM>", 0.3), ("SAM>", 0.5), ("<REL", 0.6)))
    ctx = evaluate({"present": "SAM>"}, call)
    assert ctx is not None and ctx.evidence == {"present_frame": 2, "present_ts": T0 + 0.3}
    ctx = evaluate({"present": "<REL", "as": "rel"}, call)
    assert ctx is not None and ctx.evidence == {"rel_frame": 4, "rel_ts": T0 + 0.6}
    assert not holds({"present": "ACM"}, call)


def test_absent() -> None:
    call = FakeCall(reference_steps())
    assert holds({"absent": ["<ACM", "<CON", "<ANM"]}, call)
    assert not holds({"absent": "<REL"}, call)
    assert holds({"absent": "REL>"}, call)  # the REL came backward
    ctx = evaluate({"absent": "ACM"}, call)
    assert ctx is not None and ctx.evidence == {}


def test_count_binds_the_number_and_uses_its_operator() -> None:
    call = FakeCall((("IAM>", 0.0), ("SAM>", 0.1), ("SAM>", 0.2), ("SAM>", 0.3), ("<REL", 0.4)))
    ctx = evaluate({"count": "SAM>", "ge": 3}, call)
    assert ctx is not None and ctx.evidence == {"count": 3}
    ctx = evaluate({"count": "*", "eq": 5, "as": "messages"}, call)
    assert ctx is not None and ctx.evidence == {"messages": 5}
    assert not holds({"count": "SAM>", "gt": 3}, call)
    assert holds({"count": "ACM", "eq": 0}, call)
    with pytest.raises(ConditionError, match="exactly one operator"):
        compiled({"count": "SAM"})


# -- sequence ----------------------------------------------------------------------------------------------
def test_sequence_in_order_not_necessarily_adjacent() -> None:
    call = FakeCall((("IAM>", 0.0), ("SAM>", 0.1), ("<ACM", 0.2), ("SAM>", 0.3), ("<REL", 0.4)))
    ctx = evaluate({"sequence": ["IAM>", "<ACM", "<REL"]}, call)
    assert ctx is not None and ctx.evidence == {"sequence_frames": [1, 3, 5]}
    ctx = evaluate({"sequence": ["<ACM", "SAM>"], "as": "late"}, call)
    assert ctx is not None and ctx.evidence == {"late_frames": [3, 4]}
    assert not holds({"sequence": ["<REL", "SAM>"]}, call)
    assert not holds({"sequence": ["<ACM", "<ACM"]}, call)
    assert holds({"sequence": ["SAM>", "SAM>"]}, call)


def test_sequence_with_alternatives_the_reference_rule_uses() -> None:
    crossing = FakeCall((("IAM>", 0.0), ("<REL", 0.15), ("SAM>", 0.151), ("RLC>", 0.16)))
    ctx = evaluate({"sequence": ["<REL", "SAM>"], "as": "crossing"}, crossing)
    assert ctx is not None and ctx.evidence == {"crossing_frames": [2, 3]}
    alerting = FakeCall((("IAM>", 0.0), ("<CPG", 0.1), ("<REL", 0.2)))
    assert holds({"sequence": [["<ACM", "<CON", "<CPG", "<ANM"], "<REL"]}, alerting)


@pytest.mark.parametrize("value", [["IAM"], "IAM", [], None])
def test_sequence_needs_two_selectors(value: Any) -> None:
    with pytest.raises(ConditionError, match="at least two selectors"):
        compiled({"sequence": value})


# -- gap ---------------------------------------------------------------------------------------------------
def test_gap_from_the_latest_from_before_the_first_to() -> None:
    call = FakeCall((("IAM>", 0.0), ("SAM>", 0.3), ("SAM>", 0.5), ("<REL", 0.5086), ("<REL", 0.9)))
    ctx = evaluate({"gap": {"from": "SAM>", "to": "<REL"}, "le": 1000}, call)
    assert ctx is not None
    assert ctx.evidence == {
        "gap_ms": 8.6,
        "gap_from_frame": 3,
        "gap_from": "SAM",
        "gap_to_frame": 4,
        "gap_to": "REL",
    }
    ctx = evaluate({"gap": {"from": ["IAM>", "SAM>"], "to": "<REL"}, "ge": 5, "as": "t"}, call)
    assert ctx is not None and ctx.evidence["t_ms"] == 8.6 and ctx.evidence["t_from_frame"] == 3
    assert not holds({"gap": {"from": "SAM>", "to": "<REL"}, "lt": 8}, call)
    ctx = evaluate({"gap": {"from": "IAM>", "to": "SAM>"}, "eq": 300.0}, call)
    assert ctx is not None and ctx.evidence["gap_to_frame"] == 2


def test_gap_ignores_a_to_before_any_from() -> None:
    call = FakeCall((("IAM>", 0.0), ("<REL", 0.1), ("SAM>", 0.2), ("<REL", 0.25)))
    ctx = evaluate({"gap": {"from": "SAM>", "to": "<REL"}, "ge": 0}, call)
    assert ctx is not None and ctx.evidence["gap_ms"] == 50.0 and ctx.evidence["gap_to_frame"] == 4


def test_gap_without_a_to_message_fails_unless_else_end() -> None:
    call = FakeCall((("IAM>", 0.0), ("SAM>", 1.0), ("REL>", 21.0)), end_reason="released")
    spec: dict[str, Any] = {"gap": {"from": ["IAM>", "SAM>"], "to": "<ACM"}, "ge": 0}
    assert not holds(spec, call)
    spec["gap"]["else"] = "fail"
    assert not holds(spec, call)
    spec["gap"]["else"] = "end"
    ctx = evaluate(spec, call)
    assert ctx is not None
    assert ctx.evidence["gap_ms"] == 20000.0  # the REL was not a 'from': measured from the SAM
    assert ctx.evidence["gap_to"] == "end of call" and ctx.evidence["gap_to_frame"] is None
    # an open call is measured to the capture end
    open_call = FakeCall((("IAM>", 0.0), ("SAM>", 1.0)), end_reason="open")
    ctx = evaluate(spec, open_call, capture_end=T0 + 31.0)
    assert ctx is not None and ctx.evidence["gap_ms"] == 30000.0
    # ... and not at all without one
    assert not holds(spec, open_call, capture_end=None)


def test_gap_else_end_uses_last_ts_without_end_ts() -> None:
    call = FakeCall((("IAM>", 0.0),), end_reason="reset", end_ts=None, last_ts=T0 + 2.5)
    ctx = evaluate({"gap": {"from": "IAM>", "to": "<ACM", "else": "end"}, "ge": 2500}, call)
    assert ctx is not None and ctx.evidence["gap_ms"] == 2500.0


def test_gap_without_a_from_message_fails() -> None:
    call = FakeCall((("IAM>", 0.0), ("<REL", 0.1)))
    assert not holds({"gap": {"from": "SAM>", "to": "<REL", "else": "end"}, "ge": 0}, call)


@pytest.mark.parametrize(
    ("gap", "message"),
    [
        ("SAM", "'gap' needs a mapping"),
        ({"from": "SAM"}, "'gap' needs a mapping"),
        ({"to": "REL"}, "'gap' needs a mapping"),
        ({"from": "SAM", "to": "REL", "until": "x"}, "unknown key"),
        ({"from": "SAM", "to": "REL", "else": "never"}, "'else' must be 'fail' or 'end'"),
        ({"from": "SAM", "to": "rel"}, "bad message selector"),
    ],
)
def test_gap_errors(gap: Any, message: str) -> None:
    with pytest.raises(ConditionError, match=message):
        compiled({"gap": gap, "ge": 1})


# -- selectors ---------------------------------------------------------------------------------------------
def test_selector_directions_lists_and_wildcard() -> None:
    fwd = (1, 0.0, "REL", 0, b"")
    bwd = (2, 0.0, "REL", 1, b"")
    unknown = (3, 0.0, "REL", -1, b"")
    other = (4, 0.0, "RLC", 0, b"")
    s = parse_selector("REL")
    assert [s(e) for e in (fwd, bwd, unknown, other)] == [True, True, True, False]
    s = parse_selector("REL>")
    assert [s(e) for e in (fwd, bwd, unknown, other)] == [True, False, True, False]
    s = parse_selector("<REL")
    assert [s(e) for e in (fwd, bwd, unknown, other)] == [False, True, True, False]
    s = parse_selector("*")
    assert all(s(e) for e in (fwd, bwd, unknown, other))
    s = parse_selector("*>")
    assert [s(e) for e in (fwd, bwd, unknown, other)] == [True, False, True, True]
    s = parse_selector(["<REL", "RLC"])
    assert [s(e) for e in (fwd, bwd, unknown, other)] == [False, True, True, True]
    assert parse_selector(["<REL", "RLC>", "*", "IAM"]).text() == "<REL or RLC> or * or IAM"


def test_selector_with_direction_on_a_timeline() -> None:
    call = FakeCall((("IAM>", 0.0), ("REL>", 1.0), ("<RLC", 1.1)))
    assert holds({"present": "REL>"}, call)
    assert not holds({"present": "<REL"}, call)
    assert holds({"count": ["REL>", "<RLC"], "eq": 2}, call)
    assert holds({"count": "*>", "eq": 2}, call)
    assert holds({"count": "<*", "eq": 1}, call)


@pytest.mark.parametrize("bad", ["<IAM>", "iam", "", "I AM", "IAM>>", ">IAM", 5, None, ["IAM", 7], [["IAM"]]])
def test_bad_selectors(bad: Any) -> None:
    with pytest.raises(ConditionError, match="bad message selector"):
        parse_selector(bad)
    with pytest.raises(ConditionError, match="bad message selector"):
        compiled({"present": bad})


def test_empty_selector_list_and_unknown_type() -> None:
    with pytest.raises(ConditionError, match="must not be empty"):
        compiled({"present": []})
    with pytest.raises(ConditionError, match="unknown message type 'XYZ' in selector '<XYZ'"):
        compiled({"absent": ["IAM", "<XYZ"]})
    # without a list of known types any well-formed name is accepted
    assert parse_selector("XYZ")((1, 0.0, "XYZ", 0, b""))


# -- settings ----------------------------------------------------------------------------------------------
def test_setting_values() -> None:
    settings = {"limit": 3, "causes": [34, 42], "prefixes": ["021", "0453"], "pattern": "^0453"}
    call = FakeCall(cause=42, sam_count=3, called="04531142345")
    assert holds({"field": "sam_count", "ge": "$limit"}, call, settings)
    assert not holds({"field": "sam_count", "gt": "$limit"}, call, settings)
    assert holds({"field": "cause", "in": "$causes"}, call, settings)
    assert holds({"field": "called", "startswith": "$prefixes"}, call, settings)
    assert holds({"field": "called", "matches": "$pattern"}, call, settings)
    assert not holds({"field": "called", "matches": "$pattern"}, FakeCall(called="0219999"), settings)


def test_setting_lists_are_spliced_into_lists() -> None:
    settings = {"causes": [34, 42], "one": 16}
    assert holds({"field": "cause", "in": ["$causes", 99]}, FakeCall(cause=42), settings)
    assert holds({"field": "cause", "in": ["$causes", 99]}, FakeCall(cause=99), settings)
    assert holds({"field": "cause", "in": ["$one", 99]}, FakeCall(cause=16), settings)
    assert not holds({"field": "cause", "in": ["$causes", 99]}, FakeCall(cause=16), settings)
    assert holds({"field": "called", "startswith": ["$p", "021"]}, FakeCall(called="0453"), {"p": ["045"]})


def test_a_literal_dollar_inside_a_string_is_not_a_setting() -> None:
    assert holds({"field": "called", "contains": "a$b"}, FakeCall(called="xa$bx"))


def test_unknown_setting_and_settings_of_the_wrong_type() -> None:
    with pytest.raises(ConditionError, match=r"'\$limit' names no setting of this rule"):
        compiled({"field": "sam_count", "ge": "$limit"})
    with pytest.raises(ConditionError, match=r"'\$nope' names no setting"):
        compiled({"field": "cause", "in": [1, "$nope"]}, {"x": 1})
    with pytest.raises(ConditionError, match="'ge' needs a number"):
        compiled({"field": "sam_count", "ge": "$limit"}, {"limit": "three"})
    with pytest.raises(ConditionError, match="'in' needs a list"):
        compiled({"field": "cause", "in": "$one"}, {"one": 16})


# -- errors ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"foo": 1}, "exactly one of all, any"),
        ({}, "found none"),
        ({"all": [{"field": "cause", "eq": 1}], "any": [{"field": "cause", "eq": 1}]}, "found all, any"),
        ({"present": "IAM", "absent": "REL"}, "found present, absent"),
        (["field", "cause"], "must be a mapping"),
        ("cause == 38", "must be a mapping"),
        ({"not": "x"}, "must be a mapping"),
        ({"all": [{"field": "cause", "eq": 1}, "x"]}, "must be a mapping"),
        ({"field": "nope", "eq": 1}, "unknown fact 'nope'"),
        ({"field": "cause", "eq": 1, "ne": 2}, "exactly one operator .* found 2"),
        ({"field": "cause"}, "found 0"),
        ({"field": "cause", "eq": 1, "colour": "red"}, "unknown key.*colour"),
        ({"present": "IAM", "eq": 1}, "unknown key.*eq"),
        ({"not": {"present": "IAM"}, "extra": 1}, "unknown key.*extra"),
        ({"all": [{"present": "IAM"}], "x": 1}, "unknown key.*x"),
        ({"sequence": ["IAM", "REL"], "gt": 1}, "unknown key.*gt"),
        ({"field": "called", "matches": "("}, "bad regular expression '\\('"),
        ({"field": "called", "matches": "[a-"}, "bad regular expression"),
        ({"field": "cause", "in": 34}, "'in' needs a list"),
        ({"field": "cause", "not_in": "34"}, "'not_in' needs a list"),
        ({"field": "cause", "lt": "5"}, "'lt' needs a number"),
        ({"field": "cause", "ge": True}, "'ge' needs a number"),
        ({"field": "cause", "exists": "yes"}, "'exists' needs true or false"),
        ({"field": "called", "startswith": 45}, "'startswith' needs a string or a list of strings"),
        ({"field": "called", "startswith": ["0", 45]}, "'startswith' needs a string"),
        ({"present": "XYZ"}, "unknown message type 'XYZ'"),
        ({"count": "<FOO", "eq": 1}, "unknown message type 'FOO'"),
        ({"present": "IAM<"}, "bad message selector"),
    ],
)
def test_condition_errors(spec: Any, message: str) -> None:
    with pytest.raises(ConditionError, match=message):
        compiled(spec)


def test_errors_carry_the_node_of_the_failing_condition() -> None:
    inner = {"field": "nope", "eq": 1}
    outer = {"all": [{"field": "cause", "eq": 1}, inner]}
    nodes = {id(inner): "NODE-OF-INNER", id(outer): "NODE-OF-OUTER"}
    with pytest.raises(ConditionError) as info:
        compile_condition(outer, {}, CALL_FACTS, KNOWN, lambda obj: nodes.get(id(obj)))
    assert info.value.node == "NODE-OF-INNER"


# -- safety ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "__class__",
        "__dict__",
        "__init__",
        "__globals__",
        "iam",  # an attribute of a call, but not a fact
        "timeline",
        "messages",
        "override_outcome",
        "call.__class__",
        "_cache",
        "evidence",
        ["cause"],
        {"a": 1},
        5,
        None,
    ],
)
def test_a_rule_cannot_name_anything_but_a_fact(name: Any) -> None:
    with pytest.raises(ConditionError, match="unknown fact"):
        compiled({"field": name, "exists": True})


def test_param_paths_only_walk_dictionaries() -> None:
    iam = FakeMessage("IAM", 1, {"hop_counter": {"hop_counter": 3}})
    call = FakeCall(iam=iam)
    for path in ("IAM.__class__", "IAM.hop_counter.__class__", "IAM.hop_counter.hop_counter.real",
                 "IAM.params.hop_counter", "IAM.hop_counter.keys"):  # fmt: skip
        ctx = evaluate({"param": path, "exists": False, "as": "v"}, call)
        assert ctx is not None and ctx.evidence == {"v": None}, path


def test_the_fact_vocabulary_is_fixed() -> None:
    assert "trunk" in CALL_FACTS and "cause" in CALL_FACTS and "iam" not in CALL_FACTS
    assert not [name for name in (*CALL_FACTS, *EVENT_FACTS) if name.startswith("_")]
    for name, (fn, doc) in CALL_FACTS.items():
        assert callable(fn) and doc, name


# -- templates ---------------------------------------------------------------------------------------------
def test_render_template_names_and_formats() -> None:
    values = {"cause": 38, "gap_ms": 8.64, "name": "ab", "frames": [504, 505], "none": None, "zero": 0}
    assert render_template("cause {cause}", values) == "cause 38"
    assert render_template("{gap_ms:.1f} ms", values) == "8.6 ms"
    assert render_template("[{name:>4}]", values) == "[  ab]"
    assert render_template("[{cause:05d}]", values) == "[00038]"
    assert render_template("frames {frames}", values) == "frames 504, 505"
    assert render_template("{none} {missing} {zero}", values) == "- - 0"
    assert render_template("{missing:.2f}", values) == "-"
    assert render_template("{name:.2f}", values) == "ab"  # a spec that does not fit: the plain value
    assert render_template("no fields, {braces} stay: {}", {}) == "no fields, - stay: {}"


@pytest.mark.parametrize(
    "text",
    [
        "{x.__class__}",
        "{x.__class__.__mro__}",
        "{x[0]}",
        "{x!r}",
        "{0}",
        "{X}",
        "{x.real}",
    ],
)
def test_render_template_looks_up_names_only(text: str) -> None:
    values = {"x": [1, 2], "y": "d", "0": "zero", "X": "upper"}
    assert render_template(text, values) == text


def test_render_template_does_not_evaluate_attributes() -> None:
    class Spy:
        touched = False

        def __getattr__(self, name: str) -> Any:
            Spy.touched = True
            raise AttributeError(name)

        def __str__(self) -> str:
            return "spy"

    out = render_template("{s} {s.__class__} {s.anything}", {"s": Spy()})
    assert out == "spy {s.__class__} {s.anything}"
    assert not Spy.touched


def test_template_nested_braces_fill_the_inner_name_only() -> None:
    assert render_template("{x:{y}}", {"x": 1.5, "y": ".2f"}) == "{x:.2f}"
