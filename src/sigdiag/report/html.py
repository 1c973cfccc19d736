"""The HTML report: one self-contained file (styles, script, charts and ladders inline) from a
:class:`~sigdiag.report.reportdata.ReportData`.

Pages are rendered by a Jinja2 environment with autoescape on, from ``templates/report*.j2``: every
string of a capture or a user file (numbers, trunk names, rule messages, file names) is escaped.  The
only markup that is not escaped is made here: the charts (:mod:`sigdiag.report.charts`, which escape
their labels), the ladders (:func:`sigdiag.report.ladder.ladder_svg`, which escapes its text) and the
page's own script.  A Content-Security-Policy allows nothing to load and only that script (by its hash)
to run, so even markup that slipped through could neither fetch nor run anything.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sigdiag.report import charts
from sigdiag.report.reportdata import ReportData, bucket_text

__all__ = ["KPI_COLUMNS", "MAX_LADDERS", "render_report", "write_report"]

#: Findings shown with their SVG ladder (the first; the others with their ladder as a table only).
MAX_LADDERS = 200

#: The KPI columns: (key, header, kind).  Keys of ``sigdiag stats`` rows, plus the subscriber and caller
#: shares (of completed calls) derived from its counts.
KPI_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("seizures", "seizures", "count"),
    ("completed", "completed", "count"),
    ("answered", "answered", "count"),
    ("asr", "ASR", "rate"),
    ("ner", "NER", "rate"),
    ("network_loss", "network losses", "count"),
    ("network_loss_rate", "network loss rate", "rate"),
    ("subscriber_failures", "subscriber failures", "count"),
    ("subscriber_share", "subscriber share", "rate"),
    ("caller_failures", "caller failures", "count"),
    ("caller_share", "caller share", "rate"),
    ("pdd_mean_ms", "PDD mean", "ms"),
    ("pdd_p95_ms", "PDD p95", "ms"),
    ("avg_conversation_s", "mean talk time", "s"),
)

_SCRIPT = """(function () {
  var box = document.getElementById("call-search");
  var table = document.getElementById("calls-table");
  var status = document.getElementById("call-count");
  if (!box || !table || !status) { return; }
  var rows = table.tBodies[0].rows;
  function filter() {
    var q = box.value.toLowerCase().replace(/[^0-9a-f*#]/g, "");
    var shown = 0;
    for (var i = 0; i < rows.length; i++) {
      var hit = !q || (rows[i].getAttribute("data-numbers") || "").indexOf(q) >= 0;
      rows[i].hidden = !hit;
      if (hit) { shown++; }
    }
    status.textContent = shown + " of " + rows.length + " calls shown";
  }
  box.addEventListener("input", filter);
  filter();
})();
"""


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).with_name("templates"))),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(pct=_pct, ms=_ms, seconds=_seconds, ts=_ts, num=_num, value=_value, kpi=_kpi)
    return env


def _pct(v: Any) -> str:
    from sigdiag.display import pct_text

    return pct_text(v) if v is not None else "-"


def _ms(v: Any) -> str:
    from sigdiag.display import ms_text

    return ms_text(v) if v is not None else "-"


def _seconds(v: Any) -> str:
    from sigdiag.display import seconds_text

    return seconds_text(v) if v is not None else "-"


def _ts(v: Any) -> str:
    from sigdiag.display import format_ts

    return format_ts(v) if v is not None else "-"


def _num(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _value(v: Any) -> str:
    """A figure as data (the ``data-v`` attribute): JSON, so a test reads exactly the stats value."""
    if isinstance(v, float) and not math.isfinite(v):
        return "null"
    return json.dumps(v)


def _kpi(v: Any, kind: str) -> str:
    return {"rate": _pct, "ms": _ms, "s": _seconds}.get(kind, _num)(v)


def _share(n: Any, den: Any) -> float | None:
    return round(n / den, 4) if den else None


def _with_shares(row: dict[str, Any]) -> dict[str, Any]:
    """A stats row with the subscriber and caller shares of completed calls."""
    return {
        **row,
        "subscriber_share": _share(row.get("subscriber_failures"), row.get("completed")),
        "caller_share": _share(row.get("caller_failures"), row.get("completed")),
    }


def _nice_max(v: float) -> float:
    for top in (0.05, 0.1, 0.2, 0.5):
        if v <= top:
            return top
    return 1.0


def _charts(data: ReportData) -> list[dict[str, Any]]:
    """The charts: ASR and network-loss rate per trunk by hour, outcome shares, top causes, findings per
    rule; each ``{"id", "caption", "svg"}``."""
    from markupsafe import Markup

    from sigdiag.codec.names import cause_name

    buckets = sorted({r["bucket"] for r in data.trunk_buckets})
    trunks = sorted({r["trunk"] for r in data.trunk_buckets})
    by = {(r["trunk"], r["bucket"]): r for r in data.trunk_buckets}
    per = "per " + bucket_text(data.bucket_s).removeprefix("1 ")

    def series(key: str) -> list[tuple[str, list[float | None]]]:
        return [(t, [by[(t, b)][key] if (t, b) in by else None for b in buckets]) for t in trunks]

    loss = series("network_loss_rate")
    loss_max = max((v for _, vs in loss for v in vs if v is not None), default=0.0)
    asr_title = f"ASR per trunk, {per} (UTC)"
    loss_title = f"Network loss rate per trunk, {per} (UTC)"
    out = [
        ("chart-asr", asr_title, charts.line_chart(asr_title, buckets, series("asr"), cid="svg-asr")),
        (
            "chart-loss",
            loss_title,
            charts.line_chart(loss_title, buckets, loss, y_max=_nice_max(loss_max), cid="svg-loss"),
        ),
        (
            "chart-outcomes",
            "Calls by outcome",
            charts.share_bars("Calls by outcome", list(data.outcomes.items()), cid="svg-outcomes"),
        ),
        (
            "chart-causes",
            "Top release causes of calls not answered",
            charts.bar_chart(
                "Top release causes of calls not answered",
                [(f"{c} {cause_name(c)}", n) for c, n in data.total.get("top_causes") or []],
                cid="svg-causes",
            ),
        ),
    ]
    if data.findings:
        out.append(
            (
                "chart-rules",
                "Findings per rule",
                charts.bar_chart("Findings per rule", list(data.by_rule.items()), cid="svg-rules"),
            )
        )
    return [{"id": cid, "caption": cap, "svg": Markup(svg)} for cid, cap, svg in out]


def _ladder_svg(data: ReportData, finding: dict[str, Any], call: dict[str, Any] | None) -> Any:
    """The finding's ladder as inline SVG (None without a call or ladder rows)."""
    if call is None or not finding.get("ladder"):
        return None
    from markupsafe import Markup

    from sigdiag.report.ladder import ladder_from_rows, ladder_svg

    ladder = ladder_from_rows(call, finding["ladder"], [finding], trunks=data.trunks, pc=data.pc)
    svg = ladder_svg(ladder)
    start = svg.find("<svg")  # inline: without an XML declaration or doctype
    return Markup(svg[start:] if start > 0 else svg)


def _findings(data: ReportData) -> list[dict[str, Any]]:
    out = []
    for i, (f, call) in enumerate(zip(data.findings, data.finding_calls, strict=True)):
        evidence = f.get("evidence") or {}
        out.append(
            {
                "id": f"finding-{i + 1}",
                "f": f,
                "evidence": [(k, _evidence_text(k, v)) for k, v in evidence.items()],
                "svg": _ladder_svg(data, f, call) if i < MAX_LADDERS else None,
            }
        )
    return out


#: Words that name a time in an evidence key (its value, in epoch seconds, is written as a UTC time).
_TIME_WORDS = frozenset(("start", "end", "ts", "time", "at"))


def _evidence_text(key: str, v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, int | float) and not isinstance(v, bool):
        if 1e9 <= v < 1e10 and _TIME_WORDS & set(key.split("_")):
            return _ts(v) + " UTC"
        return f"{v:g}" if isinstance(v, float) else str(v)
    return json.dumps(v, ensure_ascii=False)


def _script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def render_report(data: ReportData) -> str:
    """The report as one HTML document."""
    from markupsafe import Markup

    from sigdiag.codec.names import cause_name

    env = _environment()
    template = env.get_template("report.html.j2")
    pc: Callable[[int | None], str] = data.pc
    return str(
        template.render(
            d=data,
            kpi_columns=KPI_COLUMNS,
            total=_with_shares(data.total),
            by_trunk=[_with_shares(r) for r in data.by_trunk],
            by_hour=[_with_shares(r) for r in data.by_hour],
            charts=_charts(data),
            findings=_findings(data),
            max_ladders=MAX_LADDERS,
            several_files=any(r.get("file") for r in data.call_rows),
            cause_name=cause_name,
            pc=pc,
            script=Markup(_SCRIPT),
            script_hash=_script_hash(_SCRIPT),
        )
    )


def write_report(data: ReportData, path: str | Path) -> int:
    """Write the report to ``path``; returns its size in bytes."""
    text = render_report(data)
    raw = text.encode("utf-8")
    Path(path).write_bytes(raw)
    return len(raw)
