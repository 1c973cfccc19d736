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
    "load_settings",
    "read_yaml_mapping",
    "variant_for",
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


def read_yaml_mapping(path: str | PathLike[str]) -> dict[str, Any]:
    """The top-level mapping of a YAML settings file; :class:`ConfigError` naming the file (and line)."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return data


#: Top-level sections of a config file that belong to later stages (read by their own loaders).
OTHER_SECTIONS = ("calls", "rules")


def load_settings(path: str | PathLike[str], base: DecodeSettings | None = None) -> DecodeSettings:
    """Read a YAML config file (format in this module's docstring) over ``base``."""
    data = {k: v for k, v in read_yaml_mapping(path).items() if k not in OTHER_SECTIONS}
    links = []
    for i, item in enumerate(data.pop("links", None) or []):
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
