// Comparison view of a fair comparison of optimizers ("method": "compare"): the ranking of the
// final runs (mean ± std, 95 % interval), the Holm-adjusted significance of every pair, the final
// runs' objective as mean ± std over seeds per step, and each optimizer's sensitivity to its tuned
// fields (its search trials) — from GET /experiments/{id} (its `comparison`), its trials and the
// final runs' metrics; live until every optimizer is done.
"use strict";

(() => {
  const { el, api, $ } = OT;
  const experimentId = $("comparison").dataset.experimentId;
  const SETTLED = new Set(["done", "no complete trial"]);
  const STATUS_CLASS = { searching: "running", "final runs": "running", done: "succeeded",
                         "no complete trial": "failed" };
  const view = {
    detail: null, trials: [],
    series: new Map(),  // final run id → its objective's series
    seen: new Map(),    // final run id → its status when its series was read
  };

  // -- data --------------------------------------------------------------------------------
  // the detail first: once it says an optimizer is done, the trials read after it show its
  // final runs ended, so their series are read whole before the page stops polling
  async function load() {
    view.detail = await api(`/api/v1/experiments/${experimentId}`);
    view.trials = (await api(`/api/v1/experiments/${experimentId}/trials`)).trials;
    await loadFinalSeries();
  }

  // the objective of the final runs not read before, running, or changed state since
  async function loadFinalSeries() {
    const metric = view.detail.comparison.objective.metric;
    const stale = view.trials.filter((t) => t.final
      && (OT.ACTIVE.has(t.status) || view.seen.get(t.run_id) !== t.status));
    if (!stale.length) return;
    const found = await Charts.series(stale.map((t) => t.run_id), [metric]);
    for (const t of stale) {
      view.series.set(t.run_id, found.get(`${t.run_id}\u0000${metric}`) || { steps: [], values: [] });
      view.seen.set(t.run_id, t.status);
    }
  }

  // the optimizers by rank once ranked (those without one last), else in the request's order
  function ranked() {
    const rank = (r) => (r.rank === null ? Infinity : r.rank);
    return [...view.detail.comparison.optimizers].sort((a, b) => rank(a) - rank(b));
  }

  function settled(rows) {
    return rows.every((r) => SETTLED.has(r.status));
  }

  // an optimizer's trials that have ended: its search's (final false) or its final runs
  function ended(optimizer, final) {
    return view.trials.filter((t) => t.optimizer === optimizer && t.final === final && t.finished_at);
  }

  // -- the tables --------------------------------------------------------------------------
  function renderProgress(rows) {
    const { search, comparison, request } = view.detail;
    const finalsDone = view.trials.filter((t) => t.final && t.finished_at).length;
    const inFlight = view.trials.filter((t) => OT.ACTIVE.has(t.status)).length;  // final runs too
    const done = rows.filter((r) => SETTLED.has(r.status)).length;
    const planned = rows.filter((r) => r.status !== "no complete trial").length * comparison.final_seeds;
    const box = $("comparison-progress");
    Object.assign(box.dataset, { settled: String(settled(rows)), done, optimizers: rows.length,
                                 trials: search.done, finals: finalsDone });
    box.replaceChildren(el("strong", {}, `compare · ${request.search.sampler || "tpe"}`), " · ",
      el("span", { id: "comparison-done" }, `${done}/${rows.length} optimizers done`), " · ",
      `${search.done}/${search.trials} search trials done · ${inFlight} in flight · `,
      el("span", { class: search.pruned ? "status pruned" : null }, `${search.pruned} pruned`), " · ",
      `${finalsDone}/${planned} final runs done`);
  }

  function statusText(r) {
    const counts = r.status === "final runs"
      ? ` (${ended(r.optimizer, true).length}/${view.detail.comparison.final_seeds} ended)` : "";
    return el("span", { class: `status ${STATUS_CLASS[r.status]}` }, r.status + counts);
  }

  function tunedText(r) {
    if (!r.best_params) return "—";
    const entries = Object.entries(r.best_params);
    return entries.length ? entries.map(([k, v]) => `${k} = ${OT.configValue(v)}`).join(", ") : "(nothing tuned)";
  }

  // the final runs' summary cells; before they have all ended, "running" (or "—": not started)
  function finalCells(r) {
    const f = r.final;
    if (!f) {
      const missing = r.status === "final runs" ? "running" : "—";
      return ["mean", "ci95", "n"].map((col) => cell(col, missing, "muted"));
    }
    const lost = [f.diverged && `${f.diverged} diverged`, f.failed && `${f.failed} failed`].filter(Boolean);
    return [
      cell("mean", f.mean === null ? "—" : `${OT.num(f.mean)}${f.std === null ? "" : ` ± ${OT.num(f.std)}`}`),
      cell("ci95", f.ci95 ? `[${OT.num(f.ci95[0])}, ${OT.num(f.ci95[1])}]` : "—"),
      cell("n", `${f.n}${lost.length ? ` (${lost.join(", ")})` : ""}`),
    ];
  }

  function cell(col, content, extra = null) {
    return el("td", { class: ["num", extra].filter(Boolean).join(" "), "data-col": col }, content);
  }

  function renderRanking(rows) {
    const { objective, final_seeds: seeds } = view.detail.comparison;
    $("ranking-note").textContent = `each optimizer's best config on ${seeds} fresh seeds, ranked by the final `
      + `mean of ${objective.metric} (${objective.mode})${settled(rows) ? "" : " once every optimizer is done"}`;
    $("ranking").tBodies[0].replaceChildren(...rows.map((r) => el("tr",
      { dataset: { optimizer: r.optimizer, status: r.status } },
      cell("rank", r.rank === null ? "—" : r.rank),
      el("td", { "data-col": "optimizer" },
        el("span", { class: "swatch", style: `background:${Charts.color(r.optimizer)}` }), r.optimizer),
      el("td", { "data-col": "tuned" }, tunedText(r)),
      cell("search", `${ended(r.optimizer, false).length}/${r.budget}${r.pruned ? ` (${r.pruned} pruned)` : ""}`),
      cell("best", r.best_run_id ? el("a", { href: `/runs/${r.best_run_id}` }, OT.num(r.best_value)) : "—"),
      finalCells(r),
      el("td", { "data-col": "status" }, statusText(r)))));
  }

  // row × column: the pair's Holm-adjusted p, shaded when significant (green: the row's
  // optimizer has the better final mean)
  function renderSignificance(rows) {
    const { pairs, alpha, objective } = view.detail.comparison;
    const names = rows.map((r) => r.optimizer);
    const mean = new Map(rows.map((r) => [r.optimizer, r.final && r.final.mean]));
    const better = (a, b) => (objective.mode === "min" ? mean.get(a) < mean.get(b) : mean.get(a) > mean.get(b));
    const found = new Map(pairs.flatMap((p) => [[`${p.a}\u0000${p.b}`, p], [`${p.b}\u0000${p.a}`, p]]));
    $("significance-note").textContent = pairs.length
      ? `Welch's t-test of each pair's final runs, p Holm-adjusted; shaded: significant at α = ${alpha} `
        + "(green: the row's optimizer is better)"
      : "once every optimizer's final runs have ended";
    $("significance").tHead.replaceChildren(el("tr", {}, el("th", {}, ""),
      names.map((n) => el("th", { class: "num" }, n))));
    $("significance").tBodies[0].replaceChildren(...names.map((a) => el("tr", { dataset: { optimizer: a } },
      el("th", {}, a),
      names.map((b) => (a === b ? el("td", { class: "num diag muted" }, "")
        : pairCell(a, b, found.get(`${a}\u0000${b}`), better))))));
  }

  function pairCell(a, b, pair, better) {
    const at = { a, b };
    if (!pair) return el("td", { class: "num muted", dataset: at }, "—");
    if (pair.p_holm === null) {
      return el("td", { class: "num muted", dataset: { ...at, significant: "false" },
                        title: "undefined: under two finite values a side, or no spread" }, "n/a");
    }
    const verdict = pair.significant ? ` significant ${better(a, b) ? "better" : "worse"}` : "";
    return el("td", { class: `num${verdict}`, dataset: { ...at, significant: String(pair.significant) },
                      title: `${a} vs ${b}: Welch p = ${OT.num(pair.p_value)}, `
                        + `Holm-adjusted p = ${OT.num(pair.p_holm)}` },
      OT.num(pair.p_holm));
  }

  // -- the charts --------------------------------------------------------------------------
  // mean and sample standard deviation of the finite values at each step of `series`
  function band(series) {
    const byStep = new Map();
    for (const s of series) {
      s.steps.forEach((step, i) => {
        if (!Number.isFinite(s.values[i])) return;
        if (!byStep.has(step)) byStep.set(step, []);
        byStep.get(step).push(s.values[i]);
      });
    }
    const steps = [...byStep.keys()].sort((x, y) => x - y);
    const stats = steps.map((step) => {
      const v = byStep.get(step);
      const m = v.reduce((a, x) => a + x, 0) / v.length;
      const sd = v.length > 1 ? Math.sqrt(v.reduce((a, x) => a + (x - m) ** 2, 0) / (v.length - 1)) : 0;
      return { m, sd, n: v.length };
    });
    return { steps, mean: stats.map((s) => s.m), std: stats.map((s) => s.sd), n: stats.map((s) => s.n) };
  }

  // an optimizer's final runs: a band of mean ± std and the mean's line
  function bandTraces(r, metric) {
    const b = band(r.final_run_ids.map((id) => view.series.get(id)).filter(Boolean));
    if (!b.steps.length) return [];
    const color = Charts.color(r.optimizer);
    const upper = b.mean.map((m, i) => m + b.std[i]);
    const lower = b.mean.map((m, i) => m - b.std[i]);
    return [
      { type: "scatter", mode: "lines", name: `${r.optimizer} ± std`, legendgroup: r.optimizer, showlegend: false,
        x: [...b.steps, ...[...b.steps].reverse()], y: [...upper, ...lower.reverse()], fill: "toself",
        fillcolor: Charts.fade(color, 0.2), line: { width: 0, color }, hoverinfo: "skip" },
      { type: "scatter", mode: "lines+markers", name: r.optimizer, legendgroup: r.optimizer, x: b.steps, y: b.mean,
        line: { color, width: 2 }, marker: { size: 4 },
        text: b.std.map((sd, i) => `${OT.num(sd)} (${b.n[i]} seed${b.n[i] === 1 ? "" : "s"})`),
        hovertemplate: `${r.optimizer}<br>step %{x}<br>${metric} %{y} ± %{text}<extra></extra>` },
    ];
  }

  function renderFinal(rows) {
    const { metric } = view.detail.comparison.objective;
    return Charts.draw($("final-curves"), rows.flatMap((r) => bandTraces(r, metric)),
      Charts.layout(`final runs: ${metric}, mean ± std over seeds`, {
        xaxis: { title: { text: "step" } }, yaxis: { title: { text: metric } } }));
  }

  // an optimizer's complete search trials at (their value of `param`, their objective); the best
  // a star
  function sensitivityTrace(r, param, choice, metric) {
    const x = choice ? (t) => OT.configValue(t.params[param]) : (t) => t.params[param];
    const trials = ended(r.optimizer, false).filter((t) => param in t.params && Number.isFinite(OT.value(t.value)))
      .sort((a, b) => (choice ? 0 : a.params[param] - b.params[param]));
    const best = trials.map((t) => t.run_id === r.best_run_id);
    return { type: "scatter", mode: choice ? "markers" : "lines+markers", name: r.optimizer,
      x: trials.map(x), y: trials.map((t) => OT.value(t.value)), customdata: trials.map((t) => t.run_id),
      text: trials.map((t) => t.number), line: { color: Charts.color(r.optimizer), width: 1 },
      marker: { color: Charts.color(r.optimizer), size: best.map((b) => (b ? 14 : 8)),
                symbol: best.map((b) => (b ? "star" : "circle")) },
      hovertemplate: `${r.optimizer} trial %{text}<br>${param} %{x}<br>${metric} %{y}<extra></extra>` };
  }

  // a chart per tuned field, a trace per optimizer that has it
  function renderSensitivity(rows) {
    const { metric } = view.detail.comparison.objective;
    const box = $("sensitivity");
    const search = view.trials.filter((t) => !t.final && t.finished_at);
    return Promise.all(Object.entries(view.detail.request.search.tune).map(([param, dist]) => {
      let node = box.querySelector(`.sensitivity-plot[data-param="${CSS.escape(param)}"]`);
      if (!node) box.append(node = el("div", { class: "chart sensitivity-plot", dataset: { param } }));
      const traces = rows.filter((r) => r.tuned.includes(param))
        .map((r) => sensitivityTrace(r, param, Object.keys(dist)[0] === "choice", metric));
      const mine = search.filter((t) => param in t.params);
      const pruned = mine.filter((t) => t.status === "pruned").length;
      const other = mine.length - pruned - traces.reduce((n, t) => n + t.x.length, 0);
      const left = [pruned && `${pruned} pruned`, other && `${other} without a finite objective`].filter(Boolean);
      const note = left.length ? ` (not drawn: ${left.join(", ")})` : "";
      return Charts.drawRuns(node, traces, Charts.layout(`${metric} vs ${param}${note}`, {
        xaxis: Charts.spaceAxis(param, dist), yaxis: { title: { text: metric } } }));
    }));
  }

  // -- live ----------------------------------------------------------------------------------
  // the tables and charts, the progress line last (it never claims more than they show)
  async function refresh() {
    await load();
    const rows = ranked();
    renderRanking(rows);
    renderSignificance(rows);
    await Promise.all([renderFinal(rows), renderSensitivity(rows)]);
    renderProgress(rows);
    return !settled(rows);
  }

  async function start() {
    const live = await refresh();
    document.body.dataset.ready = "1";  // the view is interactive (browser tests wait on it)
    if (live) OT.poll(refresh, 1000);
  }

  start().catch((err) => { OT.showFailure($("comparison-error"), err); console.error(err); });
})();
