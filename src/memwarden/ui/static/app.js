// memwarden findings console. No framework, no external resources.
// Finding text is attacker-controlled (process names, paths): it only ever reaches the page
// through textContent / text nodes, never innerHTML.
"use strict";

const FILTER_NAMES = ["signature", "severity", "host", "container", "image", "process", "since", "until"];
const SEV_NAMES = { 0: "info", 1: "low", 2: "medium", 3: "high" };
const SEV_COLOURS = { 0: "#d9d9de", 1: "#56B4E9", 2: "#E69F00", 3: "#B8420A" };
// Okabe-Ito, then two greys: series colours that stay apart for colour-blind readers
const SERIES_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000", "#999999"];
const PAGE = 200;

const state = { rows: new Map(), oldest: null, selected: null, source: null, chartTimer: null,
  loading: false, pending: [] };

function $(id) { return document.getElementById(id); }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined || c === "") continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

// -- filters <-> URL ---------------------------------------------------------------------------

function currentQuery() {
  const q = new URLSearchParams(location.search);
  const out = new URLSearchParams();
  for (const name of FILTER_NAMES) for (const v of q.getAll(name)) if (v) out.append(name, v);
  return out;
}

function fillForm(q) {
  const form = $("filters");
  for (const name of FILTER_NAMES) {
    if (name === "severity") continue;
    form.elements[name].value = q.getAll(name).join(",");
  }
  const sevs = new Set(q.getAll("severity").flatMap((v) => v.split(",")).map((v) => SEV_NAMES[v] || v));
  for (const box of form.querySelectorAll("input[name=severity]")) box.checked = sevs.has(box.value);
}

function formQuery() {
  const form = $("filters");
  const q = new URLSearchParams();
  for (const name of FILTER_NAMES) {
    if (name === "severity") continue;
    const v = form.elements[name].value.trim();
    if (v) q.set(name, v);
  }
  const sevs = [...form.querySelectorAll("input[name=severity]:checked")].map((b) => b.value);
  if (sevs.length) q.set("severity", sevs.join(","));
  return q;
}

function withQuery(path, q, extra) {
  const p = new URLSearchParams(q);
  for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
  const s = p.toString();
  return s ? `${path}?${s}` : path;
}

// -- data --------------------------------------------------------------------------------------

async function getJSON(url) {
  const resp = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!resp.ok) throw new Error((await resp.text()).trim() || `HTTP ${resp.status}`);
  return resp.json();
}

function showError(err) {
  const box = $("error");
  if (err) { box.textContent = String(err.message || err); box.hidden = false; } else box.hidden = true;
}

function fmtTime(ns) {
  const d = new Date(Number(ns) / 1e6);
  const today = new Date().toDateString() === d.toDateString();
  const hms = d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
  return today ? hms : `${d.toLocaleDateString()} ${hms}`;
}

function isoTime(ns) {
  const ms = Math.floor(Number(ns) / 1e6);
  return new Date(ms).toISOString();
}

function severityBadge(row) {
  const n = Number(row.severity);
  return el("span", { class: `badge sev-${n}`, title: row.priority ? `Falco priority ${row.priority}` : null },
    row.severity_name || SEV_NAMES[n] || String(n));
}

function shortId(id) { return id ? String(id).slice(0, 12) : ""; }

function rowNode(row) {
  const container = row.container_id || row.container_name
    ? el("span", {}, row.container_name || shortId(row.container_id),
      row.image ? el("span", { class: "sub" }, row.image) : null)
    : el("span", { class: "sub" }, "host");
  const tr = el("tr", { class: "finding", dataset: { id: row.id, signature: row.signature }, tabindex: "0" },
    el("td", { class: "time mono", title: isoTime(row.ts) }, fmtTime(row.ts)),
    el("td", { class: "severity" }, severityBadge(row)),
    el("td", { class: "signature" }, row.signature,
      row.name && row.name !== row.signature ? el("span", { class: "sub" }, row.name) : null),
    el("td", { class: "host" }, row.host),
    el("td", { class: "container" }, container),
    el("td", { class: "process" }, el("span", { class: "mono" }, row.process),
      row.pid !== null && row.pid !== undefined ? el("span", { class: "sub" }, `pid ${row.pid}`) : null),
    el("td", { class: "summary", title: row.summary }, row.summary));
  tr.addEventListener("click", () => openDetail(row.id));
  tr.addEventListener("keydown", (e) => { if (e.key === "Enter") openDetail(row.id); });
  if (state.selected === row.id) tr.classList.add("selected");
  return tr;
}

