"""Rule files: read, validate against the JSON Schema, compile.  Errors name the file, the line and what
is wrong (:class:`RuleError`).

One rule per YAML file (``*.yaml`` in a rules folder; ``outcomes.yaml``, the outcome classification
table of :mod:`sigdiag.calls.outcomes`, lives in the shipped folder too and is not a rule).  The shipped
rules are the repository's ``rules/`` folder, installed as the package data ``sigdiag.shipped_rules``;
``SIGDIAG_RULES`` (a folder) replaces them.  Users add folders with ``--rules DIR``; a rule id may appear
once only.  The shipped rules are strict (at least two tests, a file name equal to the id); a user's rule
is a quick rule that needs neither (:attr:`Rule.warnings` says what it lacks).  Files are read with the
bounded YAML loader of :mod:`sigdiag.settings`.

Setting names carry their ranges (``schema.json``, ``settings.patternProperties``): ``*_ms``/``*_s``
above 0, ``*_share``/``*_rate`` from 0 to 1, ``min_*``/``*_count``/``*_length`` whole numbers of at least
1, ``*_units`` whole numbers of 0 or more; defaults and overrides are both checked.

Settings: each rule has ``settings`` with defaults; ``--set RULE.SETTING=VALUE`` (or ``rules:`` in a
config file: ``{RULE: {SETTING: VALUE}}``) overrides them, typed as the default is.  Values written
``$name`` in ``match``, ``window`` and ``threshold`` refer to them.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from os import PathLike
from pathlib import Path
from typing import Any

from sigdiag.rules.language import (
    CALL_FACTS,
    EVENT_FACTS,
    CompiledCondition,
    ConditionError,
    compile_condition,
)
from sigdiag.settings import ConfigError

__all__ = [
    "SEVERITIES",
    "Rule",
    "RuleError",
    "RuleSet",
    "load_rule",
    "load_rules",
    "number_plan_settings",
    "parse_assignments",
    "setting_range",
    "shipped_rules_dir",
]

#: Severities, lowest first.
SEVERITIES = ("info", "low", "medium", "high", "critical")
#: Files in a rules folder that are not rules.
NOT_RULES = frozenset(("outcomes.yaml",))


class RuleError(ConfigError):
    """A rule file is wrong (the message starts with ``FILE:LINE:``) or a setting override is."""


def shipped_rules_dir() -> Path:
    """The folder of the shipped rules (``SIGDIAG_RULES`` overrides it)."""
    env = os.environ.get("SIGDIAG_RULES")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[3] / "rules"
    if (repo / "incomplete-digit-collection.yaml").is_file():
        return repo
    from importlib.util import find_spec

    spec = find_spec("sigdiag.shipped_rules")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return repo


@cache
def _schema() -> dict[str, Any]:
    text = Path(__file__).with_name("schema.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def _lenient_schema() -> dict[str, Any]:
    """The schema of a quick rule: ``tests`` may be missing or have one entry."""
    import copy

    schema = copy.deepcopy(_schema())
    schema["required"] = [k for k in schema["required"] if k != "tests"]
    schema["properties"]["tests"].pop("minItems", None)
    return schema


@cache
def _validator(strict: bool) -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(_schema() if strict else _lenient_schema())


@cache
def _setting_ranges() -> list[tuple[Any, dict[str, Any]]]:
    """(compiled name pattern, JSON Schema) of the setting naming convention (``settings`` in
    ``schema.json``, ``patternProperties``): ``*_ms``/``*_s`` durations above 0, ``*_share``/``*_rate``
    from 0 to 1, ``min_*`` and ``*_count``/``*_length`` counts of at least 1, ``*_units`` 0 or more."""
    import re

    props = _schema()["properties"]["settings"].get("patternProperties", {})
    return [(re.compile(pattern), sub) for pattern, sub in props.items()]


def setting_range(name: str) -> str | None:
    """The allowed values of the rule setting ``name`` by its name (``"a duration above 0 ..."``), or
    None when its name carries no range."""
    for pattern, sub in _setting_ranges():
        if pattern.search(name):
            return str(sub.get("description", ""))
    return None


def _check_setting_range(rule: str, name: str, value: Any) -> None:
    """A setting's value against the range its name gives (see :func:`setting_range`)."""
    import jsonschema

    for pattern, sub in _setting_ranges():
        if pattern.search(name) and not jsonschema.Draft202012Validator(sub).is_valid(value):
            raise RuleError(f"setting {rule}.{name} must be {sub.get('description')}, not {value!r}")


