// Compare view: any runs from any experiments → overlaid curves and the config fields that differ.
"use strict";

(() => {
  const { el, api, state, $ } = OT;
  const view = {
    ids: (state.get("runs", "") || "").split(",").map((s) => s.trim()).filter(Boolean),
    runs: [], series: new Map(), all: state.get("all") === "1", experiments: new Map(),
  };
  Charts.wireControls(view, { metric: renderCurves, log: drawCurves, smoothing: drawCurves });
  if (!view.ids.length) view.ids = OT.selection.ids();
  state.set({ runs: view.ids.join(",") });

  async function loadRuns() {
    const found = await Promise.all(view.ids.map((id) => api(`/api/v1/runs/${encodeURIComponent(id)}`)
      .catch((err) => (err.status === 404 ? null : Promise.reject(err)))));
    view.runs = found.filter(Boolean);
    const wanted = [...new Set(view.runs.map((r) => r.experiment_id)
      .filter((e) => e && !view.experiments.has(e)))];
    await Promise.all(wanted.map(async (id) => {
      const detail = await api(`/api/v1/experiments/${id}`).catch(() => null);
      view.experiments.set(id, detail ? detail.name : id);
    }));
  }

  function label(run) { return run.name; }

  function renderRuns() {
    $("compare-empty").hidden = view.runs.length > 0;
    $("compare-runs").tBodies[0].replaceChildren(...view.runs.map((run) => el("tr", { dataset: { runId: run.id } },
      el("td", {}, el("span", { class: "swatch", style: `color:${Charts.color(run.id)}` }, "■ "),
        el("a", { href: `/runs/${run.id}` }, run.name)),
      el("td", {}, run.experiment_id ? el("a", { href: `/experiments/${run.experiment_id}` },
        view.experiments.get(run.experiment_id) || run.experiment_id) : "external"),
      el("td", {}, OT.statusCell(run)),
      el("td", {}, el("button", { type: "button", class: "remove-run", onclick: () => remove(run.id) }, "remove")))));
  }

  function renderDiff() {
    const flats = view.runs.map((r) => OT.flatten(r.config));
    const fields = [...new Set(flats.flatMap(Object.keys))].sort();
    const differs = (f) => new Set(flats.map((x) => JSON.stringify(x[f] ?? null))).size > 1;
    const shown = view.all ? fields : fields.filter(differs);
    $("config-diff").tHead.replaceChildren(el("tr", {}, el("th", {}, "field"),
      view.runs.map((r) => el("th", {}, label(r)))));
    const show = (v) => (v === undefined ? "—" : OT.configValue(v));
    $("config-diff").tBodies[0].replaceChildren(...(shown.length ? shown.map((f) =>
      el("tr", { dataset: { field: f }, class: differs(f) ? "diff" : null }, el("th", {}, f),
        flats.map((x) => el("td", { class: "value" }, show(x[f])))))
      : [el("tr", {}, el("td", { colspan: view.runs.length + 1, class: "muted" },
        view.runs.length > 1 ? "The configs are identical." : "Select two or more runs."))]));
  }

  async function renderCurves() {
    if (!view.runs.length || !view.metric) return Charts.purge($("curves"));
    view.series = await Charts.series(view.runs.map((r) => r.id), [view.metric]);
    return drawCurves();
  }

  function drawCurves() {
    const traces = Charts.curveTraces(view.runs, view.series, view.metric,
      { smoothing: view.smoothing, colorBy: (r) => r.id, label, legendByRun: true });
    return Charts.draw($("curves"), traces, Charts.layout(view.metric, {
      xaxis: { title: { text: "step" } },
      yaxis: { title: { text: view.metric }, type: view.log ? "log" : "linear" } }));
  }

  function remove(id) {
    view.ids = view.ids.filter((x) => x !== id);
    view.runs = view.runs.filter((r) => r.id !== id);
    OT.selection.toggle(id, false);
    state.set({ runs: view.ids.join(",") });
    render();
  }

  async function render() {
    const keys = Charts.metricKeys(view.runs);
    if (!keys.includes(view.metric)) view.metric = Charts.defaultMetric(keys);
    Charts.fillSelect($("metric-select"), keys, view.metric);
    renderRuns();
    renderDiff();
    await renderCurves();
  }

  $("show-all-fields").addEventListener("change", (e) => {
    view.all = e.target.checked; state.set({ all: view.all }); renderDiff();
  });

  async function start() {
    $("show-all-fields").checked = view.all;
    await loadRuns();
    await render();
    document.body.dataset.ready = "1";
    OT.poll(async () => {
      if (view.runs.some((r) => OT.ACTIVE.has(r.status))) { await loadRuns(); await render(); }
      return true;
    }, 1000);
  }

  start().catch((err) => OT.showFailure($("compare-empty"), err));
})();
