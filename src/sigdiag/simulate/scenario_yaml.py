"""Reading a scenario file: YAML with line numbers, and typed access whose errors name the line.

:func:`_yaml_load` reads YAML (bounded and safe, :mod:`sigdiag.settings`) into mappings and lists that
remember the line of each key and item; :class:`_Section` reads one mapping with typed getters and
reports, as a :class:`~sigdiag.simulate.scenario.ScenarioError` ``"<file>:<line>: <where>: <problem>"``,
the first wrong or unknown key; :func:`_parse_dist` reads a duration (:class:`Dist`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from sigdiag.simulate.dist import Dist
from sigdiag.simulate.scenario import ScenarioError


class _LMap(dict[Any, Any]):
    """A mapping from the YAML file that remembers the line of itself and of each key."""

    line: int
    lines: dict[Any, int]


class _LList(list[Any]):
    """A sequence from the YAML file that remembers the line of itself and of each item."""

    line: int
    lines: list[int]


def _yaml_load(text: str, source: str) -> Any:
    import yaml

    from sigdiag.settings import ConfigError, load_yaml, yaml_loader_class

    # bounded (size, nesting depth, alias expansion: sigdiag.settings.YamlLimits), safe tags only
    class Loader(yaml_loader_class()):  # type: ignore[misc]
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> _LMap:
        loader.flatten_mapping(node)
        out = _LMap()
        out.line = node.start_mark.line + 1
        out.lines = {}
        for knode, vnode in node.value:
            key = loader.construct_object(knode, deep=True)
            line = knode.start_mark.line + 1
            try:
                hash(key)
            except TypeError:
                raise ScenarioError(f"{source}:{line}: a mapping key must be a plain value") from None
            if key in out:
                raise ScenarioError(
                    f"{source}:{line}: duplicate key {key!r} (first on line {out.lines[key]})"
                )
            out[key] = loader.construct_object(vnode, deep=True)
            out.lines[key] = line
        return out

    def sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> _LList:
        out = _LList()
        out.line = node.start_mark.line + 1
        out.lines = []
        for item in node.value:
            out.append(loader.construct_object(item, deep=True))
            out.lines.append(item.start_mark.line + 1)
        return out

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, sequence)
    try:
        return load_yaml(text, source, loader=Loader)
    except ConfigError as exc:
        raise ScenarioError(str(exc)) from None


class _Ctx:
    """Where we are in the file, for error messages."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, line: int, where: str, problem: str) -> ScenarioError:
        loc = f"{self.source}:{line}" if line else self.source
        return ScenarioError(f"{loc}: {where}: {problem}" if where else f"{loc}: {problem}")


def _line_of(container: Any, key: Any, default: int = 0) -> int:
    if isinstance(container, _LMap):
        return container.lines.get(key, container.line)
    if isinstance(container, _LList) and isinstance(key, int) and 0 <= key < len(container.lines):
        return container.lines[key]
    return default


class _Section:
    """Typed access to one mapping of the file; every key must be consumed or it is reported."""

    def __init__(self, ctx: _Ctx, data: Any, where: str, line: int) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ctx.fail(line, where, f"expected a mapping, got {_kind(data)}")
        self.ctx = ctx
        self.data: dict[Any, Any] = data
        self.where = where
        self.line = getattr(data, "line", line)
        self.used: set[Any] = set()

    def key_line(self, key: str) -> int:
        return _line_of(self.data, key, self.line)

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, problem: str) -> ScenarioError:
        return self.ctx.fail(self.key_line(key), self.path(key), problem)

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = None) -> Any:
        self.used.add(key)
        return self.data.get(key, default)

    def number(self, key: str, default: float, lo: float = -math.inf, hi: float = math.inf) -> float:
        v = self.raw(key, None)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.fail(key, f"expected a number, got {_kind(v)}")
        if not lo <= v <= hi:
            raise self.fail(key, f"{v} is out of range [{lo}, {hi}]")
        return float(v)

    def integer(self, key: str, default: int, lo: int = -(1 << 62), hi: int = 1 << 62) -> int:
        v = self.raw(key, None)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(key, f"expected an integer, got {_kind(v)}")
        if not lo <= v <= hi:
            raise self.fail(key, f"{v} is out of range [{lo}, {hi}]")
        return v

    def opt_integer(self, key: str, lo: int = 0, hi: int = 1 << 62) -> int | None:
        if self.data.get(key) is None:
            self.used.add(key)
            return None
        return self.integer(key, 0, lo, hi)

    def share(self, key: str, default: float) -> float:
        return self.number(key, default, 0.0, 1.0)

    def boolean(self, key: str, default: bool) -> bool:
        v = self.raw(key, None)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise self.fail(key, f"expected true or false, got {_kind(v)}")
        return v

    def text(self, key: str, default: str, choices: Sequence[str] | None = None) -> str:
        v = self.raw(key, None)
        if v is None:
            return default
        if not isinstance(v, str | int) or isinstance(v, bool):
            raise self.fail(key, f"expected text, got {_kind(v)}")
        v = str(v)
        if choices is not None and v not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, not {v!r}")
        return v

    def int_range(
        self, key: str, default: tuple[int, int], lo: int = 0, hi: int = 1 << 30
    ) -> tuple[int, int]:
        """An integer or ``[min, max]``."""
        v = self.raw(key, None)
        if v is None:
            return default
        if isinstance(v, int) and not isinstance(v, bool):
            a = b = v
        elif (
            isinstance(v, list)
            and len(v) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
        ):
            a, b = v
        else:
            raise self.fail(key, f"expected an integer or [min, max], got {_kind(v)}")
        if not lo <= a <= b <= hi:
            raise self.fail(key, f"[{a}, {b}] must satisfy {lo} <= min <= max <= {hi}")
        return a, b

    def dist(self, key: str, default: Dist, positive: bool = True) -> Dist:
        if key not in self.data:
            return default
        return _parse_dist(self.ctx, self.raw(key), self.path(key), self.key_line(key), positive)

    def section(self, key: str) -> _Section:
        return _Section(self.ctx, self.raw(key), self.path(key), self.key_line(key))

    def finish(self, extra_known: Sequence[str] = ()) -> None:
        unknown = [k for k in self.data if k not in self.used and k not in extra_known]
        if unknown:
            k = unknown[0]
            known = sorted({str(x) for x in self.used} | set(extra_known))
            raise self.ctx.fail(
                _line_of(self.data, k, self.line),
                self.path(str(k)),
                f"unknown key; known keys here: {', '.join(known)}",
            )


