"""The audit's storage: Parquet parts written column-wise, read back column-wise for the summary, and the
pickled form of frames that know their file (issue 16: the costs of one capture point's audit).

* the tables keep their fixed schemas; a part holds exactly the values of the rows given (times as the
  microseconds :func:`~sigdiag.report.parquet.micros` gives, nested values as JSON text, missing keys as
  nulls), whatever the mix of values;
* the summary read column by column equals the summary of the stored rows taken one by one;
* a frame pickles (every protocol, another process, an earlier version's pickle) as the frame of its file.
"""

from __future__ import annotations

import copy
import copyreg
import io
import json
import math
import pickle
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sigdiag.audit import tables
from sigdiag.audit.summary import (
    CALL_COLUMNS,
    SUMMARY_KEYS,
    Thresholds,
    alerts,
    bucket_label,
    bucket_labels,
    read_rows,
    summarize,
)
from sigdiag.audit.tables import FileFrame, file_frame, frames_of, positioned_frames, schema, write_part
from sigdiag.calls.settings import CallSettings
from sigdiag.calls.stats import STATS_KEYS, StatsAccumulator
from sigdiag.report.parquet import arrow_array, float_seconds, micros, timestamp_type

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
ds = pytest.importorskip("pyarrow.dataset")

T0 = 1_709_254_800.0  # 2024-03-01 01:00 UTC
TIME = "timestamp[us, tz=UTC]"

# -- the fixed schemas ---------------------------------------------------------------------------------------
CALLS = [
    ("call_id", "int64"), ("protocol", "string"), ("carrier", "string"), ("link", "string"),
    ("links", "string"), ("pc_format", "string"), ("opc", "int64"), ("dpc", "int64"), ("cic", "int64"),
    ("sip_call_id", "string"), ("iam_frame", "int64"), ("start", TIME), ("end", TIME), ("called", "string"),
    ("called_complete", "bool"), ("calling", "string"), ("calling_nai", "int64"), ("sam_count", "int64"),
    ("acm_ts", TIME), ("alert_ts", TIME), ("anm_ts", TIME), ("rel_ts", TIME), ("rlc_ts", TIME),
    ("release_end", "string"), ("release_wait_ms", "double"), ("released_by", "string"), ("cause", "int16"),
    ("cause_location", "int16"), ("phase", "string"), ("end_reason", "string"), ("outcome", "string"),
    ("outcome_detail", "string"), ("base_outcome", "string"), ("base_outcome_detail", "string"),
    ("outcome_by", "string"), ("pdd_ms", "double"), ("answer_delay_ms", "double"),
    ("conversation_s", "double"),
    ("flags", "list<item: string>"), ("duplicates", "int64"), ("frames", "list<item: int64>"),
    ("frame_files", "list<item: string>"), ("trunk", "string"), ("point", "string"), ("file", "string"),
]  # fmt: skip
FINDINGS = [
    ("rule", "string"), ("severity", "string"), ("category", "string"), ("scope", "string"),
    ("title", "string"),
    ("call_id", "int64"), ("protocol", "string"), ("opc", "int64"), ("dpc", "int64"), ("cic", "int64"),
    ("iam_frame", "int64"), ("start", TIME), ("called", "string"), ("calling", "string"),
    ("outcome", "string"),
    ("outcome_detail", "string"), ("trunk", "string"), ("link", "string"), ("links", "string"),
    ("confidence", "string"), ("window_start", TIME), ("window_end", TIME), ("count", "int64"),
    ("population", "string"), ("rate", "string"), ("calls", "string"), ("frames", "string"),
    ("frame_files", "string"), ("evidence", "string"), ("message", "string"), ("recommendation", "string"),
    ("ladder", "string"), ("ts", TIME), ("point", "string"), ("file", "string"),
]  # fmt: skip
ANOMALIES = [
    ("point", "string"), ("file", "string"), ("file_status", "string"), ("scope", "string"),
    ("frame", "int64"), ("ts", TIME), ("name", "string"), ("detail", "string"),
]  # fmt: skip
NULLABLE = {
    "calls": {
        "call_id": "Int64", "opc": "Int64", "dpc": "Int64", "cic": "Int64", "iam_frame": "Int64",
        "called_complete": "boolean", "calling_nai": "Int64", "sam_count": "Int64", "cause": "Int16",
        "cause_location": "Int16", "duplicates": "Int64",
    },
    "findings": {
        "call_id": "Int64", "opc": "Int64", "dpc": "Int64", "cic": "Int64", "iam_frame": "Int64",
        "count": "Int64",
    },
    "anomalies": {"frame": "Int64"},
}  # fmt: skip