function updateEmpty() { $("empty").hidden = state.rows.size > 0; }

async function loadList() {
  const q = currentQuery();
  state.loading = true; // live findings arriving meanwhile wait in state.pending
  let data;
  try { data = await getJSON(withQuery("/api/findings", q, { limit: PAGE })); } finally { state.loading = false; }
  const body = $("rows");
  body.replaceChildren();
  state.rows.clear();
  for (const row of data.findings) { state.rows.set(row.id, row); body.append(rowNode(row)); }
  state.oldest = data.findings.length ? data.findings[data.findings.length - 1].id : null;
  $("more").hidden = data.findings.length >= data.total || !data.findings.length;
  setTotal(data.total);
  updateEmpty();
  fillSignatureList();
  const pending = state.pending.splice(0);
  for (const row of pending) addLive(row);
}

async function loadOlder() {
  if (state.oldest === null) return;
  const data = await getJSON(withQuery("/api/findings", currentQuery(), { limit: PAGE, before: state.oldest }));
  const body = $("rows");
  for (const row of data.findings) {
    if (state.rows.has(row.id)) continue;
    state.rows.set(row.id, row);
    body.append(rowNode(row));
  }
  if (data.findings.length) state.oldest = data.findings[data.findings.length - 1].id;
  $("more").hidden = data.findings.length < PAGE;
}

let total = 0;
function setTotal(n) { total = n; $("total").textContent = `${n} finding${n === 1 ? "" : "s"}`; }

function fillSignatureList() {
  const list = $("signature-list");
  const seen = new Set([...list.children].map((o) => o.value));
  for (const row of state.rows.values()) {
    if (seen.has(row.signature)) continue;
    seen.add(row.signature);
    list.append(el("option", { value: row.signature }, row.name));
  }
}

function addLive(row) {
  if (state.loading) { state.pending.push(row); return; }
  if (state.rows.has(row.id)) return;
  state.rows.set(row.id, row);
  const tr = rowNode(row);
  tr.classList.add("fresh");
  $("rows").prepend(tr);
  setTotal(total + 1);
  updateEmpty();
  fillSignatureList();
  scheduleChart();
}

// -- live stream -------------------------------------------------------------------------------

// Resolves once the stream is open (subscribed), so that the list loaded after it misses
// nothing; a stream that cannot open does not hold the page back for more than 3 s.
function connect() {
  if (state.source) state.source.close();
  const src = new EventSource(withQuery("/api/stream", currentQuery()));
  state.source = src;
  let first = true;
  let opened;
  const ready = new Promise((resolve) => { opened = resolve; setTimeout(resolve, 3000); });
  src.onopen = () => {
    $("live").textContent = "live";
    $("live").className = "live on";
    if (!first) loadList().catch(showError); // reconnected: fill what was missed
    first = false;
    opened();
  };
  src.addEventListener("finding", (e) => {
    try { addLive(JSON.parse(e.data)); } catch (err) { showError(err); }
  });
  src.onerror = () => { $("live").textContent = "reconnecting…"; $("live").className = "live off"; };
  return ready;
}

// -- chart -------------------------------------------------------------------------------------

function scheduleChart() {
  if (state.chartTimer) return;
  state.chartTimer = setTimeout(() => { state.chartTimer = null; loadChart().catch(showError); }, 1000);
}

async function loadChart() {
  const group = $("group").value;
  const data = await getJSON(withQuery("/api/counts", currentQuery(), { group }));
  drawChart(data);
}

function seriesLabel(group, key) {
  if (group === "severity") return SEV_NAMES[key] || key;
  if (group === "container") return key ? shortId(key) : "(host)";
  return key || "(none)";
}

