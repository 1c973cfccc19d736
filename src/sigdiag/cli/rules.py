"""``sigdiag check`` and ``sigdiag rules list|show|validate|test``: the command-line face of
:mod:`sigdiag.rules`.  Registered by :mod:`sigdiag.cli`; errors are one line and exit code 2.

Also the rule options the other commands share (:func:`rule_overrides`, :func:`outcome_refiner_for`), and
``rules test``'s simulated captures: the rules sit below the simulator's only user, this layer, so
:func:`sigdiag.rules.testing.run_rule_tests` gets the scenarios' captures from here
(:func:`simulated_rule_tests`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from sigdiag.cli.common import (
    CIC_HELP,
    NO_DECODE_OPTIONS,
    NUMBER_HELP,
    PC_HELP,
    DecodeOptions,
    FilesArg,
    OutputOpt,
    TrunksOpt,
    check_cic,
    check_number,
    check_pc,
    fail,
    failing_on,
    plain_help,
    quiet_option,
    report_anomalies,
    trunk_map,
    with_option_groups,
)

__all__ = ["check_command", "outcome_refiner_for", "rule_overrides", "rules_app", "simulated_rule_tests"]


CheckFormat = StrEnum("CheckFormat", ["table", "jsonl", "json"])
FailOn = StrEnum("FailOn", ["info", "low", "medium", "high", "critical", "never"])
RulesOpt = Annotated[
    list[Path] | None,
    quiet_option("--rules", help="A folder of extra rule files (repeatable)."),
]
RuleSetOpt = Annotated[
    list[str] | None,
    quiet_option(
        "--set",
        help="Rule setting RULE.SETTING=VALUE (repeatable), e.g. incomplete-digit-collection.max_gap_ms=500.",
    ),
]
NumberPlanOpt = Annotated[
    Path | None,
    quiet_option("--number-plan", help="YAML with valid_prefixes: [...] (rule unallocated-valid-prefix)."),
]


CicOpt = Annotated[int | None, typer.Option("--cic", help="Only findings on this CIC." + CIC_HELP)]
OpcOpt = Annotated[
    str | None, typer.Option("--opc", help="Only findings involving this point code." + PC_HELP)
]
DpcOpt = Annotated[
    str | None, typer.Option("--dpc", help="Only findings involving this point code." + PC_HELP)
]
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="Only findings from this time (ISO 8601 or epoch).")
]
UntilOpt = Annotated[
    str | None, typer.Option("--until", help="Only findings up to this time (ISO 8601 or epoch).")
]


def _time(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"{name} must be epoch seconds or an ISO 8601 time, not {value!r}") from None
    if dt.tzinfo is None:
        from datetime import UTC

        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def rule_overrides(
    config: Path | None, set_: list[str] | None, number_plan: Path | None
) -> dict[str, dict[str, Any]]:
    """Rule settings from the config file's ``rules:`` section, the number plan, then ``--set``."""
    from sigdiag.rules.loader import RuleError, number_plan_settings, parse_assignments
    from sigdiag.settings import ConfigError, read_yaml_mapping

    out: dict[str, dict[str, Any]] = {}
    with failing_on(RuleError, ConfigError):
        if config is not None:
            section = read_yaml_mapping(config).get("rules") or {}
            if not isinstance(section, dict) or not all(isinstance(v, dict) for v in section.values()):
                raise fail(f"{config}: 'rules' must map rule ids to {{setting: value}} mappings")
            for rid, values in section.items():
                out.setdefault(str(rid), {}).update(values)
        if number_plan is not None:
            for rid, values in number_plan_settings(number_plan).items():
                out.setdefault(rid, {}).update(values)
        for rid, values in parse_assignments(set_).items():
            out.setdefault(rid, {}).update(values)
    return out


def load_rules(rules: list[Path] | None, overrides: dict[str, dict[str, Any]]) -> Any:
    """The shipped rules and the ``--rules`` folders' quick rules (a warning for each rule without
    tests or whose file name is not its id)."""
    from sigdiag.rules.loader import RuleError, load_rules

    with failing_on(RuleError):
        ruleset = load_rules(rules or [], overrides)
    for r in ruleset:
        for warning in r.warnings:
            typer.echo(f"sigdiag: warning: {r.source}: rule {r.id}: {warning}", err=True)
    return ruleset


