"""Self-contained HTML reports: `make e2e` writes .e2e/report.html, `make bench` its own.

One file each, data and scripts inline, nothing fetched: it opens from disk, offline, years later.
Tables are written as HTML here (readable without scripts, and what the browser test compares
with .e2e/reconciliation.json); the charts are drawn as SVG by the small script `CHARTS_JS` from
the JSON embedded in the page.

The e2e report: the reconciliation table, a timeline of the phases, events per second over time
for the client and each sink, the request-latency histogram, and the rejected and quarantined
events with their reasons.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from pipeline.reconcile import FIGURES

LATENCY_EDGES_MS = (0, 25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000)

CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2733;margin:0;background:#f4f6f8}
header{background:#1d2733;color:#fff;padding:10px 18px}header h1{margin:0;font-size:18px}
header p{margin:2px 0 0;color:#b8c4d0;font-size:12px}main{padding:10px 18px;max-width:1200px}
section{background:#fff;border:1px solid #d8dee5;border-radius:6px;padding:8px 12px;margin:10px 0}
h2{font-size:15px;margin:0 0 6px}table{border-collapse:collapse}
th,td{padding:3px 10px 3px 0;border-bottom:1px solid #eef1f4;text-align:left;font-variant-numeric:tabular-nums}
td.n,th.n{text-align:right}.bad{color:#c62828;font-weight:600}.ok{color:#2e8540;font-weight:600}
.muted{color:#6b7785}svg{display:block;max-width:100%}svg text{font:11px system-ui,sans-serif;fill:#4a5663}
pre{background:#f4f6f8;padding:6px;overflow:auto;font-size:12px}
"""

CHARTS_JS = r"""
"use strict";
const DATA = JSON.parse(document.getElementById("report-data").textContent);
const NS = "http://www.w3.org/2000/svg";
const COLORS = ["#1565c0", "#2e8540", "#c77700", "#8e24aa", "#00838f", "#c62828", "#5d4037"];
function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}
function text(parent, x, y, s, anchor) { const t = el("text", {x, y, "text-anchor": anchor || "start"}, parent); t.textContent = s; return t; }
function fmt(n) { return Math.abs(n) >= 1000 ? Math.round(n).toLocaleString("en-US") : (Math.round(n * 10) / 10).toString(); }
function frame(id, w, h) { const host = document.getElementById(id); if (!host) return null; return el("svg", {width: w, height: h, viewBox: `0 0 ${w} ${h}`}, host); }
function axes(svg, x0, y0, w, h, xmax, ymax, xlabel, ylabel, noXTicks) {
  el("line", {x1: x0, y1: y0, x2: x0 + w, y2: y0, stroke: "#9aa6b2"}, svg);
  el("line", {x1: x0, y1: y0, x2: x0, y2: y0 - h, stroke: "#9aa6b2"}, svg);
  for (let i = 0; i <= 4; i++) {
    const y = y0 - (h * i) / 4;
    el("line", {x1: x0, y1: y, x2: x0 + w, y2: y, stroke: "#eef1f4"}, svg);
    text(svg, x0 - 4, y + 4, fmt((ymax * i) / 4), "end");
    if (!noXTicks) text(svg, x0 + (w * i) / 4, y0 + 14, fmt((xmax * i) / 4), "middle");
  }
  text(svg, x0 + w / 2, y0 + 28, xlabel, "middle");
  text(svg, x0, y0 - h - 6, ylabel, "start");
}
function rates(points, window) {
  // cumulative [t, n] -> [t, per second], over windows of at least `window` seconds
  const out = [];
  let a = points[0];
  for (let i = 1; i < points.length; i++) {
    const b = points[i];
    if (b[0] - a[0] >= window || i === points.length - 1) {
      if (b[0] > a[0]) out.push([(a[0] + b[0]) / 2, Math.max(0, (b[1] - a[1]) / (b[0] - a[0]))]);
      a = b;
    }
  }
  return out;
}
function lineChart(id, series) {
  const names = Object.keys(series).filter((n) => series[n].length > 1);
  const svg = frame(id, 1000, 300);
  if (!svg) return;
  if (!names.length) { text(svg, 10, 20, "no progress was sampled"); return; }
  // Rates over windows of 1/60 of each series' span, at least 1 s: batches answered together
  // would otherwise read as spikes of tens of thousands of events per second.
  const lines = names.map((n) => { const p = series[n]; return [n, rates(p, Math.max(1, (p[p.length - 1][0] - p[0][0]) / 60))]; });
  const xmax = Math.max(...names.map((n) => series[n][series[n].length - 1][0]), 1);
  const ymax = Math.max(...lines.flatMap(([, p]) => p.map((q) => q[1])), 1) * 1.05;
  const x0 = 60, y0 = 250, w = 720, h = 220;
  axes(svg, x0, y0, w, h, xmax, ymax, "seconds since the first event was sent", "events per second");
  lines.forEach(([name, pts], i) => {
    const d = pts.map((p, j) => `${j ? "L" : "M"}${(x0 + (p[0] / xmax) * w).toFixed(1)},${(y0 - (p[1] / ymax) * h).toFixed(1)}`).join("");
    el("path", {d, fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": 1.8, "data-series": name}, svg);
    el("rect", {x: 800, y: 40 + i * 18, width: 12, height: 4, fill: COLORS[i % COLORS.length]}, svg);
    text(svg, 818, 46 + i * 18, name);
  });
}
function barChart(id, labels, values, xlabel, ylabel) {
  const svg = frame(id, 1000, 260);
  if (!svg) return;
  const x0 = 60, y0 = 210, w = 900, h = 180, ymax = Math.max(...values, 1);
  axes(svg, x0, y0, w, h, 0, ymax, "", ylabel, true);
  const bw = w / values.length;
  values.forEach((v, i) => {
    const bh = (v / ymax) * h;
    el("rect", {x: x0 + i * bw + 2, y: y0 - bh, width: bw - 4, height: bh, fill: "#1565c0", "data-bucket": labels[i]}, svg);
    text(svg, x0 + i * bw + bw / 2, y0 + 14, labels[i], "middle");
    if (v) text(svg, x0 + i * bw + bw / 2, y0 - bh - 3, fmt(v), "middle");
  });
  text(svg, x0 + w / 2, y0 + 32, xlabel, "middle");
}
function gantt(id, phases) {
  const svg = frame(id, 1000, 30 + phases.length * 24);
  if (!svg || !phases.length) return;
  const end = Math.max(...phases.map((p) => p.start + (p.length || 0)), 1);
  const x0 = 190, w = 700;
  phases.forEach((p, i) => {
    const y = 10 + i * 24;
    text(svg, x0 - 8, y + 13, p.label, "end");
    el("rect", {x: x0 + (p.start / end) * w, y, width: Math.max(1, ((p.length || 0) / end) * w), height: 16, fill: COLORS[i % COLORS.length], rx: 2}, svg);
    text(svg, x0 + ((p.start + (p.length || 0)) / end) * w + 6, y + 13, p.length === null ? "n/a" : fmt(p.length) + " s");
  });
}
"""