function drawChart(data) {
  const chart = $("chart");
  chart.replaceChildren();
  const W = 900, H = 180, L = 36, B = 22, T = 8;
  const keys = Object.keys(data.series);
  if (data.group === "severity") keys.sort((a, b) => Number(b) - Number(a));
  const n = data.buckets;
  const sums = new Array(n).fill(0);
  for (const k of keys) data.series[k].forEach((c, i) => { sums[i] += c; });
  const max = Math.max(1, ...sums);
  const bw = (W - L) / n;
  for (const frac of [0, 0.5, 1]) {
    const y = T + (H - T - B) * (1 - frac);
    chart.append(svg("line", { class: "grid", x1: L, x2: W, y1: y, y2: y }));
    const label = svg("text", { class: "axis", x: L - 4, y: y + 4, "text-anchor": "end" });
    label.textContent = String(Math.round(max * frac));
    chart.append(label);
  }
  const colour = (k, i) => (data.group === "severity" ? SEV_COLOURS[k] : SERIES_COLOURS[i % SERIES_COLOURS.length]);
  const base = new Array(n).fill(0);
  keys.forEach((k, ki) => {
    data.series[k].forEach((c, i) => {
      if (!c) return;
      const h = (H - T - B) * (c / max);
      const y = T + (H - T - B) - base[i] * ((H - T - B) / max) - h;
      const rect = svg("rect", { x: L + i * bw + 1, y, width: Math.max(1, bw - 2), height: h, fill: colour(k, ki) });
      const tip = svg("title", {});
      tip.textContent = `${seriesLabel(data.group, k)}: ${c} (${fmtTime(data.start + i * data.step)})`;
      rect.append(tip);
      chart.append(rect);
      base[i] += c;
    });
  });
  if (data.total) {
    for (const [x, anchor, ns] of [[L, "start", data.start], [W, "end", data.start + n * data.step]]) {
      const t = svg("text", { class: "axis", x, y: H - 6, "text-anchor": anchor });
      t.textContent = fmtTime(ns);
      chart.append(t);
    }
  } else {
    const t = svg("text", { class: "axis", x: W / 2, y: H / 2, "text-anchor": "middle" });
    t.textContent = "no findings in this range";
    chart.append(t);
  }
  const legend = $("legend");
  legend.replaceChildren();
  keys.forEach((k, ki) => {
    const total = data.series[k].reduce((a, b) => a + b, 0);
    const sw = el("span", { class: "swatch" });
    sw.style.background = colour(k, ki);
    legend.append(el("li", { dataset: { key: k } }, sw, `${seriesLabel(data.group, k)} (${total})`));
  });
}

// -- detail ------------------------------------------------------------------------------------

function dl(node, pairs) {
  node.replaceChildren();
  let any = false;
  for (const [k, v] of pairs) {
    if (v === null || v === undefined || v === "") continue;
    any = true;
    node.append(el("dt", {}, k), el("dd", { class: "mono" }, typeof v === "object" ? JSON.stringify(v) : v));
  }
  if (!any) node.append(el("dt", {}, "—"), el("dd", {}, "not in this finding"));
}

function ancestorText(a) {
  // any shape: Tracee v1beta1 (hostPid, pid, thread.name, executable.path), Tracee legacy
  // (processName, hostProcessId ...), Falco's proc.aname[N]/apid[N] (name, pid): show what is there
  const name = a.processName || a.name || a.comm || (a.thread && a.thread.name) || "";
  const exe = (a.executable && a.executable.path) || a.exepath || a.exe || "";
  const parts = [];
  if (a.level !== undefined) parts.push(`[${a.level}]`);
  if (name) parts.push(name);
  if (exe && exe !== name) parts.push(exe);
  const pid = a.hostPid ?? a.hostProcessId;
  if (pid !== undefined) parts.push(`host pid ${pid}`);
  const nspid = a.pid ?? a.processId;
  if (nspid !== undefined && nspid !== pid) parts.push(`pid ${nspid}`);
  const rest = Object.entries(a).filter(([k]) => !["processName", "name", "comm", "thread", "executable", "exepath",
    "exe", "hostPid", "hostProcessId", "pid", "processId", "level"].includes(k));
  for (const [k, v] of rest) parts.push(`${k}=${typeof v === "object" ? JSON.stringify(v) : v}`);
  return parts.join("  ");
}