@pytest.mark.parametrize(
    ("table", "expected"), [("calls", CALLS), ("findings", FINDINGS), ("anomalies", ANOMALIES)]
)
def test_the_tables_keep_their_fixed_schemas(table: str, expected: list[tuple[str, str]]) -> None:
    s = schema(table)
    assert [(f.name, str(f.type)) for f in s] == expected
    meta = json.loads(s.metadata[b"pandas"])
    assert {c["name"]: c["numpy_type"] for c in meta["columns"]} == NULLABLE[table]
    assert schema(table) is s  # (made once: the same immutable schema every part)


# -- writing -------------------------------------------------------------------------------------------------
def _expected_text(v: Any) -> str | None:
    """How a value of a text column is stored: text as it is, anything else as sorted JSON."""
    if v is None or isinstance(v, str):
        return v
    return json.dumps(v, default=str, sort_keys=True)


class _Name(str):
    """A str subclass (stored as its text)."""


def _tricky_times(rng: random.Random, n: int) -> list[Any]:
    out: list[Any] = [
        None,
        float("nan"),
        0.0,
        -0.0,
        0.5e-6,
        1.5e-6,
        2.5e-6,
        -0.5e-6,
        -1.5e-6,
        T0,
        int(T0),
        True,
    ]
    for _ in range(n):
        k = rng.random()
        if k < 0.3:
            out.append(T0 + rng.uniform(0, 86_400))
        elif k < 0.5:
            out.append((rng.randrange(-(10**12), 10**12) + 0.5) / 1e6)  # a half microsecond: to even
        elif k < 0.6:
            out.append(round(T0 + rng.uniform(0, 3600), 6))
        elif k < 0.7:
            out.append(rng.randrange(-(2**31), 2**32))
        elif k < 0.8:
            out.append(rng.uniform(-1e9, 4e9))
        else:
            out.append(None)
    return out


def test_times_are_the_microseconds_micros_gives() -> None:
    """Column-wise: every value as :func:`micros` gives it (Python's round, half to even; NaN and None as
    nulls), including ints, bools and values halfway between two microseconds."""
    values = _tricky_times(random.Random(16), 20_000)
    got = arrow_array("start", values)
    assert got.type == timestamp_type()
    assert got.cast(pa.int64()).to_pylist() == [micros(v) for v in values]


@pytest.mark.parametrize("bad", [float("inf"), -float("inf"), 1e300, 2**70])
def test_a_time_out_of_range_raises_as_value_by_value(bad: Any) -> None:
    def error(convert: Any) -> type[BaseException] | None:
        try:
            convert()
        except Exception as exc:
            return type(exc)
        return None

    values = [T0, bad]
    before = error(lambda: pa.array([micros(v) for v in values], type=timestamp_type()))
    assert before is not None and error(lambda: arrow_array("start", values)) is before


def test_times_that_are_not_plain_numbers_are_converted_value_by_value() -> None:
    values = [T0, "1.5", None]
    assert arrow_array("ts", values).cast(pa.int64()).to_pylist() == [micros(v) for v in values]


