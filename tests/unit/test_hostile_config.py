"""Hostile configuration files (issue 14, point 1): every file sigdiag reads goes through one bounded
YAML loader (:mod:`sigdiag.settings`: size, nesting depth, alias expansion, safe tags only), and every
command that takes such a file ends a hostile one with exit status 2, one error line naming the file,
no traceback and no hang.

The corpus: Python tags, binary, bad UTF-8, wrong types, a 50 MB title, broken YAML, out-of-range
point codes, a "billion laughs" file, deep nesting, a rule with 3,000 nested ``any``, a recursive
alias, a 5,000-digit integer, an empty file and a list instead of a mapping.  Each is fed to every
command that takes that kind of file (config, trunk map, outcomes, number plan, thresholds, rules,
scenario).  The time bound of each run is a hang guard only (generous: 20 s).
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sigdiag.cli import app
from sigdiag.settings import (
    ConfigError,
    YamlLimits,
    compose_yaml,
    load_yaml,
    load_yaml_file,
    read_yaml_mapping,
)
from tests.unit._packets import sctp_frame, write_pcap

runner = CliRunner()
HANG_GUARD_S = 20.0


def billion_laughs() -> str:
    """Nine levels of nine aliases: 9**9 (387 million) strings when expanded, 0.5 kB on disk."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def nested_any(depth: int = 3000) -> str:
    """A rule whose match is ``depth`` nested ``any`` conditions (flow style, one line)."""
    cond = '{"any": [' * depth + '{"field": "outcome", "eq": "network"}' + "]}" * depth
    return RULE_HEAD + f"match: {cond}\n"


RULE_HEAD = """\
id: hostile
title: A hostile rule
severity: low
category: network
scope: call
description: d
message: m
recommendation: r
"""

#: Contents that are hostile whatever the file is for (text, or bytes for the binary ones).
COMMON: dict[str, str | bytes] = {
    "python-tag": 'title: !!python/object/apply:os.system ["echo pwned"]\n',
    "binary": bytes(range(256)) * 8,
    "bad-utf8": b"title: caf\xe9 \xff\xfe\n",
    "broken-yaml": "a: [1, 2\nb: {c: \n",
    "billion-laughs": billion_laughs(),
    "deep-nesting": "a: " + "[" * 5000 + "]" * 5000 + "\n",
    "nested-any": nested_any(),
    "recursive-alias": "a: &a [1, *a]\n",
    "huge-integer": "x: " + "9" * 5000 + "\n",
    "empty": "",
    "list": "- a\n- b\n",
}

#: Wrong types and out-of-range values per kind of file.
WRONG: dict[str, dict[str, str]] = {
    "config": {
        "wrong-types": "pc_format: [itu]\npc_detect_messages: many\n",
        "out-of-range": "pc_format: itu\npc_detect_messages: 0\nlinks: [{match: '*', pc_format: martian}]\n",
    },
    "trunks": {
        "wrong-types": "trunks: 5\n",
        "out-of-range": "pc_format: itu\ntrunks:\n  - {name: T1, opc: 99999, dpc: 1, cic: '1-31'}\n",
    },
    "outcomes": {
        "wrong-types": "version: 1\nclasses: {a: 1}\n",
        "out-of-range": (
            "version: 1\ncause_details: {300: huge}\nclasses:\n  - {outcome: network, detail: x}\n"
        ),
    },
    "number-plan": {
        "wrong-types": "valid_prefixes: {a: 1}\n",
        "out-of-range": "valid_prefixes: 7\n",
    },
    "thresholds": {
        "wrong-types": "network_loss_rate: high\n",
        "out-of-range": "network_loss_rate: 5\nasr: -1\n",
    },
    "rules": {
        "wrong-types": RULE_HEAD + "match: [1, 2]\nsettings: {t1_ms: soon}\n",
        "out-of-range": RULE_HEAD + "settings: {t1_ms: -1}\nmatch: {field: outcome, eq: network}\n",
    },
    "scenario": {
        "wrong-types": "calls: many\ntraffic: [1]\n",
        "out-of-range": "trunks:\n  - {name: t, carrier: m3ua, pc_format: itu, opc: 99999, dpc: 1}\n",
    },
}


def _capture(folder: Path) -> Path:
    """A one-call capture (IAM, ACM, ANM, REL, RLC over M3UA) built with the codec."""
    from sigdiag.carrier.sigtran import build_m3ua_data
    from sigdiag.codec import encode_message

    iam = encode_message(
        "IAM",
        {
            "nature_of_connection_indicators": {},
            "forward_call_indicators": {"isup_all_the_way": 1},
            "calling_partys_category": {"category": 10},
            "transmission_medium_requirement": {"medium": 3},
            "called_party_number": {"nature_of_address": 3, "numbering_plan": 1, "digits": "0453114"},
        },
        cic=17,
    )
    msgs = [
        (iam, True),
        (encode_message("ACM", {"backward_call_indicators": {}}, cic=17), False),
        (encode_message("ANM", {}, cic=17), False),
        (encode_message("REL", {"cause_indicators": {"location": 2, "cause_value": 16}}, cic=17), True),
        (encode_message("RLC", {}, cic=17), False),
    ]
    frames = []
    for body, forward in msgs:
        opc, dpc = (100, 200) if forward else (200, 100)
        src, dst = ("10.0.0.1", "10.0.0.2") if forward else ("10.0.0.2", "10.0.0.1")
        frames.append(sctp_frame(src, dst, 2905, 2905, 3, build_m3ua_data(opc, dpc, 5, 2, 0, 1, body)))
    return write_pcap(folder / "call.pcap", 1, frames)