E2E_JS = r"""
const t = DATA.timings || {};
const phases = [{label: "replay", start: 0, length: t.replay_s}];
Object.entries(t.sinks_caught_up_s || {}).forEach(([s, v]) => phases.push({label: s + " caught up", start: 0, length: v}));
if (t.reconciliation_s !== null && t.reconciliation_s !== undefined) phases.push({label: "reconciliation", start: (t.starts_s || {}).reconciliation || 0, length: t.reconciliation_s});
if (t.batch_job_s !== null && t.batch_job_s !== undefined) phases.push({label: "batch job", start: (t.starts_s || {})["batch job"] || 0, length: t.batch_job_s});
phases.push({label: "total", start: 0, length: t.total_s});
gantt("timeline", phases);
lineChart("throughput", DATA.series);
barChart("latency", DATA.latency.labels, DATA.latency.counts, "request latency, ms (bucket lower bound)", "requests");
"""


def page(title: str, subtitle: str, body: str, data: dict[str, Any], script: str) -> str:
    payload = json.dumps(data, default=str).replace("</", "<\\/")
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
        f"<body><header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header><main>{body}</main>"
        f'<script id="report-data" type="application/json">{payload}</script>'
        f"<script>{CHARTS_JS}{script}</script></body></html>\n"
    )