def _call_rows(rng: random.Random, n: int) -> list[dict[str, Any]]:
    times = _tricky_times(rng, n)
    links = [["m3ua:a-b"], ["m3ua:a-b", "m3ua:c-d"], [], [_Name("x")], [1, "a"], ("m3ua:a-b",)]
    rows = []
    for i in range(n):
        row: dict[str, Any] = {}
        for name, kind in CALLS:
            if kind == TIME:
                row[name] = times[(i * 7 + len(name)) % len(times)]
            elif kind in ("int64", "int16"):
                row[name] = None if i % 5 == 0 else rng.randrange(0, 30_000)
            elif kind == "double":
                row[name] = None if i % 4 == 0 else rng.uniform(0, 1e4)
            elif kind == "bool":
                row[name] = (None, True, False)[i % 3]
            elif kind == "list<item: string>":
                row[name] = [f"/p/f{j}.pcap" for j in range(i % 4)]
            elif kind == "list<item: int64>":
                row[name] = list(range(i % 5))
            else:
                row[name] = (None, "é", f"s{i % 13}", _Name("n"))[i % 4]
        row["links"] = links[i % len(links)]
        row["outcome_detail"] = {"b": [1, 2], "a": None} if i % 9 == 0 else row["outcome_detail"]
        rows.append(row)
    return rows


def _stored(path: Path) -> Any:
    return pq.read_table(path)


def _check_part(table: str, rows: list[dict[str, Any]], path: Path) -> None:
    """The part at ``path`` has the table's schema and exactly the rows' values."""
    t = _stored(path)
    assert t.schema.equals(schema(table)) and t.schema.metadata == schema(table).metadata
    for f in schema(table):
        values = [r.get(f.name) for r in rows]
        col = t.column(f.name)
        if str(f.type) == TIME:
            assert col.cast(pa.int64()).to_pylist() == [micros(v) for v in values], f.name
        elif f.type == pa.string():
            assert col.to_pylist() == [_expected_text(v) for v in values], f.name
        else:
            assert col.to_pylist() == values, f.name


def test_a_part_holds_exactly_the_values_of_its_rows(tmp_path: Path) -> None:
    rows = _call_rows(random.Random(7), 3000)
    size = write_part("calls", rows, tmp_path / "calls.parquet")
    assert size == (tmp_path / "calls.parquet").stat().st_size
    _check_part("calls", rows, tmp_path / "calls.parquet")


def test_rows_without_some_keys_store_nulls_there(tmp_path: Path) -> None:
    """A finding without frames has no ``frame_files``; a row may miss any key (null)."""
    rng = random.Random(3)
    rows: list[dict[str, Any]] = []
    for i in range(500):
        row: dict[str, Any] = {name: f"{name}{i % 3}" for name, kind in FINDINGS if kind == "string"}
        row.update(ts=T0 + i, count=i, window_start=None, calls=[i, i + 1], evidence={"z": 1, "a": [T0]})
        for name in rng.sample(list(row), 5):
            del row[name]
        rows.append(row)
    write_part("findings", rows, tmp_path / "f.parquet")
    _check_part("findings", rows, tmp_path / "f.parquet")
    write_part("anomalies", [], tmp_path / "a.parquet")
    assert _stored(tmp_path / "a.parquet").num_rows == 0


def test_a_row_that_cannot_be_stored_leaves_nothing(tmp_path: Path) -> None:
    rows = _call_rows(random.Random(1), 10)
    rows[3]["end"] = float("inf")
    with pytest.raises(OverflowError):
        write_part("calls", rows, tmp_path / "x" / "calls.parquet")
    assert not (tmp_path / "x" / "calls.parquet").exists()


def test_finding_rows_write_their_nested_values_as_sorted_json() -> None:
    class F:
        ts = T0

        def as_dict(self) -> dict[str, Any]:
            frames = [file_frame(3, "/a.pcap"), file_frame(9, "/b.pcap")]
            return {"frames": frames, "evidence": {"b": 1, "a": [2, None]}, "calls": None, "iam_frame": 3}

    row = tables.finding_row(F(), "p", "/b.pcap")
    assert row["frames"] == "[3, 9]" and row["frame_files"] == '["/a.pcap", "/b.pcap"]'
    assert row["evidence"] == '{"a": [2, null], "b": 1}' and row["calls"] is None
    assert (row["ts"], row["point"], row["file"]) == (T0, "p", "/b.pcap")


