// The adaptive search of an experiment view: where it stands, the optimisation history, a slice
// plot per searched parameter and the parameters' importance (of a comparison of optimizers: every
// optimizer's search trials together, its final runs aside) — from the experiment's `search`,
// GET /experiments/{id}/trials and GET /experiments/{id}/importance. experiment.js calls
// `refresh(detail)` on every load of the experiment, so the panel is live with the page.
"use strict";

const SearchPanel = (() => {
  const { el, api, $ } = OT;
  const COMPLETE = "#1f77b4";
  const BEST = "#d62728";
  const TRIAL_SCALE = [[0, "#9ecae1"], [1, "#08306b"]];  // slice plots: later trials darker
  // a pruned trial has no objective: it is drawn at its last reported one, as an orange cross
  const PRUNED = { color: "#b54708", symbol: "x-thin-open", size: 9, line: { width: 2, color: "#b54708" } };

  const panel = {
    lastReported: new Map(),  // run id → the last objective a pruned trial reported (final)
    complete: null,           // complete trials at the last importance request
    wanted: null,             // complete trials now
    importance: null,         // the request in flight
  };

  // -- data --------------------------------------------------------------------------------
  // the last reported objective of the pruned trials not looked up before (pruning is final)
  async function loadLastReported(trials, metric) {
    const wanted = trials.filter((t) => t.status === "pruned" && !panel.lastReported.has(t.run_id))
      .map((t) => t.run_id);
    if (!wanted.length) return;
    const found = await Charts.series(wanted, [metric]);
    for (const id of wanted) {
      const s = found.get(`${id}\u0000${metric}`);
      panel.lastReported.set(id, s && s.values.length ? s.values[s.values.length - 1] : NaN);
    }
  }

  // an ISO time in microseconds since the epoch (Date keeps milliseconds only)
  function micros(iso) {
    const extra = (iso.match(/\.\d{3}(\d{1,3})/) || [null, "0"])[1];
    return Date.parse(iso) * 1000 + Number(extra.padEnd(3, "0"));
  }

  // the finished trials in order of completion, each with what the charts plot: `y` (the
  // objective, or a pruned trial's last report; NaN when there is none) and `pruned`
  function finished(trials) {
    return trials.filter((t) => t.finished_at)
      .sort((a, b) => micros(a.finished_at) - micros(b.finished_at) || a.number - b.number)
      .map((t, i) => {
        const pruned = t.status === "pruned";
        const y = pruned ? panel.lastReported.get(t.run_id) : t.value === null ? NaN : OT.value(t.value);
        return { ...t, order: i + 1, pruned, y: Number.isFinite(y) ? y : NaN };
      });
  }

  function paramText(t) {
    return Object.entries(t.params).map(([k, v]) => `${k} = ${OT.configValue(v)}`).join("<br>")
      .replace(/%/g, "%%");
  }

  // a markers trace of `trials` at (x(t), t.y); `marker` styles it
  function points(trials, x, name, marker, metric) {
    return { type: "scatter", mode: "markers", name, x: trials.map(x), y: trials.map((t) => t.y),
      customdata: trials.map((t) => t.run_id), marker, text: trials.map(paramText),
      hovertemplate: trials.map((t) => `trial ${t.number}`
        + (t.pruned ? ` (pruned after ${t.evaluations} evaluation${t.evaluations === 1 ? "" : "s"})` : "")
        + `<br>${metric} %{y}<br>%{text}<extra></extra>`) };
  }

  // -- rendering ---------------------------------------------------------------------------
  function renderProgress(search, objective, trials) {
    const box = $("search-progress");
    Object.assign(box.dataset, { method: search.method, done: search.done, trials: search.trials,
                                 inFlight: search.in_flight, pruned: search.pruned });
    const best = search.best_run_id && trials.find((t) => t.run_id === search.best_run_id);
    box.replaceChildren(
      el("strong", {}, search.method), " · ",
      el("span", { id: "search-done" }, `${search.done}/${search.trials} trials done`), " · ",
      el("span", { id: "search-in-flight" }, `${search.in_flight} in flight`), " · ",
      el("span", { id: "search-pruned", class: search.pruned ? "status pruned" : null }, `${search.pruned} pruned`), " · ",
      search.best_run_id
        ? el("span", { id: "search-best" }, `best ${objective.metric} (${objective.mode}) `,
          el("strong", {}, OT.num(search.best_value)), " by ",
          el("a", { href: `/runs/${search.best_run_id}`, id: "search-best-run" },
            best ? `trial ${best.number}` : "the best run"))
        : el("span", { id: "search-best", class: "muted" }, "no complete trial yet"));
  }

  function renderHistory(done, objective, planned) {
    const { metric, mode } = objective;
    const drawn = done.filter((t) => !Number.isNaN(t.y));
    const complete = drawn.filter((t) => !t.pruned);
    const pick = mode === "max" ? Math.max : Math.min;
    let best = null;
    const bestSoFar = complete.map((t) => (best = best === null ? t.y : pick(best, t.y)));
    const missing = done.length - drawn.length;
    const traces = [
      points(complete, (t) => t.order, "complete", { color: COMPLETE, size: 8 }, metric),
      { type: "scatter", mode: "lines", name: `best so far (${mode})`, x: complete.map((t) => t.order),
        y: bestSoFar, line: { color: BEST, width: 2, shape: "hv" }, hoverinfo: "skip" },
    ];
    if (done.some((t) => t.pruned)) {
      traces.push(points(drawn.filter((t) => t.pruned), (t) => t.order, "pruned (last report)", PRUNED, metric));
    }
    const note = missing ? ` (${missing} without a finite objective, not drawn)` : "";
    return Charts.drawRuns($("search-history"), traces, Charts.layout(`optimisation history${note}`, {
      // the whole search on the axis from the start: it fills up while the page watches
      xaxis: { title: { text: "trials in order of completion" }, range: [0.5, planned + 0.5],
               dtick: Math.max(1, Math.ceil(planned / 10)) },
      yaxis: { title: { text: metric } } }));
  }

  function renderSlices(done, objective, space) {
    const box = $("search-slices");
    const drawn = done.filter((t) => !Number.isNaN(t.y));
    return Promise.all(Object.entries(space).map(([param, dist]) => {
      let node = box.querySelector(`.slice-plot[data-param="${CSS.escape(param)}"]`);
      if (!node) box.append(node = el("div", { class: "chart slice-plot", dataset: { param } }));
      const has = drawn.filter((t) => param in t.params);
      const x = Object.keys(dist)[0] === "choice" ? (t) => OT.configValue(t.params[param]) : (t) => t.params[param];
      const complete = has.filter((t) => !t.pruned);
      const traces = [points(complete, x, "complete", { color: complete.map((t) => t.number), size: 8,
        colorscale: TRIAL_SCALE, showscale: true,
        colorbar: { title: { text: "trial" }, thickness: 10 } }, objective.metric)];
      if (has.some((t) => t.pruned)) {
        traces.push(points(has.filter((t) => t.pruned), x, "pruned (last report)", PRUNED, objective.metric));
      }
      return Charts.drawRuns(node, traces, Charts.layout(`${objective.metric} vs ${param}`, {
        showlegend: false, xaxis: Charts.spaceAxis(param, dist), yaxis: { title: { text: objective.metric } } }));
    }));
  }

  function renderImportance(found) {
    const note = $("search-importance-note");
    const chart = $("search-importance");
    chart.hidden = !found.importances;  // shown before it is drawn: plotly sizes it then
    if (!found.importances) {
      note.hidden = false;
      note.textContent = found.complete_trials < found.needed
        ? `Parameter importance needs ${found.needed} complete trials (${found.complete_trials} so far).`
        : `No parameter importance: the parameters do not vary among the ${found.complete_trials} complete trials.`;
      return Charts.purge(chart);
    }
    note.hidden = true;
    const entries = Object.entries(found.importances).sort((a, b) => a[1] - b[1]);  // largest on top
    return Charts.draw(chart, [{ type: "bar", orientation: "h",
      x: entries.map((e) => e[1]), y: entries.map((e) => e[0]), marker: { color: COMPLETE },
      text: entries.map((e) => e[1].toFixed(3)), textposition: "auto",
      hovertemplate: "%{y}: %{x:.3f}<extra></extra>" }],
    Charts.layout(`parameter importance (fANOVA, ${found.complete_trials} complete trials)`, {
      margin: { l: 140, r: 20, t: 40, b: 45 }, xaxis: { title: { text: "importance" }, range: [0, 1] } }));
  }

  // importances again only when the complete trials changed (the evaluator takes up to ~1 s),
  // one request at a time, the last change asked for once the one in flight is back; the page
  // does not wait for it
  function refreshImportance(experimentId, complete) {
    panel.wanted = complete;
    if (panel.importance || complete === panel.complete) return;
    panel.complete = complete;
    panel.importance = api(`/api/v1/experiments/${experimentId}/importance`)
      .then(renderImportance)
      .catch((err) => OT.showFailure($("search-importance-note"), err))
      .finally(() => {
        panel.importance = null;
        if (panel.wanted !== panel.complete) refreshImportance(experimentId, panel.wanted);
      });
  }

  // a comparison of optimizers: its searches' trials over its tuned fields, importances per
  // optimizer (not asked for here: its own page compares the optimizers)
  function renderCompared(detail) {
    const note = $("search-importance-note");
    note.hidden = false;
    note.replaceChildren("Every optimizer has a search of its own: see ",
      el("a", { href: `/experiments/${detail.id}/comparison` }, "the comparison"), ".");
  }

  async function refresh(detail) {
    if (!detail.search) return;
    $("search").hidden = false;
    const listing = await api(`/api/v1/experiments/${detail.id}/trials`);
    const { objective } = listing;
    const trials = listing.trials.filter((t) => !t.final);  // a comparison's final runs aside
    const request = detail.request.search;
    await loadLastReported(trials, objective.metric);
    const done = finished(trials);
    await Promise.all([renderHistory(done, objective, detail.search.trials),
                       renderSlices(done, objective, request.space || request.tune)]);
    renderProgress(detail.search, objective, trials);  // last: the charts show at least as much
    if (detail.comparison) renderCompared(detail);
    else refreshImportance(detail.id, trials.filter((t) => t.value !== null).length);
  }

  return { refresh };
})();
