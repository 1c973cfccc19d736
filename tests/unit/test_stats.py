"""KPIs (``sigdiag stats``): definitions checked on calls whose numbers are worked out by hand."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from sigdiag.calls import STATS_KEYS, CallSettings, TrunkMap, compute_stats, load_trunks
from sigdiag.calls.stats import p95
from sigdiag.settings import ConfigError
from tests.unit.test_calls_builder import A, B, Flow, correlate


def _traffic() -> Flow:
    """15 calls on CICs 1-15, A -> B unless noted; the comments give each call's outcome."""
    f = Flow(step=0.5)

    def call(cic: int, steps: list[tuple[str, bool, dict[str, Any]]], called: str = "") -> None:
        f.msg("IAM", cic=cic, called=called or f"045311{cic:02d}")
        for typ, fwd, kw in steps:
            f.msg(typ, cic=cic, fwd=fwd, **kw)

    def answered(cic: int, conv: float, pdd: float) -> None:
        call(cic, [("ACM", False, {"dt": pdd}), ("ANM", False, {"dt": 2.0}), ("REL", True, {"dt": conv})])
        f.msg("RLC", cic=cic, fwd=False, dt=0.01)

    answered(1, 5.0, 1.0)  # answered, 5 s: not effective
    answered(2, 12.0, 2.0)  # answered, effective
    answered(3, 30.0, 3.0)  # answered, effective
    call(4, [("ACM", False, {"dt": 4.0}), ("ANM", False, {"dt": 1.0})])  # answered, open at the end
    call(5, [("REL", False, {"cause": 17})], called="0219999")  # subscriber
    call(6, [("REL", False, {"cause": 17})], called="0219999")  # subscriber, repeat attempt
    call(7, [("ACM", False, {"dt": 1.0}), ("REL", False, {"cause": 19, "dt": 30})])  # subscriber
    call(8, [("ACM", False, {"dt": 1.0}), ("REL", True, {"cause": 16, "dt": 8})])  # caller abandon
    call(9, [("REL", True, {"cause": 31})])  # caller abandon before alerting
    call(10, [("REL", False, {"cause": 1})], called="0219999")  # caller (misdial), repeat attempt
    call(11, [("REL", False, {"cause": 34})])  # network, before ACM: blocked
    call(12, [("ACM", False, {"dt": 1.0}), ("REL", False, {"cause": 38})])  # network, after ACM
    call(13, [])  # open: unknown
    f.msg("IAM", cic=14, fwd=False, called="0107777")  # B -> A
    f.msg("ANM", cic=14, fwd=True)
    f.msg("REL", cic=14, fwd=True, cause=16, dt=20)  # answered (called side releases), effective
    f.msg("RLC", cic=14, fwd=False)
    call(15, [("REL", False, {"cause": 42})], called="0453999")  # network, blocked
    return f


def _calls(**settings: Any) -> list[Any]:
    _, calls = correlate(_traffic().messages, **settings)
    return calls


def test_one_row_for_everything() -> None:
    (row,) = compute_stats(_calls())
    assert list(row) == list(STATS_KEYS) and row["group"] == "all"
    assert row["seizures"] == 15 and row["open"] == 1 and row["completed"] == 14
    assert row["answered"] == 5 and row["subscriber_failures"] == 3 and row["caller_failures"] == 3
    assert row["network_loss"] == 3 and row["blocked_calls"] == 2
    assert row["asr"] == round(5 / 14, 4)
    assert row["ner"] == round(8 / 14, 4)
    assert row["valid_attempts"] == 11
    assert row["connection_rate"] == round(5 / 11, 4)
    assert row["network_loss_rate"] == round(3 / 11, 4)
    assert row["blocked_share"] == round(2 / 14, 4)
    assert row["effective_answered"] == 3 and row["effective_rate"] == round(3 / 14, 4)
    assert row["avg_conversation_s"] == pytest.approx((5 + 12 + 30 + 20) / 4, abs=0.01)
    # post-dial delay: IAM -> ACM (or ANM for the call without ACM) of the calls with one
    pdds = [1000, 2000, 3000, 4000, 1000, 1000, 1000, 500]
    assert row["pdd_mean_ms"] == pytest.approx(sum(pdds) / len(pdds), abs=0.01)
    assert row["pdd_p95_ms"] == pytest.approx(4000, abs=0.01)
    assert row["answer_delay_mean_ms"] == pytest.approx(1750, abs=0.01)  # ACM -> ANM: 2, 2, 2 and 1 s
    assert row["top_causes"] == [[17, 2], [1, 1], [16, 1], [19, 1], [31, 1]]
    assert row["repeat_attempts"] == 2


def test_effective_seconds_setting() -> None:
    (row,) = compute_stats(_calls(), settings=CallSettings(effective_s=4))
    assert row["effective_answered"] == 4
    (row,) = compute_stats(_calls(), settings=CallSettings(effective_s=25))
    assert row["effective_answered"] == 1


def test_repeat_window_setting() -> None:
    (row,) = compute_stats(_calls(), settings=CallSettings(repeat_window_s=0.5))
    assert row["repeat_attempts"] == 0


def test_repeat_attempts_do_not_depend_on_finishing_order() -> None:
    calls = _calls()
    forward = compute_stats(calls)[0]["repeat_attempts"]
    backward = compute_stats(list(reversed(calls)))[0]["repeat_attempts"]
    assert forward == backward == 2


