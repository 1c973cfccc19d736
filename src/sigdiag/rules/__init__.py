"""Diagnosis rules: rule files (data), the condition language, the engine and ``sigdiag check``.

Pipeline stage: calls (and circuit records) in, *findings* out.  Rules are YAML files, one per file,
validated against ``schema.json``; see docs/rules.md.
"""

from __future__ import annotations

from sigdiag.rules.check import CheckRun, FindingFilter, check, findings_frame
from sigdiag.rules.engine import FINDING_KEYS, Batch, Engine, EngineState, Finding
from sigdiag.rules.loader import (
    SEVERITIES,
    Rule,
    RuleError,
    RuleSet,
    load_rule,
    load_rules,
    shipped_rules_dir,
)

__all__ = [
    "FINDING_KEYS",
    "SEVERITIES",
    "Batch",
    "CheckRun",
    "Engine",
    "EngineState",
    "Finding",
    "FindingFilter",
    "Rule",
    "RuleError",
    "RuleSet",
    "check",
    "findings_frame",
    "load_rule",
    "load_rules",
    "shipped_rules_dir",
]
