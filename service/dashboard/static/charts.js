// optrack dashboard: chart helpers on top of plotly.js — series fetching, colours, smoothing.
"use strict";

const Charts = (() => {
  const PALETTE = ["#1f77b4", "#d62728", "#9467bd", "#ff7f0e", "#8c564b", "#2ca02c",
                   "#17becf", "#e377c2", "#bcbd22", "#7f7f7f"];
  const OPTIMIZER_ORDER = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"];
  const CONFIG = { responsive: true, displaylogo: false };
  const MAX_POINTS = 400;  // per series: the page never asks for full histories

  // a stable colour per label (optimizers in the catalog's order first)
  const assigned = new Map();
  function color(label) {
    if (!assigned.has(label)) {
      const known = OPTIMIZER_ORDER.indexOf(label);
      const used = new Set(assigned.values());
      let pick = known >= 0 ? PALETTE[known] : PALETTE.find((c) => !used.has(c));
      assigned.set(label, pick || PALETTE[assigned.size % PALETTE.length]);
    }
    return assigned.get(label);
  }

  // TensorBoard-style exponential moving average, debiased; weight 0 = raw values
  function smooth(values, weight) {
    if (!weight) return values;
    let last = 0, n = 0;
    return values.map((v) => {
      if (!Number.isFinite(v)) return v;
      last = last * weight + (1 - weight) * v;
      n += 1;
      return last / (1 - Math.pow(weight, n));
    });
  }

  // POST /metrics/query in chunks: Map "runId\u0000key" → {steps, values, total}
  async function series(runIds, keys, maxPoints = MAX_POINTS) {
    const out = new Map();
    const chunks = [];
    for (let i = 0; i < runIds.length; i += 1000) chunks.push(runIds.slice(i, i + 1000));
    await Promise.all(chunks.map(async (ids) => {
      const body = await OT.api("/api/v1/metrics/query",
        { json: { run_ids: ids, keys, max_points: maxPoints } });
      for (const s of body.series) {
        out.set(`${s.run_id}\u0000${s.key}`,
          { steps: s.steps, values: s.values.map(OT.value), total: s.total_points });
      }
    }));
    return out;
  }

  // a short label: "#3 adam lr=0.001" for "my experiment #3"
  function shortName(run) {
    const number = (run.name.match(/ (#\d+)$/) || [])[1];
    const opt = (run.config || {}).optimizer || {};
    if (!number || !opt.name) return run.name;
    return `${number} ${opt.name}${typeof opt.lr === "number" ? ` lr=${OT.num(opt.lr)}` : ""}`;
  }

  function optimizerOf(run) {
    const opt = (run.config || {}).optimizer;
    return (opt && opt.name) || "external";
  }

  // how a run stopped by its search's pruner is drawn: dotted and thinner, with a cross where
  // the pruner stopped it
  const PRUNED_LINE = { width: 1, dash: "dot" };
  function prunedEnd(n) {
    return { symbol: "x-thin-open", line: { width: 2 }, size: Array.from({ length: n }, (_, i) => (i === n - 1 ? 8 : 0)) };
  }

  // one line per run for `key`, coloured by `colorBy(run)` and grouped in the legend by it;
  // pruned runs dotted, with a legend entry saying so (a trace without customdata)
  function curveTraces(runs, found, key, { smoothing = 0, colorBy = optimizerOf, label = shortName,
                                       legendByRun = false } = {}) {
    const seen = new Set();
    const traces = runs.map((run) => {
      const s = found.get(`${run.id}\u0000${key}`) || { steps: [], values: [] };
      const group = colorBy(run);
      const first = !seen.has(group);
      const pruned = run.status === "pruned";
      seen.add(group);
      return {
        type: "scatter", mode: pruned ? "lines+markers" : "lines", x: s.steps, y: smooth(s.values, smoothing),
        // one legend entry per group (clicking it hides the group): a legend of 100 runs
        // costs more to draw than their curves
        name: legendByRun || !first ? label(run) : group, legendgroup: group, showlegend: first,
        line: { color: color(group), width: 1.5, ...(pruned ? PRUNED_LINE : {}) }, customdata: [run.id],
        ...(pruned ? { marker: { color: color(group), ...prunedEnd(s.steps.length) } } : {}),
        hovertemplate: `${label(run).replace(/%/g, "%%")}${pruned ? " (pruned)" : ""}`
          + `<br>step %{x}<br>${key} %{y}<extra></extra>`,
      };
    });
    if (runs.some((r) => r.status === "pruned")) {
      traces.push({ type: "scatter", mode: "lines+markers", x: [null], y: [null], name: "pruned (dotted, ×: stopped)",
                    legendgroup: "pruned", hoverinfo: "skip", line: { color: "#7f7f7f", ...PRUNED_LINE },
                    marker: { color: "#7f7f7f", ...prunedEnd(1) } });
    }
    return traces;
  }

  function layout(title, extra = {}) {
    return {
      title: { text: title, font: { size: 14 } }, margin: { l: 60, r: 20, t: 40, b: 45 },
      hovermode: "closest", legend: { font: { size: 11 } }, uirevision: "keep", ...extra,
    };
  }

  // metric keys across runs, wall-clock timings last
  function metricKeys(runs) {
    const keys = new Set();
    for (const run of runs) Object.keys(run.metrics || {}).forEach((k) => keys.add(k));
    return [...keys].sort((a, b) => (a === "step_time") - (b === "step_time") || a.localeCompare(b));
  }

  function defaultMetric(keys) {
    return ["val_loss", "train_loss", "f", "loss"].find((k) => keys.includes(k)) || keys[0] || "";
  }

  // flattened config paths whose values differ among the runs that have them (seeds included;
  // a field only some optimizers have is not a difference by itself)
  function varyingFields(runs) {
    const flats = runs.map((r) => (r.id ? OT.flat(r) : OT.flatten(r.config)));
    const paths = new Set(flats.flatMap(Object.keys));
    return [...paths].filter((p) => {
      const values = new Set(flats.filter((f) => p in f).map((f) => JSON.stringify(f[p])));
      return values.size > 1;
    }).sort();
  }

  // runs in the catalog's optimizer order, then by name: legends read SGD, Momentum, …
  function byOptimizer(runs) {
    const rank = (r) => {
      const i = OPTIMIZER_ORDER.indexOf(optimizerOf(r));
      return i < 0 ? OPTIMIZER_ORDER.length : i;
    };
    return [...runs].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name, undefined, { numeric: true }));
  }

  function fillSelect(select, keys, chosen) {
    const current = [...select.options].map((o) => o.value).join("\u0000");
    if (current !== keys.join("\u0000")) {
      select.replaceChildren(...keys.map((k) => OT.el("option", { value: k }, k)));
    }
    if (chosen && keys.includes(chosen)) select.value = chosen;
  }

  // the chart controls (templates/chart_controls.html), shared by the views that show curves and
  // kept in the URL (metric, log, smooth): `view` starts from the URL, and on a change `view` and
  // the URL follow before the matching callback redraws what the view shows
  function wireControls(view, { metric, log, smoothing }) {
    const { $, state } = OT;
    view.metric = state.get("metric", "");
    view.log = state.get("log") === "1";
    view.smoothing = Number(state.get("smooth", "0")) || 0;
    $("log-scale").checked = view.log;
    $("smoothing").value = String(view.smoothing);
    $("smoothing-value").textContent = String(view.smoothing);
    $("metric-select").addEventListener("change", (e) => {
      view.metric = e.target.value; state.set({ metric: view.metric }); metric();
    });
    $("log-scale").addEventListener("change", (e) => {
      view.log = e.target.checked; state.set({ log: view.log }); log();
    });
    $("smoothing").addEventListener("input", (e) => {
      view.smoothing = Number(e.target.value); $("smoothing-value").textContent = e.target.value;
      state.set({ smooth: view.smoothing || null }); smoothing();
    });
  }

  // the x axis of a searched parameter's values: categories (in the space's order) for a choice,
  // else the space's range (log10 for log_uniform) with a margin
  function spaceAxis(param, dist) {
    const kind = Object.keys(dist)[0];
    if (kind === "choice") {
      return { type: "category", categoryorder: "array", categoryarray: dist.choice.map(OT.configValue),
               title: { text: param } };
    }
    const log = kind === "log_uniform";
    const [low, high] = dist[kind].map((v) => (log ? Math.log10(v) : v));
    const pad = (high - low) * 0.04 || 0.5;
    return { type: log ? "log" : "linear", range: [low - pad, high + pad], title: { text: param } };
  }

  // "#1f77b4" → "rgba(31, 119, 180, alpha)": a band in a line's colour
  function fade(hex, alpha) {
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    return `rgba(${r}, ${g}, ${b}, ${alpha})`;
  }

  // plotly.js loads after the page's scripts (templates/plots.html): drawing waits for it
  let plotlyLoaded;
  const plotly = new Promise((resolve) => { plotlyLoaded = resolve; });
  if (window.Plotly) plotlyLoaded();

  async function draw(node, traces, lay) {
    await plotly;
    return Plotly.react(node, traces, lay, CONFIG);
  }

  // a chart of points whose customdata are run ids: a click on one opens its run
  async function drawRuns(node, traces, lay) {
    await draw(node, traces, lay);
    if (node.dataset.clickable) return;
    node.dataset.clickable = "1";
    node.on("plotly_click", (e) => {
      const id = e.points.length ? e.points[0].customdata : null;
      if (typeof id === "string") location.href = `/runs/${id}`;
    });
  }

  async function purge(node) {
    await plotly;
    Plotly.purge(node);
  }

  // run `fn` when the browser is idle (charts below the fold must not delay the page)
  function later(fn) {
    return new Promise((resolve) => {
      const run = () => Promise.resolve().then(fn).then(resolve, resolve);
      if (window.requestIdleCallback) requestIdleCallback(run, { timeout: 500 });
      else setTimeout(run, 50);
    });
  }

  return { color, smooth, series, shortName, optimizerOf, curveTraces, layout, metricKeys, defaultMetric,
           varyingFields, byOptimizer, fillSelect, wireControls, spaceAxis, fade, draw, drawRuns, purge, later, MAX_POINTS,
           plotlyLoaded: () => plotlyLoaded() };
})();
