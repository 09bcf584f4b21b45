// The StrataCache node's live web view: polls v1/stats (relative, so the
// page works behind a path prefix), fills the tables and keeps three uPlot
// charts of the last minutes. No framework, no build step; every server
// string goes into the page through textContent, never as HTML.
"use strict";

(function () {
  const POLL_MS = 1000;
  const RETRY_MS = 2000;
  const TIMEOUT_MS = 5000;
  const MAX_POINTS = 600;

  const $ = (id) => document.getElementById(id);

  // Chart data, columnar as uPlot wants it: x in unix seconds.
  const series = { t: [], hit: [], loads: [], stores: [], rbytes: [], wbytes: [] };
  let lastT = 0;
  let charts = null;

  function fmtInt(n) {
    return n == null ? "–" : Math.round(n).toLocaleString("en-US");
  }
  function fmtBytes(n) {
    if (n == null) return "–";
    const u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let i = 0;
    let v = Math.abs(n);
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (n < 0 ? "-" : "") + (i === 0 ? v.toFixed(0) : v.toFixed(v < 10 ? 2 : 1)) + " " + u[i];
  }
  function fmtRate(n) { return n == null ? "–" : fmtBytes(n) + "/s"; }
  function fmtPct(r) { return r == null ? "–" : (100 * r).toFixed(1) + "%"; }
  function fmtDur(s) {
    if (s < 1) return (1000 * s).toFixed(0) + " ms";
    if (s < 120) return s.toFixed(1) + " s";
    if (s < 7200) return (s / 60).toFixed(1) + " min";
    if (s < 172800) return (s / 3600).toFixed(1) + " h";
    return (s / 86400).toFixed(1) + " d";
  }

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }
  function barCell(tr, used, total, highAt) {
    const td = document.createElement("td");
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("div");
    const r = total > 0 ? Math.min(1, used / total) : 0;
    fill.style.width = (100 * r).toFixed(1) + "%";
    if (r >= highAt) bar.classList.add("high");
    bar.title = total > 0 ? (100 * r).toFixed(1) + "%" : "no bound";
    bar.appendChild(fill);
    td.appendChild(bar);
    tr.appendChild(td);
  }
  // fill replaces a table body's rows: one row per item, built by row(tr, item).
  function fill(tableId, items, row) {
    const body = $(tableId).tBodies[0];
    const rows = [];
    for (const it of items) {
      const tr = document.createElement("tr");
      row(tr, it);
      rows.push(tr);
    }
    body.replaceChildren(...rows);
  }

  function renderHeader(st) {
    $("node-name").textContent = st.node || "";
    document.title = "StrataCache " + (st.node || "node");
    const ready = $("ready");
    ready.textContent = st.ready ? "ready" : "not ready";
    ready.className = "badge " + (st.ready ? "ok" : "bad");
    $("degraded").hidden = !st.degraded;
    $("version").textContent = st.version || "";
    $("uptime").textContent = fmtDur((Date.parse(st.time) - Date.parse(st.started)) / 1000);
    $("updated").textContent = new Date(st.time).toLocaleTimeString();
  }

  function renderCards(st) {
    const o = st.ops;
    $("stat-loads").textContent = fmtInt(o.loads);
    $("stat-stores").textContent = fmtInt(o.stores);
    let dirty = 0;
    for (const l of st.links) dirty += l.dirty_bytes;
    $("stat-dirty").textContent = fmtBytes(dirty);
    const c = st.cluster;
    $("stat-directory").textContent = c ? fmtInt(c.directory_entries) : "–";
    $("stat-remote").textContent = c ? fmtInt(c.remote_fetches) : "–";
    const n = series.t.length;
    if (n > 0) {
      const i = n - 1;
      $("stat-ops").textContent = fmtInt(series.loads[i] + series.stores[i]);
      $("stat-bytes").textContent = fmtRate(series.rbytes[i]) + " / " + fmtRate(series.wbytes[i]);
      // Hit rate over the last minute, weighted by each sample's loads.
      const from = series.t[i] - 60;
      let hits = 0, loads = 0;
      for (let k = i; k >= 0 && series.t[k] > from; k--) {
        if (series.hit[k] != null) { hits += series.hit[k] / 100 * series.loads[k]; loads += series.loads[k]; }
      }
      $("stat-hitrate").textContent = loads > 0 ? fmtPct(hits / loads) : "–";
    }
  }

  function renderMembers(st) {
    const c = st.cluster;
    $("members-empty").hidden = !!c;
    fill("members-table", c ? c.members : [], (tr, m) => {
      cell(tr, m.name + (m.self ? " (this node)" : ""));
      cell(tr, m.state, "state state-" + m.state);
      cell(tr, m.gossip_addr || "");
      cell(tr, m.native_addr || "");
      cell(tr, m.resp_addr || "");
      cell(tr, m.state === "failed" ? "" : fmtInt(m.load), "num");
      cell(tr, m.pool_tier || "");
      cell(tr, m.pool_tier ? fmtBytes(m.pool_capacity_bytes - m.pool_free_bytes) : "", "num");
      cell(tr, m.pool_tier ? fmtBytes(m.pool_free_bytes) : "", "num");
    });
  }

  function renderTiers(st) {
    fill("tiers-table", st.tiers, (tr, t) => {
      cell(tr, t.name);
      cell(tr, t.kind);
      // failed: an fsync or msync failed and the tier refuses writes until reopened;
      // down: its actor exceeded its restart budget.
      const state = t.failed ? "failed" : t.down ? "down" : "ok";
      cell(tr, state, "state state-" + (state === "ok" ? "alive" : "failed"));
      cell(tr, fmtBytes(t.capacity_bytes), "num");
      cell(tr, fmtBytes(t.used_bytes), "num");
      cell(tr, fmtBytes(t.free_bytes), "num");
      barCell(tr, t.used_bytes, t.capacity_bytes, 0.95);
      cell(tr, fmtInt(t.artifacts), "num");
      cell(tr, fmtInt(t.hits), "num");
      cell(tr, fmtInt(t.misses), "num");
      cell(tr, fmtPct(t.hit_rate), "num");
      cell(tr, fmtInt(t.evictions), "num");
      cell(tr, fmtInt(t.promotions), "num");
      cell(tr, fmtInt(t.demotions), "num");
    });
  }

  function renderLinks(st) {
    fill("links-table", st.links, (tr, l) => {
      cell(tr, l.upper + " → " + l.lower);
      cell(tr, l.policy);
      cell(tr, l.down ? "down" : "ok", "state state-" + (l.down ? "failed" : "alive"));
      cell(tr, fmtBytes(l.dirty_bytes), "num");
      cell(tr, l.max_dirty_bytes > 0 ? fmtBytes(l.max_dirty_bytes) : "–", "num");
      barCell(tr, l.dirty_bytes, l.max_dirty_bytes, 0.9);
      cell(tr, fmtInt(l.dirty_artifacts), "num");
      cell(tr, fmtDur(l.flush_lag_seconds), "num");
      cell(tr, fmtInt(l.flushed), "num");
      cell(tr, fmtInt(l.flush_failures), "num");
      cell(tr, fmtInt(l.backpressure_waits), "num");
    });
  }

  function renderRemote(st) {
    const c = st.cluster;
    $("remote").hidden = !c;
    fill("remote-table", c ? [c] : [], (tr, r) => {
      cell(tr, fmtInt(r.remote_hits), "num");
      cell(tr, fmtInt(r.remote_misses), "num");
      cell(tr, fmtInt(r.remote_fetches), "num");
      cell(tr, fmtBytes(r.remote_fetch_bytes), "num");
      cell(tr, fmtInt(r.remote_demotes), "num");
      cell(tr, fmtBytes(r.remote_demote_bytes), "num");
      cell(tr, fmtInt(r.remote_peer_failures), "num");
      cell(tr, fmtInt(r.served_fetches), "num");
      cell(tr, fmtBytes(r.served_fetch_bytes), "num");
    });
  }

  function renderServers(st) {
    fill("servers-table", st.servers, (tr, s) => {
      cell(tr, s.protocol);
      cell(tr, s.addr);
      cell(tr, fmtInt(s.connections), "num");
      cell(tr, fmtInt(s.requests), "num");
      cell(tr, fmtInt(s.hits), "num");
      cell(tr, fmtInt(s.misses), "num");
      cell(tr, fmtInt(s.protocol_errors), "num");
      cell(tr, fmtInt(s.auth_failures), "num");
    });
  }

  function renderErrors(st) {
    const errs = st.errors.slice().reverse(); // newest first
    $("errors-empty").hidden = errs.length > 0;
    fill("errors-table", errs, (tr, e) => {
      cell(tr, new Date(e.time).toLocaleTimeString());
      cell(tr, e.level, "level-" + e.level);
      cell(tr, e.message, "wrap");
      cell(tr, e.attrs || "", "wrap");
    });
  }

  function appendHistory(st) {
    for (const s of st.history) {
      if (s.t <= lastT) continue;
      lastT = s.t;
      series.t.push(s.t / 1000);
      series.hit.push(s.hit_rate == null ? null : 100 * s.hit_rate);
      series.loads.push(s.loads_per_sec);
      series.stores.push(s.stores_per_sec);
      series.rbytes.push(s.read_bytes_per_sec);
      series.wbytes.push(s.write_bytes_per_sec);
    }
    const extra = series.t.length - MAX_POINTS;
    if (extra > 0) for (const k in series) series[k].splice(0, extra);
  }

  function makeChart(el, lines, yValues, range) {
    const opts = {
      width: Math.max(el.clientWidth, 300),
      height: 200,
      scales: { x: { time: true }, y: range ? { range: range } : {} },
      series: [{}].concat(lines.map((l) => ({ label: l.label, stroke: l.color, width: 2, value: (u, v) => (v == null ? "–" : l.fmt(v)) }))),
      axes: [{}, { values: (u, vals) => vals.map(yValues), size: 84 }],
      legend: { live: true },
    };
    return new uPlot(opts, [[]].concat(lines.map(() => [])), el);
  }

  function initCharts() {
    if (typeof uPlot === "undefined") return null; // the library failed to load: tables still work
    const pct = (v) => v.toFixed(0) + "%";
    return {
      hit: makeChart($("chart-hitrate"), [{ label: "hit rate", color: "#2b6cb0", fmt: (v) => v.toFixed(1) + "%" }], pct, () => [0, 100]),
      bytes: makeChart($("chart-bytes"), [
        { label: "read", color: "#2f855a", fmt: fmtRate },
        { label: "write", color: "#c05621", fmt: fmtRate },
      ], fmtBytes),
      ops: makeChart($("chart-ops"), [
        { label: "loads/s", color: "#2b6cb0", fmt: fmtInt },
        { label: "stores/s", color: "#b83280", fmt: fmtInt },
      ], (v) => fmtInt(v)),
    };
  }

  function renderCharts() {
    if (!charts) charts = initCharts();
    if (!charts) return;
    charts.hit.setData([series.t, series.hit]);
    charts.bytes.setData([series.t, series.rbytes, series.wbytes]);
    charts.ops.setData([series.t, series.loads, series.stores]);
    // For tests and curious readers: how many points, and the largest.
    const peak = (...cols) => Math.max(0, ...cols.flat().filter((v) => v != null));
    for (const [id, cols] of [["chart-hitrate", [series.hit]], ["chart-bytes", [series.rbytes, series.wbytes]], ["chart-ops", [series.loads, series.stores]]]) {
      $(id).dataset.points = String(series.t.length);
      $(id).dataset.peak = String(peak(...cols));
    }
  }

  window.addEventListener("resize", () => {
    if (!charts) return;
    for (const [k, id] of [["hit", "chart-hitrate"], ["bytes", "chart-bytes"], ["ops", "chart-ops"]]) {
      charts[k].setSize({ width: Math.max($(id).clientWidth, 300), height: 200 });
    }
  });

  function render(st) {
    appendHistory(st);
    renderHeader(st);
    renderCards(st);
    renderMembers(st);
    renderTiers(st);
    renderLinks(st);
    renderRemote(st);
    renderServers(st);
    renderErrors(st);
    $("config-text").textContent = st.config || "";
    renderCharts();
    document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
  }

  async function poll() {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
    const conn = $("conn");
    try {
      const r = await fetch("v1/stats?since=" + lastT, { signal: ctl.signal, cache: "no-store" });
      if (!r.ok) throw new Error("HTTP " + r.status);
      render(await r.json());
      conn.textContent = "live";
      conn.className = "conn";
      setTimeout(poll, POLL_MS);
    } catch (e) {
      conn.textContent = "disconnected (" + e.message + "), retrying";
      conn.className = "conn bad";
      setTimeout(poll, RETRY_MS);
    } finally {
      clearTimeout(timer);
    }
  }

  poll();
})();