def outcome_refiner_for(
    rules: list[Path] | None,
    set_: list[str] | None,
    number_plan: Path | None,
    config: Path | None,
    trunks: Any = None,
) -> Any:
    """The outcome refiner of ``sigdiag calls``/``stats`` from the same rule options as ``check``
    (``--rules``, ``--set RULE.SETTING=VALUE``, ``--number-plan``, the config file's ``rules:`` section),
    so a call's outcome is the same in all three.  Errors are one line and exit code 2."""
    from sigdiag.rules.check import outcome_refiner

    return outcome_refiner(load_rules(rules, rule_overrides(config, set_, number_plan)), trunks)


@with_option_groups
def check_command(
    files: FilesArg,
    number: Annotated[
        str | None,
        typer.Option(
            "--number",
            help="Only findings about calls whose called or calling number contains this; every such "
            "call is listed too (time, numbers, outcome, cause, PDD, duration, ladder), findings or not."
            + NUMBER_HELP,
        ),
    ] = None,
    cic: CicOpt = None,
    opc: OpcOpt = None,
    dpc: DpcOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    rules: RulesOpt = None,
    set_: RuleSetOpt = None,
    number_plan: NumberPlanOpt = None,
    trunks: TrunksOpt = None,
    min_severity: Annotated[
        FailOn | None,
        quiet_option("--min-severity", help="Report only findings at or above this severity."),
    ] = None,
    fail_on: Annotated[
        FailOn,
        typer.Option("--fail-on", help="Exit with code 1 when a finding is at or above this severity."),
    ] = FailOn.high,
    format: Annotated[CheckFormat, typer.Option("--format", "-f", help="Output format.")] = CheckFormat.table,
    output: OutputOpt = None,
    decode: DecodeOptions = NO_DECODE_OPTIONS,
    workers: Annotated[
        int | None,
        quiet_option(
            "--workers",
            min=1,
            max=2,
            help="1: evaluate the rules in this process; 2: in a second process (decoding and rules on "
            "two CPUs).  Default: 2 for 4 MB of input or more on a machine with two CPUs.",
        ),
    ] = None,
    evidence: Annotated[
        Path | None,
        quiet_option(
            "--evidence",
            help="Write into this folder, for each finding reported, a capture slice of the frames of the "
            "calls it names (<rule>-call<id>.pcap) and the SVG ladder of its call (<rule>-call<id>.svg).",
        ),
    ] = None,
) -> None:
    """Diagnose calls: what went wrong, the evidence, the outcome class and the fix.

    Runs every shipped rule (plus --rules folders) over the calls of the captures.  For each finding:
    the rule and severity, what happened, the evidence (frames, times, gaps, causes), the call's message
    ladder, its outcome and the recommended fix (orphan messages: one list); with --number, every call of
    that number (or the closest numbers seen when none matches); then a summary per rule and per trunk.
    JSON has "findings", "calls" (with --number) and "summary"; JSON Lines has one row per finding, then
    one row per matching call with "kind": "call".  Exit code 0 without findings at or above --fail-on
    (default high), 1 with, 2 for usage or input errors.
    """
    from sigdiag.capture import CaptureError
    from sigdiag.report.messages import pc_printer
    from sigdiag.rules.check import CheckRun, FindingFilter
    from sigdiag.rules.loader import SEVERITIES
    from sigdiag.rules.parallel import EngineProcessError

    number = check_number(number)
    cic = check_cic(cic)
    dsettings = decode.settings()
    ruleset = load_rules(rules, rule_overrides(decode.config, set_, number_plan))
    tmap = trunk_map(trunks)
    level = None if min_severity in (None, FailOn.never) else min_severity.value
    flt = FindingFilter(
        number,
        cic,
        check_pc(opc, "--opc", dsettings.pc_format),
        check_pc(dpc, "--dpc", dsettings.pc_format),
        _time(since, "--since"),
        _time(until, "--until"),
        level,
    )
    pc = pc_printer(dsettings)
    with failing_on(CaptureError):
        run = CheckRun(files, ruleset, flt, tmap, None, None, dsettings, pc, workers=workers)

    titles = {r.id: (r.severity, r.title) for r in ruleset}
    kept = _Recorded(run) if evidence is not None else run
    try:
        with _output(output) as out:
            summary = _write_findings(kept, out, format, pc, titles)
    except (CaptureError, EngineProcessError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        if output is None:  # standard output closed (a pager quit): sigdiag.cli.main ends quietly
            raise
        raise fail(f"cannot write {output}: {exc.strerror}") from None
    report_anomalies([(p, r.reader) for p, r in run.readers])
    for warning in summary["memory_bounds"]:  # what the memory bounds dropped (docs/calls.md, rules.md)
        typer.echo(f"sigdiag: warning: {warning}", err=True)
    if evidence is not None:
        assert isinstance(kept, _Recorded)
        _write_evidence(files, kept.findings, evidence, dsettings, ruleset, tmap, pc)
    if format != CheckFormat.table:
        typer.echo(_summary_line(summary), err=True)
    worst = run.worst()
    if (
        fail_on != FailOn.never
        and worst is not None
        and SEVERITIES.index(worst) >= SEVERITIES.index(fail_on.value)
    ):
        raise typer.Exit(1)


class _Recorded:
    """A check run whose findings are kept as they stream out (``check --evidence``); the rest of the
    run is the run's."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self.findings: list[Any] = []

    def __iter__(self) -> Iterator[Any]:
        for f in self.run:
            self.findings.append(f)
            yield f

    def __getattr__(self, name: str) -> Any:
        return getattr(self.run, name)


def _write_evidence(
    files: list[Path], findings: list[Any], folder: Path, dsettings: Any, ruleset: Any, tmap: Any, pc: Any
) -> None:
    """``check --evidence``: a slice and an SVG ladder per finding
    (:func:`sigdiag.report.slices.write_evidence`)."""
    from sigdiag.capture import CaptureError
    from sigdiag.report.slices import SliceError, write_evidence
    from sigdiag.rules.check import OutcomeRefiner

    try:
        written = write_evidence(
            files,
            findings,
            folder,
            settings=dsettings,
            refiner=OutcomeRefiner(ruleset, tmap, pc),
            trunks=tmap,
            pc=pc,
        )
    except (SliceError, CaptureError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot write the evidence in {folder}: {exc.strerror or exc}") from None
    ladders = sum(1 for w in written if w.ladder is not None)
    typer.echo(
        f"sigdiag: evidence: {len(written)} slice{'s' if len(written) != 1 else ''} and {ladders} "
        f"ladder{'s' if ladders != 1 else ''} in {folder}",
        err=True,
    )


@contextmanager
def _output(path: Path | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
    else:
        with open(path, "w", encoding="utf-8") as out:
            yield out


def _summary_line(summary: dict[str, Any]) -> str:
    """The one-line summary on standard error (JSON formats): calls, matching calls, findings per rule."""
    n = summary["findings"]
    line = f"sigdiag: {summary['calls']} calls"
    if summary.get("matched_calls") is not None:
        line += f", {summary['matched_calls']} matching {summary['number']}"
    line += f", {n} finding{'s' if n != 1 else ''}"
    if summary["by_rule"]:
        line += " (" + ", ".join(f"{rid} {count}" for rid, count in summary["by_rule"].items()) + ")"
    return line


def _write_findings(
    run: Any, out: IO[str], format: CheckFormat, pc: Any, titles: dict[str, Any]
) -> dict[str, Any]:
    """Stream the findings in the chosen format, then the matching calls (--number), then the summary;
    returns the summary."""
    from sigdiag.rules.report import LISTED_RULES, FindingList, format_calls, format_finding, format_summary

    collected: list[dict[str, Any]] = []
    listed: dict[str, FindingList] = {}
    for f in run:
        if format == CheckFormat.table:
            if f.rule in LISTED_RULES:
                listed.setdefault(f.rule, FindingList(pc)).add(f)
            else:
                out.write("\n".join(format_finding(f, pc)) + "\n\n")
        elif format == CheckFormat.jsonl:
            out.write(json.dumps({**f.as_dict(), "file": f.file}, ensure_ascii=False) + "\n")
        else:
            collected.append({**f.as_dict(), "file": f.file})
    summary: dict[str, Any] = run.summary()
    calls = run.matched_calls() if summary.get("matched_calls") is not None else []
    if format == CheckFormat.json:
        doc = {"findings": collected, "calls": calls, "summary": summary}
        json.dump(doc, out, ensure_ascii=False, indent=1)
        out.write("\n")
    elif format == CheckFormat.jsonl:
        for c in calls:
            out.write(json.dumps({"kind": "call", **c}, ensure_ascii=False) + "\n")
    else:
        for fl in listed.values():
            out.write("\n".join(fl.lines()) + "\n\n")
        if summary.get("matched_calls") is not None:
            out.write("\n".join(format_calls(summary, calls, pc)) + "\n\n")
        out.write("\n".join(format_summary(summary, titles)) + "\n")
    return summary


rules_app = typer.Typer(
    name="rules",
    help="List, show, validate and test diagnosis rules.",
    no_args_is_help=True,
    add_completion=False,
)


@rules_app.command("list")
def rules_list(rules: RulesOpt = None) -> None:
    """List the rules: id, severity, category, scope and title."""
    rs = load_rules(rules, {})
    for r in rs:
        typer.echo(f"{r.id:<28} {r.severity:<8} {r.category:<13} {r.scope:<12} {r.title}")


@rules_app.command("show")
def rules_show(
    rule_id: Annotated[str, typer.Argument(help="Rule id.")],
    rules: RulesOpt = None,
    set_: RuleSetOpt = None,
) -> None:
    """Print a rule file and its effective settings."""
    rs = load_rules(rules, rule_overrides(None, set_, None))
    if rule_id not in rs.rules:
        raise fail(f"unknown rule {rule_id!r}; see sigdiag rules list")
    r = rs[rule_id]
    typer.echo(f"# {r.source}")
    typer.echo(Path(r.source).read_text(encoding="utf-8").rstrip())
    if r.settings:
        typer.echo("# effective settings: " + ", ".join(f"{k}={v}" for k, v in r.settings.items()))


@rules_app.command("validate")
def rules_validate(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help=plain_help("Rule files or folders [default: the shipped rules]."), show_default=False
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Require what a shipped rule needs: at least two tests and a file name that matches the "
            "id (always so for the shipped rules).  Without it a quick rule only gets a warning.",
        ),
    ] = False,
) -> None:
    """Check rule files against the schema and compile their conditions; name every error's file and line."""
    from sigdiag.rules.loader import RuleError, load_rule, rule_files, shipped_rules_dir

    files: list[Path] = []
    shipped = shipped_rules_dir().resolve()
    try:
        for p in paths or [shipped_rules_dir()]:
            files.extend(rule_files(p) if p.is_dir() else [p])
    except RuleError as exc:
        raise fail(str(exc)) from None
    errors = 0
    seen: dict[str, Path] = {}
    for f in files:
        try:
            r = load_rule(f, strict=strict or f.resolve().parent == shipped)
        except RuleError as exc:
            typer.echo(f"sigdiag: error: {exc}", err=True)
            errors += 1
            continue
        for warning in r.warnings:
            typer.echo(f"sigdiag: warning: {f}: rule {r.id}: {warning}", err=True)
        if r.id in seen:
            typer.echo(f"sigdiag: error: {f}: rule id {r.id!r} is already defined in {seen[r.id]}", err=True)
            errors += 1
        seen[r.id] = f
    typer.echo(f"{len(files) - errors} of {len(files)} rule files valid")
    if errors:
        raise typer.Exit(2)


@rules_app.command("test")
def rules_test(
    rule_ids: Annotated[
        list[str] | None, typer.Argument(help=plain_help("Rule ids [default: all]."), show_default=False)
    ] = None,
    rules: RulesOpt = None,
    workdir: Annotated[
        Path | None,
        quiet_option("--workdir", help="Keep the simulated captures in this folder."),
    ] = None,
) -> None:
    """Run each rule's positive and negative tests (simulated captures; exit code 1 if one fails)."""
    from sigdiag.rules.loader import RuleError

    rs = load_rules(rules, {})
    with failing_on(RuleError):
        selected = rs.select(rule_ids) if rule_ids else rs
    results = simulated_rule_tests(selected, workdir)
    failed = 0
    for t in results:
        failed += not t.ok
        typer.echo(f"{'ok  ' if t.ok else 'FAIL'} {t.rule:<28} {t.kind:<9} {t.name:<20} {t.detail}")
    typer.echo(f"{len(results) - failed} of {len(results)} rule tests passed")
    if failed:
        raise typer.Exit(1)


def simulated_rule_tests(rules: Any, workdir: Path | None = None) -> list[Any]:
    """:func:`sigdiag.rules.testing.run_rule_tests` with each scenario simulated once per (scenario,
    seed, calls) into ``workdir`` (a temporary folder by default)."""
    import tempfile

    from sigdiag.rules.testing import run_rule_tests
    from sigdiag.simulate import simulate

    with tempfile.TemporaryDirectory(prefix="sigdiag-rule-tests-") as tmp:
        folder = Path(tmp if workdir is None else workdir)

        def scenario_capture(scenario: Path, seed: int, calls: int | None) -> Path:
            folder.mkdir(parents=True, exist_ok=True)
            out = folder / f"{scenario.stem}-{seed}-{calls or 0}.pcap"
            if not out.exists():
                simulate(str(out), str(scenario), calls=calls, seed=seed)
            return out

        return run_rule_tests(rules, scenario_capture)
