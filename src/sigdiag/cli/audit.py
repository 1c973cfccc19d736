"""``sigdiag audit``: the command-line face of :mod:`sigdiag.audit`.

``audit_app`` is a Typer group with two commands, ``run`` and ``report``; its group class sends any
other first argument to ``run``, so ``sigdiag audit PATH...`` is ``sigdiag audit run PATH...`` and
``sigdiag audit report OUT_DIR`` reports (a capture literally named ``report`` can be given as
``./report``).
"""

from __future__ import annotations

import csv
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from sigdiag.cli.common import (
    NO_DECODE_OPTIONS,
    DecodeOptions,
    OutcomesOpt,
    SetOpt,
    TrunksOpt,
    fail,
    failing_on,
    quiet_option,
    split_set,
    with_option_groups,
)
from sigdiag.cli.rules import rule_overrides

__all__ = ["audit_app"]


class _AuditGroup(TyperGroup):
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


audit_app = typer.Typer(
    cls=_AuditGroup,
    no_args_is_help=True,
    help="Batch audits of trunk call-loss rates over many (rotated) captures.\n\n"
    "sigdiag audit PATH... runs an audit (same as 'audit run PATH...', see 'sigdiag audit run --help'); "
    "sigdiag audit report OUT_DIR prints the summary again from stored results.",
)


Engine = StrEnum("Engine", ["local", "dask"])
SummaryFormat = StrEnum("SummaryFormat", ["table", "jsonl", "csv"])
PointMode = StrEnum("PointMode", ["name", "folder", "file"])
FormatOpt = Annotated[SummaryFormat, typer.Option("--format", "-f", help="Summary output format.")]
BucketOpt = Annotated[
    str, typer.Option("--bucket", help="Time bucket of the summary rows: 15m, 1h, 1d, ... (UTC-aligned).")
]
ThresholdsOpt = Annotated[
    Path | None,
    quiet_option(
        "--thresholds",
        help="Alert settings YAML: network_loss_rate, asr, baseline z-score (docs/audit.md).",
    ),
]


def _bucket(text: str) -> int:
    from sigdiag.audit.summary import parse_bucket

    with failing_on(ValueError):
        return parse_bucket(text)


def _thresholds(path: Path | None) -> Any:
    from sigdiag.audit.summary import load_thresholds
    from sigdiag.settings import ConfigError

    if path is None:
        return None
    with failing_on(ConfigError):
        return load_thresholds(path)