#: The commands that take each kind of file: (name, args given the file, the capture and a work folder).
Args = Callable[[Path, Path, Path], list[str]]
COMMANDS: dict[str, list[tuple[str, Args]]] = {
    "config": [
        ("decode", lambda f, c, w: ["decode", str(c), "--config", str(f)]),
        ("calls", lambda f, c, w: ["calls", str(c), "--config", str(f)]),
        ("stats", lambda f, c, w: ["stats", str(c), "--config", str(f)]),
        ("check", lambda f, c, w: ["check", str(c), "--config", str(f)]),
        ("audit", lambda f, c, w: ["audit", "run", str(c), "-o", str(w / "audit"), "--config", str(f)]),
    ],
    "trunks": [
        ("stats", lambda f, c, w: ["stats", str(c), "--trunks", str(f)]),
        ("check", lambda f, c, w: ["check", str(c), "--trunks", str(f)]),
        ("audit", lambda f, c, w: ["audit", "run", str(c), "-o", str(w / "audit"), "--trunks", str(f)]),
    ],
    "outcomes": [
        ("calls", lambda f, c, w: ["calls", str(c), "--outcomes", str(f)]),
        ("stats", lambda f, c, w: ["stats", str(c), "--outcomes", str(f)]),
        ("audit", lambda f, c, w: ["audit", "run", str(c), "-o", str(w / "audit"), "--outcomes", str(f)]),
    ],
    "number-plan": [
        ("calls", lambda f, c, w: ["calls", str(c), "--number-plan", str(f)]),
        ("stats", lambda f, c, w: ["stats", str(c), "--number-plan", str(f)]),
        ("check", lambda f, c, w: ["check", str(c), "--number-plan", str(f)]),
        (
            "audit",
            lambda f, c, w: ["audit", "run", str(c), "-o", str(w / "audit"), "--number-plan", str(f)],
        ),
    ],
    "thresholds": [
        (
            "audit",
            lambda f, c, w: ["audit", "run", str(c), "-o", str(w / "audit"), "--thresholds", str(f)],
        ),
    ],
    "rules": [
        ("check", lambda f, c, w: ["check", str(c), "--rules", str(f.parent)]),
        ("calls", lambda f, c, w: ["calls", str(c), "--rules", str(f.parent)]),
        ("stats", lambda f, c, w: ["stats", str(c), "--rules", str(f.parent)]),
        ("audit", lambda f, c, w: ["audit", "run", str(c), "-o", str(w / "audit"), "--rules", str(f.parent)]),
        ("rules-validate", lambda f, c, w: ["rules", "validate", str(f)]),
        ("rules-list", lambda f, c, w: ["rules", "list", "--rules", str(f.parent)]),
        ("rules-test", lambda f, c, w: ["rules", "test", "hostile", "--rules", str(f.parent)]),
    ],
    "scenario": [
        ("simulate", lambda f, c, w: ["simulate", str(w / "out.pcap"), "--scenario", str(f)]),
    ],
}

CASES = [
    (kind, name, content)
    for kind in COMMANDS
    for name, content in [*COMMON.items(), *WRONG[kind].items(), ("big-title", "<50 MB>")]
]


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _capture(tmp_path_factory.mktemp("capture"))