def _kind(v: Any) -> str:
    if v is None:
        return "nothing"
    if isinstance(v, bool):
        return f"a boolean ({v})"
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, str):
        return f"text {v!r}"
    return f"{type(v).__name__} {v!r}"


def _parse_dist(ctx: _Ctx, v: Any, where: str, line: int, positive: bool) -> Dist:
    def num(x: Any, what: str) -> float:
        if isinstance(x, bool) or not isinstance(x, int | float):
            raise ctx.fail(line, where, f"{what}: expected a number, got {_kind(x)}")
        if x < 0 or (positive and what in ("median", "mean") and x <= 0):
            raise ctx.fail(line, where, f"{what} must be positive, got {x}")
        return float(x)

    if isinstance(v, int | float) and not isinstance(v, bool):
        return Dist.fixed(num(v, "value"))
    if isinstance(v, list):
        if len(v) != 2:
            raise ctx.fail(line, where, "a uniform range is [min, max]")
        a, b = num(v[0], "min"), num(v[1], "max")
        if a > b:
            raise ctx.fail(line, where, f"min {a} is greater than max {b}")
        return Dist.uniform(a, b)
    if isinstance(v, dict):
        return _parse_dist_mapping(ctx, v, where, line)
    raise ctx.fail(line, where, f"expected a number, [min, max] or a distribution mapping, got {_kind(v)}")


def _parse_dist_mapping(ctx: _Ctx, v: dict[Any, Any], where: str, line: int) -> Dist:
    """A distribution given as a mapping ``{dist: ..., median|mean|value, sigma, min, max}``."""
    s = _Section(ctx, v, where, line)
    kind = s.text("dist", "lognormal", ("fixed", "uniform", "lognormal", "exponential"))
    lo = s.number("min", 0.0, 0.0)
    hi = s.number("max", math.inf, 0.0)
    if lo > hi:
        raise s.fail("min", f"min {lo} is greater than max {hi}")
    if kind == "fixed":
        value = s.number("value", -1.0, 0.0)
        if value < 0:
            raise ctx.fail(line, where, "a fixed distribution needs 'value'")
        s.finish()
        return Dist.fixed(value)
    if kind == "uniform":
        if not (s.has("min") and s.has("max")):
            raise ctx.fail(line, where, "a uniform distribution needs 'min' and 'max'")
        s.finish()
        return Dist.uniform(lo, hi)
    if kind == "lognormal":
        median = s.number("median", 0.0, 0.0)
        if median <= 0:
            raise ctx.fail(line, where, "a lognormal distribution needs a positive 'median'")
        sigma = s.number("sigma", 0.5, 0.0, 5.0)
        s.finish()
        return Dist("lognormal", median, sigma, lo, hi)
    mean = s.number("mean", 0.0, 0.0)
    if mean <= 0:
        raise ctx.fail(line, where, "an exponential distribution needs a positive 'mean'")
    s.finish()
    return Dist("exponential", mean, 0.0, lo, hi)


def _enum_or_int(s: _Section, key: str, default: int, names: Mapping[str, int], hi: int) -> int:
    v = s.raw(key, None)
    if v is None:
        return default
    if isinstance(v, str) and v in names:
        return names[v]
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= hi:
        return v
    raise s.fail(key, f"expected one of {', '.join(names)} or an integer 0-{hi}, got {_kind(v)}")