@audit_app.command("run")
@with_option_groups
def run_command(
    paths: Annotated[
        list[str],
        typer.Argument(help="Capture files, folders (walked) or glob patterns (pcap, pcapng, cap, .gz)."),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the stored results (Parquet, state).")
    ] = Path("sigdiag-audit"),
    trunks: TrunksOpt = None,
    engine: Annotated[Engine, typer.Option("--engine", help="Run on local processes or a Dask cluster.")] = (
        Engine.local
    ),
    scheduler: Annotated[
        str | None,
        quiet_option(
            "--scheduler",
            help="Dask scheduler address, e.g. tcp://host:8786 (--engine dask; default: a local cluster).",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        quiet_option("--workers", "-j", min=1, help="Worker processes [default: number of cores]."),
    ] = None,
    bucket: BucketOpt = "1h",
    format: FormatOpt = SummaryFormat.table,
    thresholds: ThresholdsOpt = None,
    point: Annotated[
        PointMode,
        typer.Option(
            "--point",
            help="What makes a capture point (files of one probe, stitched in time order): same folder and "
            "name without rotation counters/time stamps, same folder, or each file alone.",
        ),
    ] = PointMode.name,
    rules: Annotated[
        list[Path] | None,
        quiet_option("--rules", help="Extra rule folder (repeatable)."),
    ] = None,
    set_: SetOpt = None,
    number_plan: Annotated[
        Path | None,
        quiet_option(
            "--number-plan",
            help="YAML with 'valid_prefixes:' (called-number prefixes the network routes): a call released "
            "with cause 1 to such a prefix is a network loss, as in check, calls and stats.",
        ),
    ] = None,
    outcomes: OutcomesOpt = None,
    decode: DecodeOptions = NO_DECODE_OPTIONS,
) -> None:
    """Audit call-loss rates over many captures (what 'sigdiag audit PATH...' runs).

    Decodes and diagnoses the captures in parallel, stores calls and findings as Parquet under --out
    (partitioned by day), prints KPIs per trunk and time bucket with findings per rule, and alerts on
    thresholds and departures from each trunk's baseline.

    Files of one capture point are read in time order through one correlator, so calls spanning a
    rotation boundary are stitched.  A rerun skips files already done (by content hash) and resumes an
    interrupted run.  Corrupt files are reported on standard error and skipped.  SIGINT (Ctrl-C) or SIGTERM
    stops it cleanly, its state saved (exit status 130 or 143; the same command resumes).  Details:
    docs/audit.md.
    """
    from sigdiag.audit.runner import AuditError, AuditInterrupted, damage_text, run_audit

    bucket_s = _bucket(bucket)
    th = _thresholds(thresholds)
    decode.settings()  # a bad option fails here
    config = decode.config
    # --set: correlation settings NAME=VALUE, and rule settings RULE.SETTING=VALUE (a dot in the name);
    # with --number-plan and the config file's rules: section, the rules are set as check sets them
    call_set, rule_set = split_set(set_)
    rule_settings = rule_overrides(config, rule_set, number_plan)
    options: dict[str, Any] = {
        "decode": {"config": str(config) if config else None, **decode.values()},
        "set": call_set,
        "rule_settings": rule_settings,
        "trunks": str(trunks) if trunks else None,
        "outcomes": str(outcomes) if outcomes else None,
        "rule_dirs": [str(r) for r in rules or []],
    }
    try:
        result = run_audit(
            paths,
            out,
            options,
            engine=engine.value,
            scheduler=scheduler,
            workers=workers,
            point_mode=point.value,
            bucket_s=bucket_s,
            thresholds=th,
        )
    except AuditError as exc:
        raise fail(str(exc)) from None
    except AuditInterrupted as exc:
        # SIGINT / SIGTERM: stopped cleanly with its state saved; 128 + the signal's number (130, 143)
        import shlex

        typer.echo(f"sigdiag: {exc.line(shlex.join(['sigdiag', *sys.argv[1:]]))}", err=True)
        raise typer.Exit(exc.exit_code) from None
    for line in result.warnings:
        typer.echo(f"sigdiag: warning: {line}", err=True)
    for path, why in result.bad:
        typer.echo(f"sigdiag: warning: {path}: skipped: {why}", err=True)
    for path, info in result.damaged_now:
        d = {"file": path, "status": "audited", "error": None, "not_stored": 0, **info}
        typer.echo(f"sigdiag: warning: {damage_text(d)}", err=True)
    _print(result.rows, format.value, result.damaged, result.out)
    typer.echo(
        f"sigdiag: audit: {result.total('files')} files audited, {result.total('skipped')} already done, "
        f"{len(result.bad)} bad, {len(result.damaged_now)} with anomalies; {result.total('messages')} "
        f"messages, {result.total('calls')} calls; {len(result.points)} capture points; "
        f"{result.seconds:.1f} s; results in {result.out}",
        err=True,
    )


@audit_app.command("report")
def report_command(
    out_dir: Annotated[Path, typer.Argument(help="Output folder of an earlier audit (--out).")],
    bucket: Annotated[
        str | None,
        quiet_option("--bucket", help="Time bucket [default: the audit's]."),
    ] = None,
    format: FormatOpt = SummaryFormat.table,
    thresholds: Annotated[
        Path | None,
        quiet_option("--thresholds", help="Alert settings YAML [default: the audit's]."),
    ] = None,
) -> None:
    """Print the audit summary again from the stored results, without decoding anything."""
    from sigdiag.audit.runner import AuditError, damage_text, damaged_files, report

    bucket_s = _bucket(bucket) if bucket is not None else None
    th = _thresholds(thresholds)
    if not out_dir.is_dir():
        raise fail(f"{out_dir}: no such folder")
    warnings: list[str] = []
    with failing_on(AuditError):
        rows = report(out_dir, bucket_s, th, warnings)
    for line in warnings:
        typer.echo(f"sigdiag: warning: {line}", err=True)
    damaged = damaged_files(out_dir)
    _print(rows, format.value, damaged, out_dir)
    if format.value != "table":  # the table has them on standard output
        for d in damaged:
            typer.echo(f"sigdiag: warning: {damage_text(d)}", err=True)


# -- output ------------------------------------------------------------------------------------------------
_TABLE = [
    ("trunk", "trunk"),
    ("bucket", "bucket (UTC)"),
    ("seizures", "seizures"),
    ("completed", "completed"),
    ("answered", "answered"),
    ("asr", "ASR"),
    ("ner", "NER"),
    ("network_loss", "net loss"),
    ("network_loss_rate", "loss rate"),
    ("pdd_mean_ms", "PDD mean"),
    ("findings_total", "findings"),
]
#: Rates shown as percentages and delays in seconds with the unit, as in every text output.
_RATES = frozenset(("asr", "ner", "network_loss_rate"))
_DELAYS_MS = frozenset(("pdd_mean_ms",))


def _cell(v: Any, key: str = "") -> str:
    from sigdiag.display import ms_text, pct_text

    if v is None:
        return "-"
    if key in _RATES:
        return pct_text(v)
    if key in _DELAYS_MS:
        return ms_text(v)
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _print(
    rows: list[dict[str, Any]], fmt: str, damaged: list[dict[str, Any]] | None = None, out_dir: Any = None
) -> None:
    from sigdiag.audit.runner import damage_text
    from sigdiag.audit.summary import SUMMARY_KEYS, alert_text, iter_alerts

    out = sys.stdout
    if fmt == "jsonl":
        for r in rows:
            out.write(json.dumps({k: r[k] for k in SUMMARY_KEYS}) + "\n")
        return
    if fmt == "csv":
        from sigdiag.report import csv_safe

        w = csv.writer(out, lineterminator="\n")
        w.writerow(SUMMARY_KEYS)
        for r in rows:
            w.writerow(
                [
                    csv_safe(
                        json.dumps(r[k])
                        if k in ("top_causes", "findings", "alerts")
                        else ("" if r[k] is None else r[k])
                    )
                    for k in SUMMARY_KEYS
                ]
            )
        return
    cells = [h for _, h in _TABLE] + ["alerts", "top rules"]
    table = [cells]
    for r in rows:
        top = ", ".join(f"{k} {v}" for k, v in list(r["findings"].items())[:3])
        table.append(
            [_cell(r[k], k) for k, _ in _TABLE] + [str(len(r["alerts"])) if r["alerts"] else "-", top or "-"]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(cells))]
    numeric = {i for i, (k, _) in enumerate(_TABLE) if k not in ("trunk", "bucket")}
    for row in table:
        parts = [c.rjust(widths[i]) if i in numeric else c.ljust(widths[i]) for i, c in enumerate(row)]
        out.write("  ".join(parts).rstrip() + "\n")
    alerts = list(iter_alerts(rows))
    if alerts:
        out.write(f"\n{len(alerts)} alerts:\n")
        for a in alerts:
            out.write(f"  {a['trunk']} {a['bucket']}: {a['kind']}: {alert_text(a)}\n")
    elif not rows:
        out.write("no calls\n")
    if damaged:
        where = f" (rows in {Path(out_dir) / 'anomalies'})" if out_dir is not None else ""
        n = len(damaged)
        out.write(f"\n{n} file{'s' if n > 1 else ''} with anomalies{where}:\n")
        for d in damaged:
            out.write(f"  {damage_text(d)}\n")
