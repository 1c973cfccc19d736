"""Decoding settings: point-code format, MTP2 FCS handling, M3UA layout, per-link overrides.

Settings come from keyword arguments of :func:`sigdiag.read_messages`, from CLI options, or from a
YAML config file (``--config``)::

    pc_format: auto           # auto | itu | ansi | china | japan  (default for every link)
    pc_display: decimal       # decimal | structured  (3-8-3 for ITU, 8-8-8 for ANSI/China)
    mtp2_fcs: auto            # auto | yes | no
    m3ua_version: auto        # auto | rfc | draft6
    pc_detect_messages: 64    # auto: messages of a link looked at before its format is decided
    low_confidence_share: 0.05  # a link whose share of anomalous messages is above this is flagged
    links:                    # per-link overrides, matched on Payload.link (glob patterns allowed)
      - match: "m3ua:10.0.0.1:2905-*"
        pc_format: china
      - match: "mtp2:if1"
        pc_format: ansi
        variant: ansi

``pc_format: auto`` (the default) decides each link's point-code format from its traffic
(:mod:`sigdiag.carrier.pcdetect`); an explicit format, global or per link, always wins.

This module also holds the one bounded YAML loader of every file sigdiag reads (this config file, rules,
trunk maps, number plans, outcome tables, alert thresholds, simulator scenarios): :func:`load_yaml`,
:func:`compose_yaml` and :func:`read_yaml_mapping`, safe tags only, with the limits of
:class:`YamlLimits` (file size, nesting depth, alias expansion; ``SIGDIAG_YAML_MAX_*``).  Every problem
is one :class:`ConfigError` line naming the file and the line.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path
from typing import Any

__all__ = [
    "PC_FORMATS",
    "PC_FORMAT_SETTINGS",
    "ConfigError",
    "DecodeSettings",
    "LinkOverride",
    "YamlLimits",
    "check_keys",
    "compose_yaml",
    "construct_yaml",
    "load_settings",
    "load_yaml",
    "load_yaml_file",
    "read_config_text",
    "read_yaml_mapping",
    "variant_for",
    "yaml_loader_class",
]

#: The point-code formats of an MTP3 routing label.
PC_FORMATS = ("itu", "ansi", "china", "japan")
#: What the ``pc_format`` setting accepts: a format, or ``auto`` (decided per link from the traffic).
PC_FORMAT_SETTINGS = ("auto", *PC_FORMATS)
VARIANTS = ("itu", "ansi")


class ConfigError(ValueError):
    """A settings value or config file is wrong; the message names the file and what is wrong."""


@dataclass(frozen=True, slots=True)
class LinkOverride:
    match: str
    pc_format: str | None = None
    variant: str | None = None


@dataclass(frozen=True, slots=True)
class DecodeSettings:
    pc_format: str = "auto"  # auto: decided per link from the traffic
    variant: str | None = None  # None: ITU unless the point-code format is ANSI
    pc_display: str = "decimal"
    mtp2_fcs: str = "auto"
    m3ua_version: str = "auto"
    links: tuple[LinkOverride, ...] = field(default_factory=tuple)
    #: ``auto``: MTP3 messages of a link buffered before its format is decided (earlier at end of file).
    pc_detect_messages: int = 64
    #: A link is low confidence when more than this share of its messages is anomalous.
    low_confidence_share: float = 0.05

    def __post_init__(self) -> None:
        _check("pc_format", self.pc_format, PC_FORMAT_SETTINGS)
        if (
            isinstance(self.pc_detect_messages, bool)
            or not isinstance(self.pc_detect_messages, int)
            or not 1 <= self.pc_detect_messages <= 100_000
        ):
            raise ConfigError(
                f"pc_detect_messages must be a whole number from 1 to 100000, not {self.pc_detect_messages!r}"
            )
        share = self.low_confidence_share
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise ConfigError(f"low_confidence_share must be a number from 0 to 1, not {share!r}")
        if self.variant is not None:
            _check("variant", self.variant, VARIANTS)
        _check("pc_display", self.pc_display, ("decimal", "structured"))
        _check("mtp2_fcs", self.mtp2_fcs, ("auto", "yes", "no"))
        _check("m3ua_version", self.m3ua_version, ("auto", "rfc", "draft6"))
        for link in self.links:
            if link.pc_format is not None:
                _check("links.pc_format", link.pc_format, PC_FORMAT_SETTINGS)
            if link.variant is not None:
                _check("links.variant", link.variant, VARIANTS)

    def link_setting(self, link: str) -> tuple[str, str | None]:
        """The (``pc_format`` setting, ``variant`` setting) of ``link``: the first matching override
        over the global values; the variant is None when not set."""
        pc_format, variant = self.pc_format, self.variant
        for override in self.links:
            if fnmatch.fnmatchcase(link, override.match):
                pc_format = override.pc_format or pc_format
                variant = override.variant or variant
                break
        return pc_format, variant

    def for_link(self, link: str) -> tuple[str, str]:
        """The (point-code format, ISUP variant) to use on ``link``.

        The format is ``"auto"`` when the link's format is to be decided from the traffic; the variant
        is then the variant setting, else ITU (the detector picks the variant that goes with the format
        it decides, :func:`variant_for`)."""
        pc_format, variant = self.link_setting(link)
        return pc_format, variant_for(pc_format, variant)

    def with_options(self, **options: Any) -> DecodeSettings:
        """A copy with the given non-None options applied."""
        given = {k: v for k, v in options.items() if v is not None}
        try:
            return replace(self, **given)
        except TypeError as exc:
            raise ConfigError(f"unknown setting: {exc}") from None


def variant_for(pc_format: str, variant: str | None) -> str:
    """The ISUP variant of a link: the setting, else ANSI with ANSI point codes, else ITU."""
    if variant is not None:
        return variant
    return "ansi" if pc_format == "ansi" else "itu"


def _check(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")


def check_keys(
    data: Any,
    allowed: tuple[str, ...],
    where: str,
    what: str = "keys",
    error: type[ConfigError] = ConfigError,
) -> None:
    """Refuse keys of the mapping ``data`` that are not in ``allowed``: one ``error`` line
    ``WHERE: unknown WHAT ['k', ...]; expected A, B`` (the expected keys in the order given)."""
    unknown = set(data) - set(allowed)
    if unknown:
        raise error(f"{where}: unknown {what} {sorted(unknown, key=str)}; expected {', '.join(allowed)}")


#: The environment variables that change the limits of :class:`YamlLimits` (whole numbers).
YAML_LIMIT_VARIABLES = {
    "max_bytes": "SIGDIAG_YAML_MAX_BYTES",
    "max_depth": "SIGDIAG_YAML_MAX_DEPTH",
    "max_alias_nodes": "SIGDIAG_YAML_MAX_ALIAS_NODES",
}


@dataclass(frozen=True, slots=True)
class YamlLimits:
    """Bounds on every YAML file sigdiag reads (rules, trunk maps, number plans, config, outcomes,
    thresholds, scenarios), so that a hostile or broken file is a clear error and not a hang, a
    memory blow-up or a ``RecursionError``.

    * ``max_bytes``: the file's size (10 MB by default);
    * ``max_depth``: how deeply mappings and lists may nest, counting what aliases bring in (100);
    * ``max_alias_nodes``: the nodes that aliases (``*name``) may add in all, each alias counting the
      whole of what it stands for (100,000): a "billion laughs" file stops at once.

    The defaults can be changed with the environment variables of :data:`YAML_LIMIT_VARIABLES`
    (:meth:`from_env`)."""

    max_bytes: int = 10 * 1024 * 1024
    max_depth: int = 100
    max_alias_nodes: int = 100_000

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_depth", "max_alias_nodes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"YAML limit {name} must be a whole number of at least 1, not {value!r}")

    @classmethod
    def from_env(cls) -> YamlLimits:
        """The defaults, with the ``SIGDIAG_YAML_MAX_*`` environment variables applied."""
        import os

        given: dict[str, int] = {}
        for name, var in YAML_LIMIT_VARIABLES.items():
            text = os.environ.get(var)
            if text is None or not text.strip():
                continue
            try:
                given[name] = int(text.strip())
            except ValueError:
                raise ConfigError(f"{var} must be a whole number, not {text!r}") from None
            if given[name] < 1:
                raise ConfigError(f"{var} must be at least 1, not {text!r}")
        return cls(**given)


class _YamlLimitError(Exception):
    """A YAML file goes past one of :class:`YamlLimits` (raised inside the loader)."""

    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.problem = message
        self.problem_mark = mark


_LOADERS: dict[str, Any] = {}


def yaml_loader_class() -> Any:
    """The bounded safe YAML loader (a :class:`yaml.SafeLoader`): only the standard YAML tags (no Python
    objects), nesting at most ``max_depth`` deep and aliases expanding to at most ``max_alias_nodes``
    nodes, counted while the file is composed (before anything is built).  Subclass it to add
    constructors; its ``limits`` attribute is set per load by :func:`load_yaml`.  (Its checks are the
    functions below: :func:`_compose_bounded`, :func:`_construct_checked`.)"""
    cls = _LOADERS.get("bounded")
    if cls is not None:
        return cls
    import yaml

    class BoundedSafeLoader(yaml.SafeLoader):
        limits: YamlLimits = YamlLimits()

        def __init__(self, stream: Any) -> None:
            super().__init__(stream)
            self._depth = 0
            self._expanded = 0
            self._open: set[str] = set()
            self._measured: dict[int, tuple[int, int]] = {}

        def compose_node(self, parent: Any, index: Any) -> Any:
            return _compose_bounded(self, super().compose_node, parent, index)

        def construct_object(self, node: Any, deep: bool = False) -> Any:
            return _construct_checked(super().construct_object, node, deep)

    _LOADERS["bounded"] = BoundedSafeLoader
    return BoundedSafeLoader


def _measure(loader: Any, root: Any) -> tuple[int, int]:
    """(nodes, depth) of ``root`` with everything its aliases stand for; iterative, memoised on the
    loader."""
    import yaml

    memo = loader._measured
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in memo:
            continue
        if isinstance(node, yaml.ScalarNode):
            memo[id(node)] = (1, 1)
            continue
        if isinstance(node, yaml.MappingNode):
            children = [c for pair in node.value for c in pair]
        else:
            children = list(node.value)
        if done:
            size, depth = 1, 1
            for c in children:
                cs, cd = memo.get(id(c), (1, 1))
                size += cs
                depth = max(depth, cd + 1)
            memo[id(node)] = (size, depth)
        else:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in memo)
    result: tuple[int, int] = memo[id(root)]
    return result


def _check_alias(loader: Any, event: Any) -> None:
    """An alias about to be composed: not a loop, and what it stands for within the limits."""
    limits = loader.limits
    if event.anchor in loader._open:
        raise _YamlLimitError(
            f"alias *{event.anchor} refers to a node that contains it (a loop)", event.start_mark
        )
    target = loader.anchors.get(event.anchor)
    if target is None:
        return  # an undefined alias: the composer says so
    size, depth = _measure(loader, target)
    loader._expanded += size
    if loader._expanded > limits.max_alias_nodes:
        raise _YamlLimitError(
            f"aliases expand to more than {limits.max_alias_nodes} nodes "
            f"(limit {YAML_LIMIT_VARIABLES['max_alias_nodes']})",
            event.start_mark,
        )
    if loader._depth + depth > limits.max_depth:
        raise _YamlLimitError(
            f"alias *{event.anchor} nests deeper than {limits.max_depth} levels "
            f"(limit {YAML_LIMIT_VARIABLES['max_depth']})",
            event.start_mark,
        )


def _compose_bounded(loader: Any, compose: Any, parent: Any, index: Any) -> Any:
    """The bounded loader's ``compose_node``: ``compose`` (yaml's) within the depth and alias limits,
    standard tags only."""
    import yaml

    if loader.check_event(yaml.AliasEvent):
        _check_alias(loader, loader.peek_event())
        return compose(parent, index)
    limits = loader.limits
    event = loader.peek_event()
    loader._depth += 1
    if loader._depth > limits.max_depth:
        raise _YamlLimitError(
            f"nested deeper than {limits.max_depth} levels (limit {YAML_LIMIT_VARIABLES['max_depth']})",
            event.start_mark,
        )
    # the anchor of a mapping or list being composed: an alias to it inside it is a loop
    anchor: str | None = None
    if not isinstance(event, yaml.ScalarEvent):
        anchor = getattr(event, "anchor", None)
    if anchor is not None:
        loader._open.add(anchor)
    try:
        node = compose(parent, index)
    finally:
        loader._depth -= 1
        if anchor is not None:
            loader._open.discard(anchor)
    if node is not None and node.tag not in loader.yaml_constructors:  # !!python/object, !foo
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise _YamlLimitError(
            f"tag {tag} is not allowed (plain YAML only: no Python objects or other local tags)",
            node.start_mark,
        )
    return node


def _construct_checked(construct: Any, node: Any, deep: bool) -> Any:
    """The bounded loader's ``construct_object``: a value Python cannot build (``int("1" * 5000)``, the
    date 2026-13-45, an empty ``!!float``...) is a YAML error at the node's line."""
    import yaml

    try:
        return construct(node, deep=deep)
    except (ValueError, TypeError, OverflowError, IndexError) as exc:
        if type(exc).__module__ != "builtins":  # a subclass's constructor said what is wrong
            raise
        problem = str(exc)
        if isinstance(exc, IndexError):
            problem = "an empty value where the tag asks for a number"
        if "integer string conversion" in problem:
            problem = "an integer of more than 4300 digits"
        raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from None


