// The console page: asks the runtime for a snapshot every second and draws it. No framework.
"use strict";

const SNAPSHOT = "api/snapshot";
const EVERY_MS = 1000;
const HISTORY_S = 180;
const history = [];  // [{t, api, kinesis, dynamodb, archive, warehouse}]
const FIGURES = ["lines", "invoices", "customers", "quantity", "revenue", "cancellations", "conflicts"];

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
const num = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
const ms = (n) => (n === null || n === undefined ? "–" : n >= 1000 ? (n / 1000).toFixed(n >= 10000 ? 0 : 1) + " s" : (n >= 10 || n === 0 ? Math.round(n) : n.toFixed(1)) + " ms");
const secs = (n) => (n === null || n === undefined ? "–" : n >= 120 ? (n / 60).toFixed(1) + " min" : n.toFixed(n >= 10 ? 0 : 1) + " s");
function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}
function set(name, text) { $$(`[data-figure="${name}"]`).forEach((el) => { el.textContent = text; }); }
function state(id, cls) {
  const el = document.getElementById(id);
  if (!el) return;
  el.classList.remove("warn", "bad", "idle");
  if (cls) el.classList.add(cls);
}
const shard = (sid) => "shard " + parseInt(sid.split("-").pop(), 10);
const consumer = (snap, name) => (snap.consumers || []).find((c) => (name === "firehose" ? c.kind === "firehose" : c.name === name));

function rates(snap) {
  const pick = (name) => { const c = consumer(snap, name); return c ? c.records_succeeded : null; };
  return {
    t: snap.at,
    api: snap.api ? snap.api.events_accepted : null,
    kinesis: snap.kinesis ? snap.kinesis.records : null,
    dynamodb: pick("sales-projector"),
    archive: pick("sales-archiver"),
    warehouse: pick("firehose"),
  };
}

function perSecond(key) {
  const out = [];
  for (let i = 1; i < history.length; i++) {
    const a = history[i - 1], b = history[i];
    if (a[key] === null || b[key] === null || b.t <= a.t) { out.push(0); continue; }
    out.push(Math.max(0, (b[key] - a[key]) / (b.t - a.t)));
  }
  return out;
}

function spark(key) {
  const series = perSecond(key);
  const last = series.length ? series[series.length - 1] : null;
  // The figure shown is the mean over the last 5 s: one second alone jumps with batching.
  const recent = series.slice(-5);
  const mean = recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : null;
  $$(`[data-rate="${key}"]`).forEach((el) => { el.textContent = mean === null ? "–" : num(Math.round(mean)); });
  $$(`canvas[data-spark="${key}"]`).forEach((canvas) => {
    const ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = "#eef1f4"; ctx.fillRect(0, h - 1, w, 1);
    if (!series.length || Math.max(...series) === 0) return;
    const top = Math.max(...series, 1);
    const step = w / Math.max(series.length - 1, 1);
    ctx.beginPath();
    series.forEach((v, i) => { const x = i * step, y = h - 2 - (v / top) * (h - 6); i ? ctx.lineTo(x, y) : ctx.moveTo(x, y); });
    ctx.strokeStyle = "#1565c0"; ctx.lineWidth = 1.5; ctx.stroke();
    ctx.fillStyle = "#6b7785"; ctx.font = "10px system-ui, sans-serif";
    ctx.fillText("max " + num(Math.round(top)) + "/s", 2, 10);
    return last;
  });
}

function drawApi(api) {
  if (!api) { state("stage-api", "idle"); return; }
  set("api.events_accepted", num(api.events_accepted));
  set("api.requests_total", num(api.requests_total));
  set("api.throttled", num(api.throttled));
  set("api.p50", ms(api.latency.p50_ms));
  set("api.p99", ms(api.latency.p99_ms));
  const reasons = Object.entries(api.requests_rejected || {}).sort((a, b) => b[1] - a[1]);
  $('[data-list="api.rejected"]').innerHTML = reasons.length
    ? reasons.map(([why, n]) => `<tr><td>${esc(why)}</td><td class="n" title="requests">${num(n)} req</td>` +
        `<td class="n" title="events">${num((api.events_rejected || {})[why] || 0)} ev</td></tr>`).join("")
    : '<tr><td class="muted">none</td></tr>';
  state("stage-api", api.requests_total === 0 ? "idle" : (api.throttled || reasons.length) ? "warn" : null);
}