@cache
def _message_types() -> frozenset[str]:
    from sigdiag.codec.messages import ALL_ABBRS

    return frozenset(ALL_ABBRS.values())


@dataclass
class Rule:
    """A validated, compiled rule.  ``spec`` is the file's content; ``settings`` the effective settings."""

    id: str
    title: str
    severity: str
    category: str
    scope: str
    description: str
    references: list[str]
    message: str
    recommendation: str
    settings: dict[str, Any]
    defaults: dict[str, Any]
    match: CompiledCondition
    window_s: float | None = None
    group_by: str | None = None
    time_of: str = "release"
    count: int = 1
    share: float | None = None
    of: CompiledCondition | None = None
    min_population: int = 0
    outcome: tuple[str, str] | None = None
    tests: list[dict[str, Any]] = field(default_factory=list)
    source: str = ""
    spec: dict[str, Any] = field(default_factory=dict)
    #: What a quick rule (loaded without ``strict``) lacks: tests, a file name that matches the id.
    warnings: list[str] = field(default_factory=list)

    @property
    def level(self) -> int:
        return SEVERITIES.index(self.severity)

    @property
    def windowed(self) -> bool:
        return self.window_s is not None

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": self.severity,
            "category": self.category,
            "scope": self.scope,
            "title": self.title,
            "source": self.source,
        }


class _Yaml:
    """YAML loaded with the node of every mapping and list kept, for error lines."""

    def __init__(self, text: str, source: str) -> None:
        from sigdiag.settings import compose_yaml, yaml_loader_class

        self.source = source
        self.nodes: dict[int, Any] = {}
        # bounded: size, nesting depth and alias expansion (sigdiag.settings.YamlLimits)
        root = compose_yaml(text, source, error=RuleError)
        self.root_node = root
        self._constructor = yaml_loader_class()("")
        self.data = self._build(root) if root is not None else None

    def _build(self, node: Any) -> Any:
        import yaml

        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            self.nodes[id(out)] = node
            for k, v in node.value:
                key = self._scalar(k)
                if isinstance(key, list | dict):  # a YAML complex key ({[a, b]: 1}): unhashable
                    raise RuleError(f"{self.source}:{k.start_mark.line + 1}: a key must be a plain value")
                if key in out:
                    raise RuleError(f"{self.source}:{k.start_mark.line + 1}: duplicate key {key!r}")
                out[key] = self._build(v)
            return out
        if isinstance(node, yaml.SequenceNode):
            seq: list[Any] = []
            self.nodes[id(seq)] = node
            seq.extend(self._build(v) for v in node.value)
            return seq
        return self._scalar(node)

    def _scalar(self, node: Any) -> Any:
        import yaml

        try:
            return self._constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, RecursionError) as exc:
            raise RuleError(
                f"{self.source}:{node.start_mark.line + 1}: bad value: {getattr(exc, 'problem', None) or exc}"
            ) from None

    def node_of(self, obj: Any) -> Any:
        return self.nodes.get(id(obj))

    def line_of(self, obj: Any) -> int:
        node = self.node_of(obj)
        return node.start_mark.line + 1 if node is not None else 1

    def line_at(self, path: Iterable[Any]) -> int:
        """The line of the deepest container along a JSON path (jsonschema's ``absolute_path``)."""
        obj = self.data
        line = self.line_of(obj)
        node = self.node_of(obj)
        for step in path:
            if isinstance(obj, dict) and step in obj:
                # the key's own line is the most precise place
                for k, _v in node.value if node is not None else ():
                    if getattr(k, "value", None) == step:
                        line = k.start_mark.line + 1
                obj = obj[step]
            elif isinstance(obj, list) and isinstance(step, int) and step < len(obj):
                obj = obj[step]
            else:
                break
            node = self.node_of(obj)
            if node is not None:
                line = node.start_mark.line + 1
        return line


