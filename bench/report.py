"""`make bench`'s HTML report: every benchmark's printed figures and in-run baselines, one file.

Written to `.e2e/bench-report.html` by `python -m bench` after the benchmarks ran: per benchmark,
its status, duration and printed table (verbatim: each benchmark prints its figures next to its
baseline), the JSON figures it wrote (`.e2e/bench-*.json`), and a chart of every "N.NNx" ratio it
printed (figure / in-run baseline). Self-contained like the e2e report (`pipeline.client.report_html`).
"""

from __future__ import annotations

import html
import json
import re
import time
from pathlib import Path
from typing import Any

from pipeline.client.report_html import page

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT = REPO_ROOT / ".e2e" / "bench-report.html"
_RATIO = re.compile(r"(\d+(?:\.\d+)?)x\b")

SCRIPT = r"""
const ratios = DATA.ratios;
if (ratios.length) barChart("ratios", ratios.map((r) => r.label), ratios.map((r) => r.ratio), "ratio to the in-run baseline (each bar: a line printed by a benchmark)", "x");
"""


def ratios(name: str, output: str) -> list[dict[str, Any]]:
    found = []
    for line in output.splitlines():
        for match in _RATIO.finditer(line):
            found.append({"label": f"{name} #{len(found) + 1}", "ratio": float(match.group(1)), "line": line.strip()})
    return found


def _json_table(doc: Any, depth: int = 0) -> str:
    if isinstance(doc, dict) and depth < 3:
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_json_table(v, depth + 1)}</td></tr>" for k, v in doc.items())
        return f"<table>{rows}</table>"
    text = json.dumps(doc) if not isinstance(doc, str) else doc
    return html.escape(text if len(text) < 400 else text[:400] + "…")


def write(runs: list[dict[str, Any]], started: float, path: Path = OUT) -> Path:
    """`runs`: [{"name", "ok", "seconds", "output"}] in the order they ran."""
    sections, all_ratios = [], []
    for run in runs:
        found = ratios(run["name"], run["output"])
        all_ratios += found
        figures = ""
        for json_path in sorted((REPO_ROOT / ".e2e").glob(f"bench-{run['name'].replace('_', '-')}*.json")):
            if json_path.stat().st_mtime >= started:
                figures += f"<h3>{html.escape(json_path.name)}</h3>{_json_table(json.loads(json_path.read_text()))}"
        listed = "".join(f"<li>{html.escape(r['label'])}: {r['ratio']}x: <code>{html.escape(r['line'])}</code></li>"
                         for r in found)
        status = '<span class="ok">ok</span>' if run["ok"] else '<span class="bad">FAILED</span>'
        sections.append(f"<section><h2>bench {html.escape(run['name'])} {status} "
                        f"<small class=\"muted\">{run['seconds']:.0f} s</small></h2>"
                        f"<pre>{html.escape(run['output'])}</pre>{figures}"
                        + (f"<ul>{listed}</ul>" if listed else "") + "</section>")
    body = '<section><h2>Ratios to in-run baselines</h2><div id="ratios"></div></section>' + "".join(sections)
    subtitle = f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(started))} · {len(runs)} benchmark(s)"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page("make bench report", subtitle, body, {"ratios": all_ratios}, SCRIPT))
    return path