function drawFunction(name, f) {
  const el = $(`[data-function="${name}"]`);
  if (!el) return;
  if (!f) { el.innerHTML = '<span class="muted">not running</span>'; return; }
  el.className = "fn";
  el.innerHTML = `<table class="kv2">
    <tr><th>invocations</th><td data-figure="fn.${name}.invocations">${num(f.invocations)}</td>
        <th>errors</th><td data-figure="fn.${name}.errors" class="${f.errors ? "bad-text" : ""}">${num(f.errors)}</td></tr>
    <tr><th>p50 / p99</th><td colspan="3">${ms(f.p50_ms)} / ${ms(f.p99_ms)}</td></tr>
    <tr><th>workers</th><td colspan="3" data-figure="fn.${name}.workers" title="busy / started / limit">${f.busy} busy / ${f.workers} up / ${f.limit} max</td></tr></table>`;
}

function drawConsumer(key, c, stageId) {
  const el = $(`[data-consumer="${key}"]`);
  if (!el) return;
  if (!c) { el.innerHTML = '<span class="muted">not running</span>'; state(stageId, "idle"); return; }
  const rows = Object.entries(c.shards).map(([sid, s]) =>
    `<tr><td title="${esc(sid)}">${esc(shard(sid))}</td><td class="n" title="records behind">${num(s.records_behind)} behind</td>` +
    `<td class="n" title="iterator age (MillisBehindLatest)">${ms(s.iterator_age_ms)}</td></tr>`).join("");
  const failed = c.kind === "mapping" ? `<tr><th>discarded</th><td colspan="3" data-figure="consumer.${key}.discarded" class="${c.records_discarded ? "bad-text" : ""}">${num(c.records_discarded)}</td></tr>` : "";
  el.innerHTML = `<div class="big"><span data-figure="consumer.${key}.succeeded">${num(c.records_succeeded)}</span> <em>records ${c.kind === "firehose" ? "loaded" : "handled"}</em></div>
    <table class="kv2"><tr><th>behind</th><td data-figure="consumer.${key}.behind">${num(c.records_behind)}</td>
    <th>iterator age</th><td data-figure="consumer.${key}.age">${ms(c.iterator_age_ms)}</td></tr>${failed}</table>
    <table class="list">${rows}</table>`;
  const lagging = (c.records_behind || 0) > 0 && (c.iterator_age_ms || 0) > 5000;
  const broken = c.records_discarded || Object.values(c.shards).some((s) => s.last_error);
  state(stageId, broken ? "bad" : lagging ? "warn" : null);
}

function drawKinesis(k) {
  set("kinesis.stream", k.stream || "");
  set("kinesis.records", num(k.records));
  $('[data-list="kinesis.shards"]').innerHTML = Object.entries(k.shards || {}).map(([sid, s]) =>
    `<tr><td title="${esc(sid)}">${esc(shard(sid))}</td><td class="n" data-figure="kinesis.${esc(sid)}">${num(s.records)}</td><td class="muted">records${s.open ? "" : " (closed)"}</td></tr>`).join("");
}

function drawFirehose(snap) {
  const d = (snap.firehose || [])[0];
  if (!d) { state("stage-firehose", "idle"); return; }
  set("firehose.name", d.name);
  set("firehose.buffered_records", num(d.buffered_records));
  set("firehose.buffered_bytes", bytes(d.buffered_bytes));
  set("firehose.copies", num(d.copies));
  set("firehose.copy_failures", num(d.copy_failures));
  set("firehose.skipped_loads", num(d.skipped_loads));
  const manifests = snap.error_manifests || [];
  $('[data-list="firehose.error_manifests"]').innerHTML = manifests.map((m) =>
    `<tr><td class="bad-text" title="python -m emulation.firehose.service recover">errors manifest: ${esc(m.url.split("/").slice(-1)[0])}</td></tr>`).join("");
  if (d.skipped_loads || manifests.length) state("stage-firehose", "bad");
  else if (d.copy_failures || d.last_error) state("stage-firehose", "warn");
}