# -- reading for the summary ---------------------------------------------------------------------------------
def test_bucket_labels_are_those_of_bucket_label() -> None:
    rng = random.Random(5)
    times: list[Any] = [
        None,
        float("nan"),
        float("inf"),
        -float("inf"),
        0,
        -1,
        -0.5,
        T0,
        T0 - 1e-7,
        int(T0) + 3599,
    ]
    times += [T0 + rng.uniform(-86_400, 86_400) for _ in range(3000)] + [
        rng.randrange(0, 2**32) for _ in range(300)
    ]
    memo: dict[int, str] = {}
    for seconds in (1, 7, 60, 900, 3600, 86_400):
        memo.clear()
        assert bucket_labels(times, seconds, memo) == [bucket_label(t, seconds) for t in times]
        assert bucket_labels(times, seconds) == [bucket_label(t, seconds) for t in times]


def test_read_rows_gives_the_stored_rows(tmp_path: Path) -> None:
    rows = _call_rows(random.Random(11), 400)
    parts = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    write_part("calls", rows[:150], parts[0])
    write_part("calls", rows[150:], parts[1])
    columns = ["trunk", "start", "cause", "frames", "called_complete", "pdd_ms"]
    want = float_seconds(ds.dataset([str(p) for p in parts]).to_table(columns=columns)).to_pylist()
    got = list(read_rows(parts, columns))
    _equal(got, want)
    assert list(read_rows([], columns)) == []


def _equal(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    """The same rows, keys in the same order (as JSON: NaN-safe); the first difference if not."""
    a, b = [json.dumps(r) for r in got], [json.dumps(r) for r in want]
    if a != b:
        i = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        pytest.fail(
            f"{len(a)} rows, {len(b)} wanted; first difference at row {i}: {a[i : i + 1]} != {b[i : i + 1]}"
        )


class _OneByOne:
    """A stored call row seen as a call, one dict at a time (the summary's definition, row by row)."""

    __slots__ = (
        "answer_delay_ms",
        "called",
        "cause",
        "conversation_s",
        "group",
        "outcome",
        "pdd_ms",
        "phase",
        "start",
    )

    def __init__(self, d: dict[str, Any], group: str) -> None:
        for k in ("answer_delay_ms", "cause", "conversation_s", "outcome", "pdd_ms", "phase", "start"):
            setattr(self, k, d[k])
        self.called = d["called"] or ""
        self.group = group


def _summary_row_by_row(
    calls: list[Path], findings: list[Path], bucket_s: int, thresholds: Thresholds
) -> list[dict[str, Any]]:
    class Acc(StatsAccumulator):
        def _grouper(self) -> Any:
            return lambda c: c.group

    acc = Acc(None, None, CallSettings())
    cols = CALL_COLUMNS  # (the columns are data; the counting below is the reference)
    for d in float_seconds(ds.dataset([str(p) for p in calls]).to_table(columns=cols)).to_pylist():
        acc.add(_OneByOne(d, f"{d['trunk']}\x1f{bucket_label(d['start'], bucket_s)}"))
    counts: dict[str, Counter[str]] = {}
    if findings:
        table = ds.dataset([str(p) for p in findings]).to_table(columns=["rule", "trunk", "ts"])
        for d in float_seconds(table).to_pylist():
            g = f"{d['trunk'] or '-'}\x1f{bucket_label(d['ts'], bucket_s)}"
            counts.setdefault(g, Counter())[d["rule"]] += 1
    kpis = {r["group"]: r for r in acc.rows()}
    rows = []
    for g in sorted(set(kpis) | set(counts)):
        trunk, bucket = g.split("\x1f", 1)
        k = kpis.get(g) or StatsAccumulator.empty_row(g)
        c = counts.get(g, Counter())
        row: dict[str, Any] = {
            "trunk": trunk,
            "bucket": bucket,
            **{x: k[x] for x in STATS_KEYS if x != "group"},
        }
        row.update(
            findings_total=sum(c.values()), findings=dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))
        )
        row["alerts"] = []
        rows.append(row)
    alerts(rows, thresholds)
    return rows