@pytest.fixture(scope="module")
def big_title(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rule-shaped file with a 50 MB title (written once)."""
    path = tmp_path_factory.mktemp("big") / "big.yaml"
    with path.open("w", encoding="utf-8") as f:
        f.write(RULE_HEAD.replace("title: A hostile rule", "title: "))
        f.write("x" * (50 * 1024 * 1024))
        f.write("\n")
    return path


def _write(folder: Path, kind: str, content: str | bytes, big: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ("hostile.yaml")
    if content == "<50 MB>":
        path.symlink_to(big)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize(("kind", "name", "content"), CASES, ids=[f"{k}-{n}" for k, n, _ in CASES])
def test_hostile_file_is_a_one_line_error_with_exit_2_in_every_command(
    tmp_path: Path, capture: Path, big_title: Path, kind: str, name: str, content: str | bytes
) -> None:
    path = _write(tmp_path / kind, kind, content, big_title)
    for command, make in COMMANDS[kind]:
        work = tmp_path / f"work-{command}"
        work.mkdir()
        args = make(path, capture, work)
        start = time.monotonic()
        result = runner.invoke(app, args)
        elapsed = time.monotonic() - start
        where = f"{command} with a {name} {kind} file"
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            where,
            repr(result.exception),
        )
        assert "Traceback" not in result.stdout + result.stderr, where
        assert result.exit_code == 2, (where, result.exit_code, result.stderr[-500:])
        errors = [ln for ln in result.stderr.splitlines() if ln.startswith("sigdiag: error:")]
        assert len(errors) == 1, (where, result.stderr[-1000:])
        named = (str(path), str(path.parent), str(path.resolve()))  # the 50 MB file is a symbolic link
        assert any(n in errors[0] for n in named), (where, errors[0])
        assert len(errors[0]) < 600, (where, errors[0][:600])
        assert elapsed < HANG_GUARD_S, (where, elapsed)


# -- the loader itself ---------------------------------------------------------------------------------
def test_billion_laughs_fails_fast_with_little_memory(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(billion_laughs(), encoding="utf-8")
    assert path.stat().st_size < 700
    tracemalloc.start()
    start = time.monotonic()
    with pytest.raises(ConfigError) as info:
        load_yaml_file(path)
    elapsed = time.monotonic() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert str(info.value).startswith(f"{path}:")
    assert "aliases expand to more than 100000 nodes" in str(info.value)
    assert elapsed < 2.0, elapsed  # measured: a few milliseconds
    assert peak < 20 * 1024 * 1024, peak


def test_aliases_within_the_limit_load_and_share_their_value() -> None:
    data = load_yaml("base: &b {x: 1}\nuse: [*b, *b]\n", "ok.yaml")
    assert data == {"base": {"x": 1}, "use": [{"x": 1}, {"x": 1}]}
    limits = YamlLimits(max_alias_nodes=4)
    with pytest.raises(ConfigError, match=r"^small\.yaml:2: aliases expand to more than 4 nodes"):
        load_yaml("base: &b {x: 1}\nuse: [*b, *b]\n", "small.yaml", limits)


def test_nesting_depth_is_counted_through_aliases() -> None:
    deep = "[" * 60 + "]" * 60
    text = f"a: &a {deep}\nb: " + "[" * 48 + "*a" + "]" * 48 + "\n"
    assert load_yaml(f"a: {deep}\n", "ok.yaml") is not None
    with pytest.raises(ConfigError, match=r"^deep\.yaml:2: alias \*a nests deeper than 100 levels"):
        load_yaml(text, "deep.yaml")
    with pytest.raises(ConfigError, match=r"^deep\.yaml:1: nested deeper than 100 levels"):
        load_yaml("a: " + "[" * 200 + "]" * 200, "deep.yaml")


def test_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("pc_format: itu\n" + "# padding\n" * 20, encoding="utf-8")
    assert read_yaml_mapping(path) == {"pc_format": "itu"}
    monkeypatch.setenv("SIGDIAG_YAML_MAX_BYTES", "50")
    with pytest.raises(ConfigError, match=r"larger than 50 bytes \(limit SIGDIAG_YAML_MAX_BYTES\)"):
        read_yaml_mapping(path)
    monkeypatch.setenv("SIGDIAG_YAML_MAX_BYTES", "lots")
    with pytest.raises(ConfigError, match="SIGDIAG_YAML_MAX_BYTES must be a whole number"):
        read_yaml_mapping(path)
    monkeypatch.delenv("SIGDIAG_YAML_MAX_BYTES")
    monkeypatch.setenv("SIGDIAG_YAML_MAX_DEPTH", "2")
    with pytest.raises(ConfigError, match="nested deeper than 2 levels"):
        compose_yaml("a: [[1]]\n", "x.yaml")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a: 1\nb: !!python/object/apply:os.system [ls]\n", 2, "is not allowed (plain YAML only"),
        ("a: 1\nb: !!python/name:os.system ''\n", 2, "is not allowed (plain YAML only"),
        ("a: 1\n\nb: " + "9" * 5000 + "\n", 3, "bad value"),
        ("a: 1\nb: 2026-13-45\n", 2, "bad value"),
        ("a: 1\nb: \x00\n", 2, "special characters are not allowed"),
        ("a: &a [1, *a]\n", 1, "refers to a node that contains it"),
        ("a: 1\nb: [\n", 3, "not valid YAML"),
    ],
)
def test_yaml_errors_name_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml(text, "f.yaml")
    err = str(info.value)
    assert err.startswith(f"f.yaml:{line}: ") and message in err and "\n" not in err, err


def test_read_yaml_mapping_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing but a comment\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"empty\.yaml:1: the file is empty"):
        read_yaml_mapping(empty)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"list\.yaml:1: expected a mapping of settings at the top level, not a list"
    ):
        read_yaml_mapping(listed)
    with pytest.raises(ConfigError, match=r"cannot read settings file: is a folder"):
        read_yaml_mapping(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"a: 1\nb: \xff\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:2: not a UTF-8 text file"):
        read_yaml_mapping(bad)