function drawSinks(snap) {
  const tables = snap.dynamodb || {};
  $('[data-list="dynamodb.tables"]').innerHTML = Object.entries(tables).map(([t, n]) =>
    `<tr><th>${esc(t)} items</th><td data-figure="dynamodb.${esc(t)}">${num(n)}</td></tr>`).join("") || '<tr><td class="muted">–</td></tr>';
  const a = snap.archive;
  if (a) {
    ["objects", "lines", "events", "redelivered_lines"].forEach((k) => set("archive." + k, num(a[k])));
    set("archive.reading", a.complete === false ? "reading new objects…" : "");
  }
  const w = snap.warehouse;
  if (w) {
    $('[data-list="warehouse.tables"]').innerHTML = Object.entries(w.tables).map(([t, n]) =>
      `<tr><th>${esc(t)}</th><td data-figure="warehouse.${esc(t)}">${num(n)}</td></tr>`).join("");
    set("warehouse.load_errors", num(w.load_errors));
    const problems = (w.quarantine_reasons || []).map((q) => `<tr><td>quarantined: ${esc(q.reason)}</td><td class="n">${num(q.rows)}</td></tr>`)
      .concat((w.recent_load_errors || []).map((e) => `<tr><td class="bad-text">load error ${e.code}: ${esc(e.reason)}</td><td></td></tr>`));
    $('[data-list="warehouse.problems"]').innerHTML = problems.join("");
    state("stage-warehouse", w.load_errors ? "warn" : null);
  }
}

function drawGlue(runs) {
  const el = $('[data-list="glue.runs"]');
  if (!runs || !runs.length) { el.innerHTML = '<tr><td class="muted">no job run yet (make e2e runs one; so does <code>aws glue start-job-run --job-name sales-batch-load</code>)</td></tr>'; return; }
  el.innerHTML = `<tr><th>job</th><th>run</th><th>state</th><th>started</th><th class="n">duration</th><th class="n">rows read</th><th class="n">loaded</th><th class="n">quarantined</th><th>error</th></tr>` +
    runs.map((r) => `<tr data-run="${esc(r.id)}"><td>${esc(r.job)}</td><td title="${esc(r.id)}">${esc(r.id.slice(0, 14))}…</td>` +
      `<td class="${r.state === "SUCCEEDED" ? "ok-text" : /FAIL|ERROR|TIMEOUT/.test(r.state) ? "bad-text" : "warn-text"}" data-figure="glue.state">${esc(r.state)}</td>` +
      `<td>${new Date(r.started * 1000).toLocaleTimeString()}</td><td class="n">${secs(r.duration_s)}</td>` +
      `<td class="n" data-figure="glue.rows_read">${num(r.rows_read)}</td><td class="n" data-figure="glue.rows_loaded">${num(r.rows_loaded)}</td>` +
      `<td class="n" data-figure="glue.rows_quarantined">${num(r.rows_quarantined)}</td><td class="bad-text">${esc(r.error || "")}</td></tr>`).join("");
  state("stage-glue", /FAIL|ERROR|TIMEOUT/.test(runs[0].state) ? "bad" : null);
}

function drawQueues(queues) {
  const el = $('[data-list="queues"]');
  const head = `<tr><th>queue</th><th>function</th><th class="n">messages</th><th>shard</th><th>sequence numbers</th><th class="n">records</th><th>reason</th><th class="n">age</th></tr>`;
  const rows = [];
  (queues || []).forEach((q) => {
    const depth = q.visible + q.in_flight;
    const first = `<td>${esc(q.name)}</td><td>${esc(q.function || "")}</td><td class="n ${depth ? "bad-text" : ""}" data-figure="queue.${esc(q.name)}.depth">${num(depth)}</td>`;
    if (!q.batches.length) { rows.push(`<tr>${first}<td colspan="5" class="muted">${depth ? "listing…" : "empty"}</td></tr>`); return; }
    q.batches.forEach((b, i) => rows.push(`<tr data-batch="${esc(q.name)}">${i ? "<td></td><td></td><td></td>" : first}` +
      `<td>${esc(b.shard_id)}</td><td title="${esc(b.start_sequence)} … ${esc(b.end_sequence)}">${esc(b.start_sequence)} … ${esc(b.end_sequence)}</td>` +
      `<td class="n">${num(b.batch_size)}</td><td>${esc(b.reason)}</td><td class="n">${secs(b.age_s)}</td></tr>`));
    (q.problems || []).forEach((p) => rows.push(`<tr><td></td><td></td><td></td><td colspan="5" class="bad-text">${esc(p)}</td></tr>`));
  });
  el.innerHTML = head + rows.join("");
  const anyDepth = (queues || []).some((q) => q.visible + q.in_flight > 0);
  document.getElementById("queues").style.borderLeft = anyDepth ? "4px solid var(--bad)" : "";
}