def _summary_inputs(tmp_path: Path, seed: int) -> tuple[list[Path], list[Path]]:
    rng = random.Random(seed)
    outcomes = ["answered", "subscriber", "caller", "network", "unknown"]
    calls, findings = [], []
    for p in range(4):
        rows = []
        for _ in range(rng.randrange(0, 900)):
            out = rng.choice(outcomes)
            rows.append(
                {
                    "trunk": rng.choice(["BJ-SH-01", "2061-2089", "x"]),
                    "start": T0 + rng.uniform(-7200, 5 * 86_400),
                    "outcome": out,
                    "conversation_s": rng.uniform(0, 300)
                    if out == "answered" and rng.random() < 0.9
                    else None,
                    "phase": rng.choice(["setup", "alerting", "answered", None]),
                    "cause": None if rng.random() < 0.2 else rng.choice([16, 17, 19, 20, 1, 34]),
                    "pdd_ms": None if rng.random() < 0.3 else rng.uniform(100, 5000),
                    "answer_delay_ms": None if rng.random() < 0.5 else rng.uniform(0, 3e4),
                    "called": rng.choice([None, "", f"0219{rng.randrange(0, 40):07d}"]),
                }
            )
        calls.append(tmp_path / f"c{p}.parquet")
        write_part("calls", rows, calls[-1])
        frows = [
            {
                "rule": rng.choice(["repeat-attempts", "congestion", "no-rlc"]),
                "trunk": rng.choice(["BJ-SH-01", "x", "", None]),
                "ts": None if rng.random() < 0.02 else T0 + rng.uniform(0, 3 * 86_400),
            }
            for _ in range(rng.randrange(0, 300))
        ]
        findings.append(tmp_path / f"f{p}.parquet")
        write_part("findings", frows, findings[-1])
    return calls, findings


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("bucket_s", [60, 3600, 86_400])
def test_the_summary_read_column_wise_is_the_summary_row_by_row(
    tmp_path: Path, seed: int, bucket_s: int
) -> None:
    calls, findings = _summary_inputs(tmp_path, seed)
    t = Thresholds(network_loss_rate=0.1, asr=0.5, min_completed=2, min_buckets=2, z=1.0)
    got = summarize(calls, findings, bucket_s, CallSettings(), t)
    want = _summary_row_by_row(calls, findings, bucket_s, t)
    assert got and all(list(r) == list(SUMMARY_KEYS) for r in got)
    _equal(got, want)
    assert sum(r["findings_total"] for r in got) > 0 and any(r["alerts"] for r in got)


# -- frames that know their file -----------------------------------------------------------------------------
PATHS = ["/cap/probe0_00001.pcap", "/cap/é ü.pcap", "/cap/\udcff.pcap", "", None]


def _same(a: list[Any], b: list[Any]) -> None:
    assert a == b and [type(x) for x in a] == [type(x) for x in b]
    assert [(x.file, x.number, x.sub) for x in a] == [(x.file, x.number, x.sub) for x in b]


def _frames() -> list[FileFrame]:
    """Frames of files with odd names, with and without a position in their point."""
    frames = [file_frame(i, p) for i, p in enumerate(PATHS)] + [frames_of("/cap/probe0_00001.pcap")(2**40)]
    for number, path in enumerate(p for p in PATHS if p is not None):
        at = positioned_frames(path, number)
        frames += [at(7, 0), at(7, 1), at(7, 3), at(2**40, 0)]
    return frames


def test_positioned_frames_know_their_file_and_position() -> None:
    at = positioned_frames("/cap/b.pcap", 3)
    f, g, h = at(1234, 0), at(1234, 2), at(99, 2)
    assert (f, f.file, f.number, f.sub) == (1234, "/cap/b.pcap", 3, 0) and (g.sub, h.sub) == (2, 2)
    assert type(g) is type(h) is type(positioned_frames("/cap/b.pcap", 3)(5, 2)) is not type(f)
    assert type(file_frame(1, "/cap/b.pcap")) is frames_of("/cap/b.pcap") is not type(f)
    plain = file_frame(1, "/cap/b.pcap")
    assert (plain.number, plain.sub) == (None, 0)
    for bad in ("bogus", "fzz", "f61_1", "f61_1_2_3", "f61_x_y", "__slots__"):
        with pytest.raises(AttributeError):
            getattr(tables._FRAME_CLASSES, bad)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_frames_pickle_as_the_frames_of_their_files(protocol: int) -> None:
    frames = _frames()
    back = pickle.loads(pickle.dumps(frames, protocol))
    _same(back, frames)
    assert all(isinstance(x, FileFrame) and isinstance(x, int) for x in back)
    _same(copy.copy(frames), frames)
    _same(copy.deepcopy(frames), frames)