function mitreUrl(tid) {
  const m = /^T(\d{4})(?:\.(\d{3}))?$/.exec(tid || "");
  if (!m) return null;
  return `https://attack.mitre.org/techniques/T${m[1]}/${m[2] ? `${m[2]}/` : ""}`;
}

async function openDetail(id, push = true) {
  state.selected = id;
  for (const tr of document.querySelectorAll("tr.finding.selected")) tr.classList.remove("selected");
  const tr = document.querySelector(`tr.finding[data-id="${Number(id)}"]`);
  if (tr) tr.classList.add("selected");
  if (push) {
    const q = new URLSearchParams(location.search);
    q.set("finding", id);
    history.replaceState(null, "", `/?${q}`);
  }
  let f;
  try { f = await getJSON(`/api/findings/${Number(id)}`); } catch (err) { showError(err); return; }
  $("detail").hidden = false;
  $("detail-title").replaceChildren(severityBadge(f), " ", f.signature, f.name && f.name !== f.signature ? ` — ${f.name}` : "");
  $("detail-summary").textContent = f.summary || "";
  dl($("detail-process"), [["name", f.process], ["executable", f.exe], ["host pid", f.pid], ["uid", f.uid],
    ["event", f.event_name], ["time", isoTime(f.ts)], ["host", f.host], ["kind", f.kind]]);
  const anc = $("detail-ancestry");
  anc.replaceChildren();
  const parent = f.parent || {};
  const pp = [];
  for (const [k, v] of Object.entries(parent)) pp.push(`${k}=${typeof v === "object" ? JSON.stringify(v) : v}`);
  if (pp.length) anc.append(el("li", { class: "parent" }, `parent: ${pp.join("  ")}`));
  for (const a of f.ancestors || []) anc.append(el("li", { class: "ancestor mono" }, ancestorText(a)));
  if (!anc.children.length) anc.append(el("li", { class: "none" }, "no ancestry in this finding"));
  dl($("detail-container"), [["container id", f.container_id], ["container", f.container_name], ["image", f.image],
    ["pod", f.pod], ["namespace", f.namespace]]);
  const mitre = $("detail-mitre");
  mitre.replaceChildren();
  const url = mitreUrl(f.technique_id);
  if (f.technique_id || f.technique) {
    mitre.append(url ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, f.technique_id) : f.technique_id || "",
      f.technique ? ` ${f.technique}` : "");
  } else mitre.append("no technique in this finding");
  $("detail-raw").textContent = JSON.stringify(f.raw, null, 2);
  const manual = $("detail-manual");
  manual.textContent = "";
  $("detail-manual-box").hidden = !/^(TRC|MW)-\d+$/.test(f.signature);
  if (!$("detail-manual-box").hidden) {
    fetch(`/api/signatures/${encodeURIComponent(f.signature)}`, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : ""))
      .then((t) => { if (state.selected === id) manual.textContent = t || "no manual page"; });
  }
}

function closeDetail() {
  state.selected = null;
  $("detail").hidden = true;
  for (const tr of document.querySelectorAll("tr.finding.selected")) tr.classList.remove("selected");
  const q = new URLSearchParams(location.search);
  q.delete("finding");
  history.replaceState(null, "", q.toString() ? `/?${q}` : "/");
}

// -- start -------------------------------------------------------------------------------------

async function refresh() {
  const q = currentQuery();
  fillForm(q);
  $("export").href = withQuery("/api/export", q);
  showError(null);
  await connect();
  try {
    await loadList();
    await loadChart();
  } catch (err) { showError(err); }
  const f = new URLSearchParams(location.search).get("finding");
  if (f && /^\d+$/.test(f)) openDetail(Number(f), false);
}

document.addEventListener("DOMContentLoaded", () => {
  $("filters").addEventListener("submit", (e) => {
    e.preventDefault();
    history.pushState(null, "", withQuery("/", formQuery()));
    refresh();
  });
  $("clear").addEventListener("click", (e) => { e.preventDefault(); history.pushState(null, "", "/"); refresh(); });
  $("group").addEventListener("change", () => loadChart().catch(showError));
  $("more").addEventListener("click", () => loadOlder().catch(showError));
  $("detail-close").addEventListener("click", closeDetail);
  window.addEventListener("popstate", refresh);
  refresh();
});