def test_repeat_attempts_per_group_do_not_depend_on_order_even_for_calls_at_the_same_moment() -> None:
    """Two attempts to one number at the same moment on two trunks (and one later): which trunk counts the
    repeat does not depend on the order the calls come in (an audit's summary reads its parts in any
    order): the greater group's."""
    from types import SimpleNamespace

    from sigdiag.calls.stats import StatsAccumulator

    def call(trunk: str, start: float) -> Any:
        return SimpleNamespace(
            group=trunk, outcome="subscriber", conversation_s=None, phase="setup", cause=17, pdd_ms=None,
            answer_delay_ms=None, called="0453114000", start=start,
        )  # fmt: skip

    class ByTrunk(StatsAccumulator):
        def _grouper(self) -> Any:
            return lambda c: c.group

    calls = [call("100-200", 10.0), call("100-300", 10.0), call("100-200", 20.0)]
    seen = set()
    for order in itertools.permutations(calls):
        acc = ByTrunk(None, None, CallSettings())
        for c in order:
            acc.add(c)  # type: ignore[arg-type]
        seen.add(tuple((r["group"], r["repeat_attempts"]) for r in acc.rows()))
    assert seen == {(("100-200", 1), ("100-300", 1))}


def test_by_opc_dpc_cause_prefix_hour() -> None:
    calls = _calls()
    rows = {r["group"]: r for r in compute_stats(calls, by="opc-dpc")}
    assert set(rows) == {f"{A}-{B}", f"{B}-{A}"} and rows[f"{B}-{A}"]["answered"] == 1
    assert rows[f"{A}-{B}"]["seizures"] == 14
    rows = {r["group"]: r for r in compute_stats(calls, by="cause")}
    assert list(rows) == ["1", "16", "17", "19", "31", "34", "38", "42", "none"]
    assert rows["17"]["seizures"] == 2 and rows["none"]["seizures"] == 2
    rows = {r["group"]: r for r in compute_stats(calls, by="prefix", settings=CallSettings(prefix_digits=4))}
    assert {k: v["seizures"] for k, v in rows.items()} == {"0453": 11, "0219": 3, "0107": 1}
    rows = {r["group"]: r for r in compute_stats(calls, by="hour")}
    assert list(rows) == ["2023-11-14 22:00"]


def test_structured_point_codes_in_groups() -> None:
    rows = compute_stats(_calls(), by="opc-dpc", pc_display="structured")
    assert {r["group"] for r in rows} == {"0-12-4-0-25-0", "0-25-0-0-12-4"}


def test_by_trunk_with_and_without_a_map(tmp_path: Path) -> None:
    calls = _calls()
    rows = {r["group"]: r["seizures"] for r in compute_stats(calls, by="trunk")}
    assert rows == {f"{A}-{B}": 15}  # without a map: the unordered point-code pair, both directions
    path = tmp_path / "trunks.yaml"
    path.write_text(
        "pc_format: itu\n"
        "trunks:\n"
        f"  - {{name: low, opc: {A}, dpc: {B}, cic: '1-5,14'}}\n"
        f"  - {{name: high, opc: 0-25-0, dpc: {A}, cic: [6, '7-12']}}\n"
    )
    tmap = load_trunks(path)
    rows = {r["group"]: r["seizures"] for r in compute_stats(calls, by="trunk", trunks=tmap)}
    assert rows == {"low": 6, "high": 7, f"{A}-{B}": 2}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("trunks: 3\n", "expected a mapping with a 'trunks' list"),
        ("trunks:\n  - {name: x, opc: 1}\n", "without 'dpc'"),
        ("trunks:\n  - {name: x, opc: 1, dpc: 2, cic: 'a-b'}\n", "bad CIC range"),
        ("trunks:\n  - {name: x, opc: 1, dpc: 2, colour: red}\n", "unknown trunk keys"),
        ("trunks:\n  - {name: x, opc: 1-2-3-4, dpc: 2}\n", "point code"),
        ("trunks: [\n", "not valid YAML"),
    ],
)
def test_trunk_map_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_trunks(path)
    assert str(exc.value).startswith(str(path)) and message in str(exc.value)


def test_trunk_map_matching() -> None:
    tmap = TrunkMap([("t1", 1, 2, [(1, 31)]), ("t2", 2, 1, [(32, 63)]), ("all", 5, 6, None)])
    assert tmap.name(1, 2, 5) == "t1" and tmap.name(2, 1, 40) == "t2" and tmap.name(1, 2, 99) is None
    assert tmap.name(6, 5, 1234) == "all" and tmap.name(None, 2, 1) is None


def test_p95_nearest_rank() -> None:
    assert p95([]) is None
    assert p95([7.0]) == 7.0
    assert p95(range(1, 101)) == 95
    assert p95(range(1, 21)) == 19
    assert p95([5, 1, 3]) == 5


def test_rates_without_completed_calls_are_null() -> None:
    _, calls = correlate([Flow().msg("IAM")])
    (row,) = compute_stats(calls)
    assert row["seizures"] == row["open"] == 1 and row["completed"] == 0
    assert row["asr"] is None and row["connection_rate"] is None and row["pdd_mean_ms"] is None


def test_unknown_group_by_is_rejected() -> None:
    with pytest.raises(ValueError, match="--by must be one of"):
        compute_stats([], by="weekday")