function drawE2e(e2e) {
  if (!e2e) return;
  const when = new Date(e2e.written * 1000).toLocaleString();
  set("e2e.when", `${when} · ${e2e.ok ? "every sink reconciles" : "MISMATCH"} · ${e2e.data || ""}`);
  const sinks = Object.keys(e2e.sinks || {});
  let html = `<tr><th>figure</th><th class="n">source</th>${sinks.map((s) => `<th class="n">${esc(s)}</th>`).join("")}</tr>`;
  FIGURES.filter((f) => f in e2e.source).forEach((f) => {  // an older report may lack a figure
    html += `<tr><td>${f}</td><td class="n" data-e2e="source.${f}">${esc(e2e.source[f])}</td>` + sinks.map((s) => {
      const v = e2e.sinks[s];
      if (!v) return `<td class="n muted" data-e2e="${esc(s)}.${f}">n/a</td>`;
      const bad = String(v[f]) !== String(e2e.source[f]);
      return `<td class="n ${bad ? "bad-text" : ""}" data-e2e="${esc(s)}.${f}">${esc(v[f])}${bad ? " !" : ""}</td>`;
    }).join("") + "</tr>";
  });
  $('[data-list="e2e.table"]').innerHTML = html;
  const t = e2e.timings;
  const bars = [];
  if (t) {
    bars.push(["replay", t.replay_s]);
    Object.entries(t.sinks_caught_up_s || {}).forEach(([s, v]) => bars.push([s + " caught up", v]));
    if (t.batch_job_s !== null && t.batch_job_s !== undefined) bars.push(["batch job", t.batch_job_s]);
    bars.push(["reconciliation", t.reconciliation_s]);
    bars.push(["total", t.total_s]);
  }
  const top = Math.max(...bars.map((b) => b[1] || 0), 1);
  const starts = t && t.starts_s ? t.starts_s : {};
  $('[data-list="e2e.timings"]').innerHTML = bars.length
    ? '<div class="sub">phases, seconds from the first event sent</div>' + bars.map(([label, v]) => {
      const start = starts[label] || 0;
      return `<div class="bar"><span>${esc(label)}</span><span class="track"><span class="fill" style="left:${(start / top) * 100}%;width:${((v || 0) / top) * 100}%"></span></span><span class="n" data-timing="${esc(label)}">${secs(v)}</span></div>`;
    }).join("")
    : '<span class="muted">no timings in this reconciliation</span>';
}

function draw(snap) {
  history.push(rates(snap));
  while (history.length && history[0].t < snap.at - HISTORY_S) history.shift();
  drawApi(snap.api);
  const fns = snap.functions || {};
  Object.keys(fns).forEach((name) => drawFunction(name, fns[name]));
  state("stage-ingest", fns["sales-ingest"] && fns["sales-ingest"].errors ? "warn" : fns["sales-ingest"] && fns["sales-ingest"].invocations ? null : "idle");
  drawKinesis(snap.kinesis || {});
  drawConsumer("sales-projector", consumer(snap, "sales-projector"), "stage-projector");
  drawConsumer("sales-archiver", consumer(snap, "sales-archiver"), "stage-archiver");
  drawConsumer("firehose", consumer(snap, "firehose"), "stage-firehose");
  drawFirehose(snap);
  drawSinks(snap);
  drawGlue(snap.glue);
  drawQueues(snap.queues);
  drawE2e(snap.e2e);
  ["api", "kinesis", "dynamodb", "archive", "warehouse"].forEach(spark);
  const errors = Object.entries(snap.errors || {});
  const status = $("#status");
  status.classList.toggle("stale", errors.length > 0);
  status.textContent = `updated ${new Date(snap.at * 1000).toLocaleTimeString()} · collected in ${ms(snap.collect_ms)}` +
    (errors.length ? " · cannot read: " + errors.map(([k, v]) => `${k} (${v})`).join("; ") : "");
  document.body.dataset.updated = String(snap.at);
}

async function tick() {
  try {
    const resp = await fetch(SNAPSHOT, { cache: "no-store" });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    draw(await resp.json());
  } catch (err) {
    const status = $("#status");
    status.classList.add("stale");
    status.textContent = `the local cloud does not answer (${err.message}); retrying every second`;
  }
  setTimeout(tick, EVERY_MS);
}

tick();
