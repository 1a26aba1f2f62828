// Trajectories view: for runs on a 2-D test function, the contour of f with each optimizer's path
// (the course's figure: SGD, Momentum, AdaGrad, Adam from (−7, 2) on x²/20 + y²).
"use strict";

(() => {
  const { el, api, state, $ } = OT;
  const surfaces = new Map();
  let runs = [];

  async function loadRuns() {
    const experiment = state.get("experiment");
    const ids = (state.get("runs", "") || "").split(",").filter(Boolean);
    if (experiment) return OT.allRuns({ experiment });
    const found = await Promise.all(ids.map((id) => api(`/api/v1/runs/${encodeURIComponent(id)}`).catch(() => null)));
    return found.filter(Boolean);
  }

  async function surface(name) {
    if (!surfaces.has(name)) surfaces.set(name, await api(`/api/v1/functions/${encodeURIComponent(name)}/surface?points=120`));
    return surfaces.get(name);
  }

  function label(run) {
    const opt = run.config.optimizer || {};
    return `${opt.name} (lr ${OT.num(opt.lr)})`;
  }

  async function draw(fn, members) {
    const [s, paths] = await Promise.all([surface(fn),
      Charts.series(members.map((r) => r.id), ["x", "y"], 2000)]);
    const traces = [{ type: "contour", x: s.x, y: s.y, z: s.z, showscale: false, ncontours: 30,
      colorscale: "Greys", reversescale: true, opacity: 0.45, hoverinfo: "skip",
      contours: { coloring: "lines" }, line: { width: 1 } }];
    for (const run of members) {
      const xs = paths.get(`${run.id}\u0000x`) || { values: [] };
      const ys = paths.get(`${run.id}\u0000y`) || { values: [] };
      const group = Charts.optimizerOf(run);
      traces.push({ type: "scatter", mode: "lines+markers", name: label(run), x: xs.values, y: ys.values,
        customdata: [run.id], line: { color: Charts.color(group), width: 2 }, marker: { size: 5 },
        hovertemplate: `${label(run)}<br>x %{x:.4f}<br>y %{y:.4f}<extra></extra>` });
    }
    if (s.minimum) {
      traces.push({ type: "scatter", mode: "markers", name: "minimum", x: [s.minimum[0]], y: [s.minimum[1]],
        marker: { symbol: "star", size: 14, color: "black" } });
    }
    let node = document.querySelector(`.trajectory-plot[data-function="${CSS.escape(fn)}"]`);
    if (!node) {
      node = el("div", { class: "chart trajectory-plot", dataset: { function: fn }, style: "min-height:560px" });
      $("trajectory-plots").append(node);
    }
    await Charts.draw(node, traces, Charts.layout(`${fn}: f(x, y) = ${s.formula}`, {
      height: 560, xaxis: { range: [s.x[0], s.x[s.x.length - 1]], title: { text: "x" } },
      yaxis: { range: [s.y[0], s.y[s.y.length - 1]], title: { text: "y" } } }));
  }

  async function render() {
    runs = await loadRuns();
    const byFunction = new Map();
    for (const run of runs) {
      const model = (run.config || {}).model || {};
      if (model.kind !== "point") continue;
      if (!byFunction.has(model.function)) byFunction.set(model.function, []);
      byFunction.get(model.function).push(run);
    }
    $("trajectories-empty").hidden = byFunction.size > 0;
    await Promise.all([...byFunction].map(([fn, members]) => draw(fn, Charts.byOptimizer(members))));
  }

  render().then(() => {
    document.body.dataset.ready = "1";
    OT.poll(async () => {
      if (runs.some((r) => OT.ACTIVE.has(r.status))) await render();
      return true;
    }, 1000);
  }).catch((err) => OT.showFailure($("trajectories-empty"), err));
})();