def test_a_files_class_is_written_once_per_pickle() -> None:
    path = "/cap/once.pcap"
    frames = [frames_of(path)(i) for i in range(1000)]
    data = pickle.dumps(frames, pickle.HIGHEST_PROTOCOL)
    assert data.count(path.encode().hex().encode()) == 1
    assert len(data) < 1000 * 12


def test_frames_pickled_in_another_process_load_here_and_back() -> None:
    code = (
        "import pickle, sys\n"
        "from sigdiag.audit.tables import file_frame\n"
        "got = pickle.loads(sys.stdin.buffer.read())\n"
        "print([(int(x), x.file) for x in got], file=sys.stderr)\n"
        "sys.stdout.buffer.write(pickle.dumps([file_frame(5, '/other/é.pcap'), *got], 4))\n"
    )
    frames = [file_frame(i, p) for i, p in enumerate(PATHS)]
    r = subprocess.run(
        [sys.executable, "-c", code], input=pickle.dumps(frames), capture_output=True, check=True
    )
    assert r.stderr.decode("utf-8", "surrogateescape").strip() == repr([(i, p) for i, p in enumerate(PATHS)])
    back = pickle.loads(r.stdout)
    assert (back[0], back[0].file) == (5, "/other/é.pcap")
    _same(back[1:], frames)


def test_frames_pickled_by_an_earlier_version_load() -> None:
    """Earlier versions reduced a frame to ``file_frame(frame, path)``."""

    class Earlier:
        def __init__(self, frame: int, path: str) -> None:
            self.args = (frame, path)

        def __reduce__(self) -> Any:
            return (file_frame, self.args)

    back = pickle.loads(pickle.dumps([Earlier(7, "/cap/a.pcap"), Earlier(8, "/cap/a.pcap")]))
    assert back == [7, 8] and [x.file for x in back] == ["/cap/a.pcap"] * 2
    assert type(back[0]) is type(frames_of("/cap/a.pcap")(1))


def test_frames_of_files_no_longer_recent_and_picklers_with_their_own_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reduction registered with copyreg is kept for the most recent files only (bounded); the frames
    of older files, and any pickler with a dispatch table of its own, use ``__reduce_ex__``."""
    monkeypatch.setattr(tables, "_RECENT_MAX", 3)
    old = [frames_of(f"/cap/old{i}.pcap")(i) for i in range(10)]
    assert len(tables._RECENT) <= 3
    registered = [
        cls for cls in copyreg.dispatch_table if isinstance(cls, type) and issubclass(cls, FileFrame)
    ]
    assert len(registered) <= 3 and type(old[0]) not in registered and type(old[-1]) in registered
    _same(pickle.loads(pickle.dumps(old)), old)
    buf = io.BytesIO()
    p = pickle.Pickler(buf, pickle.HIGHEST_PROTOCOL)
    p.dispatch_table = {}  # (as sigdiag.rules.parallel's pickler has)
    p.dump(old)
    _same(pickle.loads(buf.getvalue()), old)
    assert frames_of("/cap/old0.pcap") is type(old[0])  # one class per file while its frames live


def test_a_frame_is_its_number_everywhere_else() -> None:
    f = file_frame(42, "/cap/a.pcap")
    assert f == 42 and hash(f) == hash(42) and str(f) == "42" and json.dumps([f]) == "[42]"
    assert pa.array([f], type=pa.int64()).to_pylist() == [42] and not math.isnan(f)