def reconciliation_table(result: dict[str, Any]) -> str:
    sinks = list(result.get("sinks") or {})
    head = "".join(f'<th class="n">{html.escape(s)}</th>' for s in sinks)
    rows = []
    for figure in (f for f in FIGURES if f in result["source"]):  # an older report may lack one
        cells = []
        for sink in sinks:
            values = result["sinks"][sink]
            if values is None:
                cells.append('<td class="n muted">n/a</td>')
                continue
            bad = str(values[figure]) != str(result["source"][figure])
            cells.append(
                f'<td class="n{" bad" if bad else ""}">{html.escape(str(values[figure]))}{" !" if bad else ""}</td>'
            )
        rows.append(
            f'<tr><th>{figure}</th><td class="n">{html.escape(str(result["source"][figure]))}</td>{"".join(cells)}</tr>'
        )
    return (
        f'<table id="reconciliation"><thead><tr><th>figure</th><th class="n">source</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def latency_histogram(latencies_s: list[float]) -> dict[str, list]:
    counts = [0] * len(LATENCY_EDGES_MS)
    for seconds in latencies_s:
        ms = seconds * 1000
        index = max(i for i, edge in enumerate(LATENCY_EDGES_MS) if ms >= edge)
        counts[index] += 1
    labels = [
        f"{edge}" if i < len(LATENCY_EDGES_MS) - 1 else f"{edge}+"
        for i, edge in enumerate(LATENCY_EDGES_MS)
    ]
    return {"labels": labels, "counts": counts}


def _rows(items: list[dict[str, Any]], columns: list[str], empty: str) -> str:
    if not items:
        return f'<p class="muted">{html.escape(empty)}</p>'
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(item.get(c, '')))}</td>" for c in columns) + "</tr>"
        for item in items
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def e2e_report(
    result: dict[str, Any],
    series: dict[str, list],
    latencies_s: list[float],
    rejected: list[dict[str, Any]],
    quarantined: list[dict[str, Any]],
) -> str:
    verdict = (
        '<span class="ok">every sink reconciles</span>'
        if result.get("ok")
        else '<span class="bad">MISMATCH: '
        + html.escape(
            "; ".join(
                f"{m['sink']} {m['figure']} {m['actual']} (source {m['expected']})"
                for m in result.get("mismatches", [])
            )
        )
        + "</span>"
    )
    replay = result.get("replay") or {}
    body = (
        f"<section><h2>Reconciliation</h2><p>{verdict}</p>{reconciliation_table(result)}</section>"
        '<section><h2>Timeline of the phases <small class="muted">(seconds from the first event sent)</small></h2>'
        '<div id="timeline"></div></section>'
        '<section><h2>Events per second over time</h2><p class="muted">The client: events accepted per batch '
        "answered. Each sink: records its consumer handled (runtime counters), or the lines the e2e read back.</p>"
        '<div id="throughput"></div></section>'
        f"<section><h2>Request latency</h2><p>{replay.get('requests', 0)} requests, p50 "
        f"{replay.get('latency_ms_p50', '–')} ms, p99 {replay.get('latency_ms_p99', '–')} ms, "
        f'{replay.get("events_per_s", "–")} events/s</p><div id="latency"></div></section>'
        f"<section><h2>Rejected events ({replay.get('rejected', 0)})</h2>"
        f"{_rows(rejected, ['event_id', 'problems'], 'none: the API accepted every event sent')}</section>"
        f"<section><h2>Quarantined by the batch job ({len(quarantined)})</h2>"
        f"{_rows(quarantined, ['event_id', 'reason', 'source_object'], 'none' if result.get('batch_job') else 'the batch job did not run')}</section>"
    )
    data = {
        "timings": result.get("timings") or {},
        "series": series,
        "latency": latency_histogram(latencies_s),
        "result": result,
    }
    subtitle = f"{result.get('data', '')} · rows {result.get('rows', '')} · stack {result.get('stack', '')}"
    return page("make e2e run report", subtitle, body, data, E2E_JS)


def write_run_report(path: Path, result: dict[str, Any], record, summary, scope, endpoints) -> Path:
    """Write the e2e report next to the reconciliation (quarantined rows read from the warehouse).
    `summary` is None for `--check-only` (nothing was replayed: no client series, no rejections)."""
    series = (
        {"client (accepted)": [[0.0, 0]] + [list(p) for p in summary.timeline]} if summary else {}
    )
    sampled = any(name.endswith("(runtime)") for name in record.series)
    for name, points in record.series.items():
        if sampled and name.endswith("(e2e reads)"):
            continue  # the runtime's counters are finer than the e2e's own reads
        series[name] = [list(p) for p in points]
    rejected = [
        {"event_id": r.get("event_id"), "problems": "; ".join(r.get("problems", []))}
        for r in (summary.rejections if summary else [])
    ]
    quarantined = _quarantined(scope, endpoints.warehouse_dsn) if result.get("batch_job") else []
    path.write_text(
        e2e_report(result, series, summary.latencies if summary else [], rejected, quarantined)
    )
    return path


def _quarantined(scope, dsn: str | None, limit: int = 500) -> list[dict[str, Any]]:
    if not dsn:
        return []
    import psycopg

    with psycopg.connect(dsn, connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT event_id, reason, source_object FROM analytics.sales_quarantine "
            "WHERE event_id LIKE %s OR event_id IS NULL ORDER BY loaded_at DESC LIMIT %s",
            (f"{scope.prefix}:%", limit),
        ).fetchall()
    return [{"event_id": e, "reason": r, "source_object": o} for e, r, o in rows]