def _coerce_setting(rule: str, name: str, default: Any, value: Any) -> Any:
    """A setting override, typed as the default (strings from ``--set`` are parsed)."""
    where = f"setting {rule}.{name}"
    if isinstance(default, bool):
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        if isinstance(value, bool):
            return value
        raise RuleError(f"{where} must be true or false, not {value!r}")
    if isinstance(default, int | float):
        try:
            v = float(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            v = None
        if v is None or not math.isfinite(v):
            raise RuleError(f"{where} must be a number, not {value!r}")
        if isinstance(default, int) and v == int(v):
            return int(v)
        return v
    if isinstance(default, list):
        items = value if isinstance(value, list) else [s.strip() for s in str(value).split(",") if s.strip()]
        if default and all(isinstance(x, int) for x in default):
            try:
                return [int(x) for x in items]
            except (TypeError, ValueError):
                raise RuleError(f"{where} must be a list of integers, not {value!r}") from None
        return [str(x) for x in items]
    return str(value)


def number_plan_settings(path: str | PathLike[str]) -> dict[str, dict[str, Any]]:
    """The rule settings a number plan file gives (``valid_prefixes:``, a list of called-number
    prefixes that the network routes): ``{"unallocated-valid-prefix": {"valid_prefixes": [...]}}``, so
    that ``check``, ``calls``, ``stats`` and ``audit`` refine the same calls the same way.  Raises
    :class:`RuleError` naming the file."""
    from sigdiag.settings import read_yaml_mapping

    plan = read_yaml_mapping(path, "number plan settings", RuleError)
    prefixes = plan.get("valid_prefixes")
    if not isinstance(prefixes, list) or not all(isinstance(p, str | int) for p in prefixes):
        raise RuleError(f"{path}: expected 'valid_prefixes:' with a list of called-number prefixes")
    return {"unallocated-valid-prefix": {"valid_prefixes": [str(p) for p in prefixes]}}


def parse_assignments(assignments: Iterable[str] | None) -> dict[str, dict[str, Any]]:
    """``RULE.SETTING=VALUE`` strings (``--set``) as ``{rule: {setting: value}}`` (values still text)."""
    out: dict[str, dict[str, Any]] = {}
    for item in assignments or ():
        name, eq, value = item.partition("=")
        rule, dot, setting = name.strip().partition(".")
        if not eq or not dot or not rule or not setting:
            raise RuleError(f"--set expects RULE.SETTING=VALUE, not {item!r}")
        out.setdefault(rule, {})[setting] = value.strip()
    return out


def _non_text_key(value: Any, where: tuple[str, ...]) -> tuple[tuple[str, ...], Any] | None:
    """The first mapping key that is not text (YAML allows ``.inf:`` or ``1:``; a rule's schema names
    keys), with the path to it; None when every key is text."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                return where, k
            found = _non_text_key(v, (*where, k))
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _non_text_key(v, (*where, str(i)))
            if found is not None:
                return found
    return None


def load_rule(
    path: str | PathLike[str],
    overrides: Mapping[str, Any] | None = None,
    text: str | None = None,
    strict: bool = False,
    by_id: Mapping[str, Mapping[str, Any]] | None = None,
) -> Rule:
    """Read, validate and compile one rule file; ``overrides`` are setting values for this rule (or
    ``by_id``: the setting values of every rule, this rule's taken by its id).

    ``strict`` (the shipped rules, ``sigdiag rules validate --strict``): the rule needs at least two
    tests and a file name that matches its id.  Without it (a user's quick rule, ``check --rules``)
    neither is required and :attr:`Rule.warnings` says what is missing."""
    p = Path(path)
    source = str(p)
    if text is None:
        from sigdiag.settings import read_config_text

        text = read_config_text(p, "rule file", error=RuleError)
    y = _Yaml(text, source)
    data = y.data
    if not isinstance(data, dict):
        raise RuleError(f"{source}:1: a rule file must be a mapping (id, title, severity, ...)")
    _validate(y, data, strict)
    rid = data["id"]
    warnings = _rule_warnings(p, y, data, strict)
    if overrides is None and by_id is not None:
        overrides = by_id.get(rid)
    defaults = dict(data.get("settings") or {})
    c = _Compiling(y, _effective_settings(rid, defaults, overrides), data["scope"])
    rule = Rule(
        id=rid,
        title=data["title"],
        severity=data["severity"],
        category=data["category"],
        scope=data["scope"],
        description=data["description"],
        references=list(data.get("references") or []),
        message=data["message"],
        recommendation=data["recommendation"],
        settings=c.settings,
        defaults=defaults,
        match=c.compiled(data["match"], "match"),
        tests=list(data.get("tests") or []),
        source=source,
        spec=data,
        warnings=warnings,
    )
    if "window" in data:
        _window(rule, data, c)
    if "outcome" in data:
        if rule.scope != "call":
            raise RuleError(f"{source}:{y.line_at(['outcome'])}: only call rules may override the outcome")
        rule.outcome = (data["outcome"]["class"], data["outcome"]["detail"])
    return rule


def _validate(y: _Yaml, data: dict[str, Any], strict: bool) -> None:
    """A rule file's content against the schema (strict or lenient); :class:`RuleError` at the line of
    the deepest error."""
    source = y.source
    bad_key = _non_text_key(data, ())
    if bad_key is not None:
        key_path, key = bad_key
        raise RuleError(
            f"{source}: {'.'.join(key_path) or 'the top level'}: key {key!r} must be text (a name), not "
            f"{type(key).__name__}"
        )
    try:
        found = list(_validator(strict).iter_errors(data))
    except RecursionError:  # not with the YAML depth limit; kept as a guard
        raise RuleError(f"{source}:1: the rule nests too deeply") from None
    errors = sorted(found, key=lambda e: (len(e.absolute_path), str(e.message)))
    if not errors:
        return
    e = max(errors, key=lambda e: len(e.absolute_path))
    where = ".".join(str(s) for s in e.absolute_path) or "top level"
    at = list(e.absolute_path)
    if e.validator == "additionalProperties" and isinstance(e.instance, dict):
        # point at the first unexpected key, not at the start of its mapping
        allowed = e.schema.get("properties", {}) if isinstance(e.schema, dict) else {}
        at += [k for k in e.instance if k not in allowed][:1]
    message = e.message
    described = e.schema.get("description") if isinstance(e.schema, dict) else None
    if described and at[:1] == ["settings"]:
        message = f"must be {described}, not {e.instance!r}"
    raise RuleError(f"{source}:{y.line_at(at)}: {where}: {message}")


def _rule_warnings(p: Path, y: _Yaml, data: dict[str, Any], strict: bool) -> list[str]:
    """What a quick rule lacks (a strict rule must have it: :class:`RuleError`)."""
    rid = data["id"]
    warnings: list[str] = []
    if p.name.endswith(".yaml") and p.stem != rid:
        if strict:
            raise RuleError(
                f"{y.source}:{y.line_at(['id'])}: id {rid!r} must match the file name ({p.stem}.yaml)"
            )
        warnings.append(f"the file name does not match the id {rid!r}")
    if not strict and len(data.get("tests") or []) < 2:
        n = len(data.get("tests") or [])
        warnings.append(
            f"{'no tests' if n == 0 else 'one test'}: a quick rule, not checked by sigdiag rules test "
            "(sigdiag rules validate --strict requires two)"
        )
    return warnings


def _effective_settings(
    rid: str, defaults: dict[str, Any], overrides: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The rule's settings: its defaults with the overrides, typed as the defaults and range-checked."""
    settings = dict(defaults)
    for name, value in (overrides or {}).items():
        if name not in defaults:
            known = ", ".join(sorted(defaults)) or "none"
            raise RuleError(f"rule {rid} has no setting {name!r} (settings: {known})")
        settings[name] = _coerce_setting(rid, name, defaults[name], value)
        _check_setting_range(rid, name, settings[name])
    return settings


class _Compiling:
    """What compiling one rule's parts needs: its YAML (for error lines), settings and facts."""

    def __init__(self, y: _Yaml, settings: dict[str, Any], scope: str) -> None:
        self.y = y
        self.source = y.source
        self.settings = settings
        self.facts = EVENT_FACTS if scope == "circuit" else CALL_FACTS

    def compiled(self, spec: Any, key: str) -> CompiledCondition:
        try:
            return compile_condition(spec, self.settings, self.facts, _message_types(), self.y.node_of)
        except ConditionError as exc:
            node = exc.node
            line = node.start_mark.line + 1 if node is not None else self.y.line_at([key])
            raise RuleError(f"{self.source}:{line}: {key}: {exc}") from None

    def number(self, value: Any, key: str, integer: bool = False, low: float = 0, above: bool = False) -> Any:
        """A window or threshold value (or the setting ``$name`` it refers to): at least ``low``,
        above it when ``above``; a whole number when ``integer``."""
        named = ""
        line = self.y.line_at(key.split("."))
        if isinstance(value, str) and value.startswith("$"):
            if value[1:] not in self.settings:
                raise RuleError(f"{self.source}:{line}: {key}: {value!r} names no setting")
            named = f" (setting {value[1:]})"
            value = self.settings[value[1:]]
        ok = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
        ok = ok and (value > low if above else value >= low) and (not integer or value == int(value))
        if not ok:
            kind = "a whole number" if integer else "a number"
            bound = f"above {low:g}" if above else f"of at least {low:g}"
            raise RuleError(f"{self.source}:{line}: {key} must be {kind} {bound}, not {value!r}{named}")
        return int(value) if integer else float(value)

    def fail(self, where: list[str], text: str) -> RuleError:
        return RuleError(f"{self.source}:{self.y.line_at(where)}: {text}")


def _window(rule: Rule, data: dict[str, Any], c: _Compiling) -> None:
    """The ``window`` and ``threshold`` of a windowed rule, into ``rule``."""
    w, t = data["window"], data["threshold"]
    rule.window_s = c.number(w["seconds"], "window.seconds", above=True)
    rule.group_by = w["group_by"]
    rule.time_of = w.get("time", "release")
    rule.count = c.number(t["count"], "threshold.count", integer=True, low=1)
    if "share" in t:
        rule.share = c.number(t["share"], "threshold.share")
        if rule.share > 1:
            raise c.fail(
                ["threshold", "share"],
                f"threshold.share is a share of the population, at most 1 (0.05 is 5 %), not {rule.share:g}",
            )
        if w.get("time") == "release":
            raise c.fail(
                ["window", "time"],
                "window.time: a share counts its matches and its population by IAM time (time: start)",
            )
        rule.time_of = "start"  # shares are counted by IAM time (see sigdiag.rules.engine)
    else:
        for key in ("of", "min_population"):
            if key in t:
                raise c.fail(
                    ["threshold", key],
                    f"threshold.{key} needs threshold.share (the share of that population that must match)",
                )
    if "of" in t:
        rule.of = c.compiled(t["of"], "threshold.of")
    rule.min_population = c.number(t.get("min_population", 0), "threshold.min_population", integer=True)
    if rule.group_by in ("called", "calling") and rule.scope == "circuit":
        raise c.fail(["window"], f"circuit rules cannot group by {rule.group_by}")


class RuleSet:
    """Rules by id, in load order: call rules, windowed rules and circuit rules."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules: dict[str, Rule] = {}
        for r in rules:
            if r.id in self.rules:
                raise RuleError(
                    f"{r.source}: rule id {r.id!r} is already defined in {self.rules[r.id].source}"
                )
            self.rules[r.id] = r

    def __iter__(self) -> Any:
        return iter(self.rules.values())

    def __len__(self) -> int:
        return len(self.rules)

    def __getitem__(self, rid: str) -> Rule:
        return self.rules[rid]

    def select(self, ids: Iterable[str]) -> RuleSet:
        ids = list(ids)
        unknown = [i for i in ids if i not in self.rules]
        if unknown:
            raise RuleError(f"unknown rule id(s): {', '.join(unknown)}")
        return RuleSet(self.rules[i] for i in ids)


def rule_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise RuleError(f"{folder}: not a rules folder")
    return sorted(p for p in folder.glob("*.yaml") if p.name not in NOT_RULES)


def load_rules(
    folders: Iterable[str | PathLike[str]] = (),
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    shipped: bool = True,
    strict: bool = False,
) -> RuleSet:
    """The shipped rules (unless ``shipped`` is false) and the rules of ``folders``, validated and
    compiled with the setting overrides ``{rule: {setting: value}}``.

    The shipped rules are always loaded strictly (tests, file names that match the ids); the rules of
    ``folders`` only with ``strict``: else they are quick rules (see :func:`load_rule`).  A rule id
    may appear once only, whatever its file is called."""
    paths: list[tuple[Path, bool]] = []
    if shipped:
        paths.extend((p, True) for p in rule_files(shipped_rules_dir()))
    for f in folders:
        paths.extend((p, strict) for p in rule_files(Path(f)))
    overrides = dict(settings or {})
    rules = []
    seen: dict[str, str] = {}
    for p, strict_here in paths:
        r = load_rule(p, strict=strict_here, by_id=overrides)
        if r.id in seen:
            raise RuleError(f"{r.source}: rule id {r.id!r} is already defined in {seen[r.id]}")
        seen[r.id] = r.source
        rules.append(r)
    unknown = sorted(set(overrides) - set(seen))
    if unknown:
        raise RuleError(f"settings given for unknown rule(s): {', '.join(unknown)}")
    return RuleSet(_follow_settings(rules, paths, overrides))


def _follow_settings(
    rules: list[Rule], paths: list[tuple[Path, bool]], overrides: dict[str, Any]
) -> list[Rule]:
    """Rules with ``settings_from: OTHER`` take OTHER's effective value of every setting both have (one
    timer for two rules: a ``--set`` on OTHER moves both), unless the rule's own setting is set; loaded
    again with those values, so that they are checked and compiled as any setting."""
    by_id = {r.id: r for r in rules}
    out = []
    for r, (path, strict_here) in zip(rules, paths, strict=True):
        source = r.spec.get("settings_from")
        if source is None:
            out.append(r)
            continue
        other = by_id.get(source)
        if other is None or other is r or other.spec.get("settings_from") is not None:
            raise RuleError(
                f"{r.source}: settings_from {source!r} must name another loaded rule that has no "
                "settings_from"
            )
        own = dict(overrides.get(r.id) or {})
        taken = {k: v for k, v in other.settings.items() if k in r.settings and k not in own}
        if all(r.settings[k] == v for k, v in taken.items()):
            out.append(r)
            continue
        out.append(load_rule(path, strict=strict_here, by_id={**overrides, r.id: {**taken, **own}}))
    return out