def read_config_text(
    path: str | PathLike[str],
    what: str = "file",
    limits: YamlLimits | None = None,
    error: type[ConfigError] = ConfigError,
) -> str:
    """The UTF-8 text of a configuration file, at most ``limits.max_bytes`` long; ``error`` (a
    :class:`ConfigError`) naming the file otherwise."""
    limits = limits or YamlLimits.from_env()
    p = Path(path)
    try:
        with p.open("rb") as f:
            import os
            import stat

            st = os.fstat(f.fileno())
            size = st.st_size if stat.S_ISREG(st.st_mode) else limits.max_bytes
            raw = f.read(min(size, limits.max_bytes) + 1)  # a FIFO or a growing file: at most the limit
            if len(raw) <= limits.max_bytes and len(raw) == size + 1:
                raw += f.read(limits.max_bytes + 1 - len(raw))  # it grew while we read
    except IsADirectoryError:
        raise error(f"{p}: cannot read {what}: is a folder") from None
    except OSError as exc:
        raise error(f"{p}: cannot read {what}: {exc.strerror or exc}") from None
    if len(raw) > limits.max_bytes:
        raise error(
            f"{p}: {what} larger than {limits.max_bytes} bytes (limit {YAML_LIMIT_VARIABLES['max_bytes']})"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise error(f"{p}:{line}: not a UTF-8 text file (byte {exc.start})") from None


def _yaml_error(exc: BaseException, text: str, source: str, error: type[ConfigError]) -> ConfigError:
    """A one-line error for a YAML problem: the file, the line and what is wrong."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line: int | None = mark.line + 1 if mark is not None else None
    position = getattr(exc, "position", None)  # yaml.reader.ReaderError: a character offset
    if line is None and isinstance(position, int):
        line = text.count("\n", 0, position) + 1
    where = f":{line}" if line is not None else ""
    if isinstance(exc, _YamlLimitError):
        return error(f"{source}{where}: {exc.problem}")
    problem = getattr(exc, "problem", None) or str(exc)
    import yaml

    kind = "bad value" if isinstance(exc, yaml.constructor.ConstructorError) else "not valid YAML"
    character = getattr(exc, "character", None)
    if isinstance(character, int) and getattr(exc, "reason", None):  # yaml.reader.ReaderError
        problem = f"unacceptable character #x{character:04x}: {exc.reason}"  # type: ignore[attr-defined]
    problem = " ".join(str(problem).split())
    if len(problem) > 200:
        problem = problem[:200] + "..."
    return error(f"{source}{where}: {kind}: {problem}")


def _bounded(text: str, source: str, limits: YamlLimits | None, error: type[ConfigError], loader: Any) -> Any:
    """A bounded loader over ``text`` (its reader checks the characters at once)."""
    import yaml

    limits = limits or YamlLimits.from_env()
    if len(text) > limits.max_bytes:
        raise error(
            f"{source}: larger than {limits.max_bytes} bytes (limit {YAML_LIMIT_VARIABLES['max_bytes']})"
        )
    base = yaml_loader_class()
    cls = loader or base
    if not issubclass(cls, base):
        raise TypeError("the loader must subclass sigdiag.settings.yaml_loader_class()")
    try:
        instance = cls(text)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, source, error) from None
    instance.limits = limits
    return instance


def _read_document(loader: Any, read: Any, text: str, source: str, error: type[ConfigError]) -> Any:
    """``read()``, one document of the bounded ``loader`` (its node tree, its value...), then the loader
    disposed of; every problem one ``error`` naming ``source`` and the line."""
    import yaml

    try:
        return read()
    except (yaml.YAMLError, _YamlLimitError, RecursionError) as exc:
        raise _yaml_error(exc, text, source, error) from None
    finally:
        loader.dispose()


def compose_yaml(
    text: str,
    source: str,
    limits: YamlLimits | None = None,
    error: type[ConfigError] = ConfigError,
) -> Any:
    """The node tree of one YAML document (None when empty), composed with the limits of
    :class:`YamlLimits`; ``error`` naming ``source`` and the line otherwise.  Use
    :func:`construct_yaml` to build values from its nodes."""
    loader = _bounded(text, source, limits, error, None)
    return _read_document(loader, loader.get_single_node, text, source, error)


def construct_yaml(node: Any, source: str, error: type[ConfigError] = ConfigError) -> Any:
    """The value of a node of :func:`compose_yaml` (safe tags only); ``error`` naming the line."""
    loader = yaml_loader_class()("")
    return _read_document(loader, lambda: loader.construct_document(node), "", source, error)


def load_yaml(
    text: str,
    source: str,
    limits: YamlLimits | None = None,
    error: type[ConfigError] = ConfigError,
    loader: Any = None,
) -> Any:
    """The value of one YAML document (None when empty) read with the limits of :class:`YamlLimits`
    and safe tags only; ``loader`` may be a subclass of :func:`yaml_loader_class` with more
    constructors.  Every problem is one ``error`` naming ``source`` and the line."""
    instance = _bounded(text, source, limits, error, loader)
    return _read_document(instance, instance.get_single_data, text, source, error)


def load_yaml_file(
    path: str | PathLike[str],
    what: str = "file",
    limits: YamlLimits | None = None,
    error: type[ConfigError] = ConfigError,
    loader: Any = None,
) -> Any:
    """:func:`read_config_text` then :func:`load_yaml`."""
    limits = limits or YamlLimits.from_env()
    text = read_config_text(path, what, limits, error)
    return load_yaml(text, str(path), limits, error, loader)


def read_yaml_mapping(
    path: str | PathLike[str], what: str = "settings", error: type[ConfigError] = ConfigError
) -> dict[str, Any]:
    """The top-level mapping of a YAML settings file, read with the limits of :class:`YamlLimits`;
    ``error`` (a :class:`ConfigError`) naming the file and line otherwise.  An empty file is an error:
    a settings file says something."""
    data = load_yaml_file(path, f"{what} file", error=error)
    if data is None:
        raise error(f"{path}:1: the file is empty; expected a mapping of {what}")
    if not isinstance(data, dict):
        raise error(f"{path}:1: expected a mapping of {what} at the top level, not {_kind(data)}")
    return data


def _kind(value: object) -> str:
    """How a YAML value reads to a user: a list, a string, a number ..."""
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    return f"a {type(value).__name__} value"


#: Top-level sections of a config file that belong to later stages (read by their own loaders).
OTHER_SECTIONS = ("calls", "rules")


def load_settings(path: str | PathLike[str], base: DecodeSettings | None = None) -> DecodeSettings:
    """Read a YAML config file (format in this module's docstring) over ``base``."""
    data = {k: v for k, v in read_yaml_mapping(path).items() if k not in OTHER_SECTIONS}
    links = []
    given = data.pop("links", None) or []
    if not isinstance(given, list):
        raise ConfigError(f"{path}: links must be a list of {{match: PATTERN, pc_format: ...}}")
    for i, item in enumerate(given):
        if not isinstance(item, dict) or "match" not in item:
            raise ConfigError(f"{path}: links[{i}] needs a 'match' pattern")
        unknown = set(item) - {"match", "pc_format", "variant"}
        if unknown:
            raise ConfigError(f"{path}: links[{i}]: unknown keys {sorted(unknown)}")
        links.append(LinkOverride(str(item["match"]), item.get("pc_format"), item.get("variant")))
    known = {
        "pc_format",
        "variant",
        "pc_display",
        "mtp2_fcs",
        "m3ua_version",
        "pc_detect_messages",
        "low_confidence_share",
    }
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"{path}: unknown settings {sorted(unknown)}; known: {sorted(known | {'links'})}")
    base = base or DecodeSettings()
    try:
        return replace(base, links=tuple(links) + base.links, **data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
