// Experiment view: an adaptive search's panel (search.js), summary, charts (curves, final metric
// vs lr, parallel coordinates) and the runs table with the query-language filter; live while runs
// are queued or running.
"use strict";

(() => {
  const { el, api, state, $ } = OT;
  const experimentId = $("experiment").dataset.experimentId;
  const MAX_CURVES = 200;
  const view = {
    runs: [], detail: null, series: new Map(), seriesKey: null, filter: state.get("filter", ""),
    sort: state.get("sort", "name"), desc: state.get("desc") === "1",
  };
  Charts.wireControls(view, {
    metric: async () => { await loadSeries([]); await renderCharts(); },
    log: () => { renderCurves(); renderLr(); },
    smoothing: renderCurves,
  });

  // -- data -------------------------------------------------------------------------------
  async function loadDetail() {
    view.detail = await api(`/api/v1/experiments/${experimentId}`);
    renderDetail();
    await SearchPanel.refresh(view.detail);  // an adaptive search's panel (nothing for a grid)
  }

  async function loadRuns() {
    const params = { experiment: experimentId };
    if (view.filter.trim()) params.filter = view.filter.trim();
    try {
      view.runs = await OT.allRuns(params);
      OT.showError($("filter-error"), null);
    } catch (err) {
      if (err.status !== 422) throw err;
      OT.showError($("filter-error"), err);  // the query language's own message and position
      view.runs = [];
    }
  }

  // series of the chosen metric for `runs` (all of them when the metric changed)
  async function loadSeries(runs) {
    const shown = sortedRuns().slice(0, MAX_CURVES);
    if (view.seriesKey !== view.metric) {
      view.series = new Map();
      view.seriesKey = view.metric;
      runs = shown;
    }
    const wanted = runs.filter((r) => shown.includes(r)).map((r) => r.id);
    if (!view.metric || !wanted.length) return;
    const found = await Charts.series(wanted, [view.metric]);
    for (const [k, s] of found) view.series.set(k, s);
  }

  // -- rendering ---------------------------------------------------------------------------
  function renderDetail() {
    const d = view.detail;
    $("experiment-meta").textContent =
      `${d.project} · ${d.run_ids.length} runs · created ${OT.when(d.created_at)}` +
      (d.tags.length ? ` · tags: ${d.tags.join(", ")}` : "");
    $("status-counts").replaceChildren(...Object.entries(d.status_counts)
      .map(([s, n]) => el("span", { class: `status ${s}` }, `${n} ${s}`)));
    renderSummary(d.summary);
  }

  function renderSummary(rows) {
    const fields = Charts.varyingFields(rows.map((r) => ({ config: r.config })));
    const keys = [...new Set(rows.flatMap((r) => Object.keys(r.metrics)))].sort();
    const cols = fields.length ? fields : ["optimizer.name"];
    $("summary-table").tHead.replaceChildren(el("tr", {},
      cols.map((f) => el("th", {}, f)), el("th", { class: "num" }, "runs"),
      keys.map((k) => el("th", { class: "num" }, k)), el("th", {}, "best run")));
    $("summary-table").tBodies[0].replaceChildren(...rows.map((r) => {
      const flat = OT.flatten(r.config);  // summary rows are configs, not runs
      return el("tr", {},
        cols.map((f) => el("td", {}, OT.num(flat[f]))), el("td", { class: "num" }, r.runs),
        keys.map((k) => {
          const m = r.metrics[k] || { n: 0 };  // a config whose runs have not logged k (yet)
          const text = m.n > 1 ? `${OT.num(m.mean)} ± ${OT.num(m.std)}` : m.n ? OT.num(m.mean) : "–";
          return el("td", { class: "num", title: `${m.n} seed(s)` }, text);
        }),
        el("td", {}, r.best_run_id
          ? el("a", { href: `/runs/${r.best_run_id}` }, `by ${r.best_by}`) : "–"));
    }));
  }

  function columns() {
    const fields = Charts.varyingFields(view.runs).filter((f) => f !== "optimizer.name");
    const keys = Charts.metricKeys(view.runs);
    return [
      { key: "name", label: "name", get: (r) => r.name },
      { key: "status", label: "status", get: (r) => r.status },
      { key: "optimizer", label: "optimizer", get: Charts.optimizerOf },
      ...fields.map((f) => ({ key: `config:${f}`, label: f, num: true,
                              get: (r) => OT.flat(r)[f] })),
      ...keys.map((k) => ({ key: `metric:${k}`, label: k, num: true,
                            get: (r) => OT.value(r.metrics[k]) })),
    ];
  }

  function sortedRuns() {
    const cols = columns();
    const col = cols.find((c) => c.key === view.sort) || cols[0];
    const sign = view.desc ? -1 : 1;
    const rank = (v) => (v === undefined || v === null || Number.isNaN(v) ? 1 : 0);
    return [...view.runs].sort((a, b) => {
      const x = col.get(a), y = col.get(b);
      if (rank(x) || rank(y)) return rank(x) - rank(y);
      return sign * (typeof x === "number" && typeof y === "number" ? x - y
        : String(x).localeCompare(String(y), undefined, { numeric: true }));
    });
  }

  function renderRuns() {
    const cols = columns();
    $("runs-count").textContent = `${view.runs.length} shown`;
    $("runs-table").tHead.replaceChildren(el("tr", {}, el("th", {}, ""), cols.map((c) => el("th", {
      "data-key": c.key, class: c.num ? "num" : null,
      "data-sort": c.key === view.sort ? (view.desc ? "desc" : "asc") : null,
      onclick: () => sortBy(c.key),
    }, c.label))));
    $("runs-table").tBodies[0].replaceChildren(...sortedRuns().map((run) => el("tr",
      { dataset: { runId: run.id, status: run.status } },
      el("td", {}, el("input", { type: "checkbox", class: "select-run", title: "select to compare",
        checked: OT.selection.has(run.id), onchange: (e) => OT.selection.toggle(run.id, e.target.checked) })),
      el("td", {}, el("a", { href: `/runs/${run.id}` }, run.name)),
      el("td", { class: "status-col" }, OT.statusCell(run)),
      el("td", {}, Charts.optimizerOf(run)),
      cols.slice(3).map((c) => el("td", { class: "num" }, OT.num(c.key.startsWith("metric:")
        ? run.metrics[c.key.slice(7)] : c.get(run)))))));
  }

  function sortBy(key) {
    view.desc = view.sort === key ? !view.desc : false;
    view.sort = key;
    state.set({ sort: key === "name" ? null : key, desc: view.desc });
    renderRuns();
    loadSeries([]).then(renderCharts).catch((err) => OT.showError($("filter-error"), err));
  }

  function renderCurves() {
    const shown = sortedRuns().slice(0, MAX_CURVES);
    const traces = Charts.curveTraces(shown, view.series, view.metric, { smoothing: view.smoothing });
    const note = view.runs.length > MAX_CURVES ? ` (first ${MAX_CURVES} of ${view.runs.length} runs)` : "";
    return Charts.draw($("curves"), traces, Charts.layout(`${view.metric}${note}`, {
      xaxis: { title: { text: "step" } },
      yaxis: { title: { text: view.metric }, type: view.log ? "log" : "linear" },
    }));
  }

  function renderLr() {
    const groups = new Map();
    for (const run of view.runs) {
      const lr = ((run.config || {}).optimizer || {}).lr;
      const y = OT.value(run.metrics[view.metric]);
      if (typeof lr !== "number" || !Number.isFinite(y)) continue;
      const g = Charts.optimizerOf(run);
      if (!groups.has(g)) groups.set(g, { x: [], y: [], text: [], ids: [], symbols: [] });
      const t = groups.get(g);
      const pruned = run.status === "pruned";  // its last value, not a final one: an open marker
      t.x.push(lr); t.y.push(y); t.text.push(pruned ? `${run.name} (pruned)` : run.name); t.ids.push(run.id);
      t.symbols.push(pruned ? "circle-open" : "circle");
    }
    const order = Charts.byOptimizer([...groups.keys()].map((g) => ({ name: g, config: { optimizer: { name: g } } })))
      .map((r) => r.name);
    const traces = order.map((g) => [g, groups.get(g)]).map(([g, t]) => ({ type: "scatter", mode: "markers", name: g,
      x: t.x, y: t.y, text: t.text, customdata: t.ids, marker: { color: Charts.color(g), size: 8, symbol: t.symbols },
      hovertemplate: "%{text}<br>lr %{x}<br>%{y}<extra></extra>" }));
    const pruned = view.runs.some((r) => r.status === "pruned") ? " (open: pruned, last value)" : "";
    return Charts.draw($("lr-plot"), traces, Charts.layout(`final ${view.metric} vs learning rate${pruned}`, {
      xaxis: { type: "log", title: { text: "learning rate" } },
      yaxis: { title: { text: view.metric }, type: view.log ? "log" : "linear" },
    }));
  }

  function renderParcoords() {
    const runs = view.runs.filter((r) => Number.isFinite(OT.value(r.metrics[view.metric])));
    // axes for the fields every run has (one optimizer's own hyperparameters would be blank
    // for the others)
    const dims = Charts.varyingFields(runs).filter((f) => runs.every((r) => f in OT.flat(r)))
      .map((f) => dimension(f, runs)).filter(Boolean);
    const values = runs.map((r) => OT.value(r.metrics[view.metric]));
    if (!runs.length) return Charts.purge($("parcoords"));
    dims.push({ label: view.metric, values });
    return Charts.draw($("parcoords"), [{ type: "parcoords", dimensions: dims,
      line: { color: values, colorscale: "Viridis", showscale: true } }],
    Charts.layout(`hyperparameters → ${view.metric}`, { margin: { l: 60, r: 60, t: 90, b: 30 },
                                                        title: { text: `hyperparameters → ${view.metric}`, y: 0.98, font: { size: 14 } } }));
  }

  // a parallel-coordinates axis for a config field: numbers (log10 when they span decades)
  // or categories
  function dimension(field, runs) {
    const raw = runs.map((r) => OT.flat(r)[field]);
    if (raw.every((v) => typeof v === "number")) {
      const positive = raw.every((v) => v > 0);
      const span = positive ? Math.max(...raw) / Math.min(...raw) : 0;
      return span >= 100 ? { label: `log10 ${field}`, values: raw.map(Math.log10) }
        : { label: field, values: raw };
    }
    const names = [...new Set(raw.map((v) => JSON.stringify(v ?? null)))].sort();
    if (names.length > 30) return null;
    return { label: field, values: raw.map((v) => names.indexOf(JSON.stringify(v ?? null))),
             tickvals: names.map((_, i) => i), ticktext: names.map((n) => n.replace(/^"|"$/g, "")) };
  }

  // The parallel coordinates are WebGL: with software rendering one draw costs more than the
  // rest of the page together, so they are drawn only while on screen (and when idle), once the
  // page's first render has placed them where they belong.
  const parcoords = { stale: true, enabled: false };
  const observer = new IntersectionObserver(() => maybeParcoords());

  function onScreen(node) {
    const box = node.getBoundingClientRect();
    return box.bottom > 0 && box.top < window.innerHeight;
  }

  function maybeParcoords() {
    if (!parcoords.enabled || !parcoords.stale || !onScreen($("parcoords"))) return;
    parcoords.stale = false;
    Charts.later(renderParcoords);
  }

  function renderCharts() {
    const main = Promise.all([renderCurves(), renderLr()]);
    main.then(() => { parcoords.stale = true; maybeParcoords(); });
    return main;
  }

  function chooseMetric() {
    const keys = Charts.metricKeys(view.runs);
    const objective = $("experiment").dataset.objective;  // a search's, before it is logged
    if (!keys.includes(view.metric)) view.metric = view.metric || objective || Charts.defaultMetric(keys);
    Charts.fillSelect($("metric-select"), keys.includes(view.metric) ? keys : [...keys, view.metric].filter(Boolean), view.metric);
  }

  // -- events ------------------------------------------------------------------------------
  $("filter-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    view.filter = $("run-filter").value;
    state.set({ filter: view.filter.trim() });
    await refresh(true);
  });
  $("compare-selected").addEventListener("click", () => { location.href = OT.selection.url(); });

  // deletion, for admins of the experiment's project (a soft delete, undone from Settings)
  async function offerDelete() {
    const me = await api("/api/v1/me");
    const admin = me.superuser || me.projects[view.detail.project] === "admin";
    $("delete-experiment").hidden = !(admin && me.scopes.includes("write") && me.scopes.includes("admin"));
  }
  $("delete-experiment").addEventListener("click", async () => {
    if (!confirm(`Delete the experiment "${view.detail.name}"? Its queued and running runs are cancelled; `
                 + "a project admin can restore it from Settings.")) return;
    try {
      await api(`/api/v1/experiments/${experimentId}`, { method: "DELETE" });
      location.href = "/settings#deleted";
    } catch (err) { alert(err.message); }
  });

  async function refresh(all) {
    const before = new Map(view.runs.map((r) => [r.id, r.status]));
    await loadRuns();
    chooseMetric();
    // new series for runs that are running or changed state since the last look
    const changed = all ? view.runs : view.runs.filter((r) => r.status === "running" || before.get(r.id) !== r.status);
    if (all) view.seriesKey = null;
    await loadSeries(changed);
    renderRuns();
    await renderCharts();
  }

  async function start() {
    $("run-filter").value = view.filter;
    await Promise.all([loadDetail().then(offerDelete), refresh(true)]);
    const pointRuns = view.runs.some((r) => ((r.config || {}).model || {}).kind === "point");
    $("trajectories-link").hidden = !pointRuns;
    document.body.dataset.ready = "1";  // the view is interactive (browser tests and bench wait on it)
    parcoords.enabled = true;
    observer.observe($("parcoords"));
    OT.poll(async () => {
      const active = view.runs.some((r) => OT.ACTIVE.has(r.status))
        || Object.keys(view.detail.status_counts).some((s) => OT.ACTIVE.has(s));
      if (active) await Promise.all([refresh(false), loadDetail()]);
      return true;
    }, 1000);
  }

  start().catch((err) => { OT.showError($("filter-error"), err); console.error(err); });
})();
