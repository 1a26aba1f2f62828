// Run view: config, status with progress, attempts timeline, a chart per metric, error text.
"use strict";

(() => {
  const { el, api, $ } = OT;
  const runId = $("run").dataset.runId;
  let run = null;

  function renderRun() {
    const meta = [
      run.experiment_id ? el("a", { href: `/experiments/${run.experiment_id}`, id: "experiment-link" }, "experiment") : "external run",
      ` · project ${run.project} · created ${OT.when(run.created_at)}`,
      run.started_at ? ` · started ${OT.when(run.started_at)}` : "",
      run.finished_at ? ` · took ${OT.duration(run.started_at || run.created_at, run.finished_at)}` : "",
      run.tags.length ? ` · tags: ${run.tags.join(", ")}` : "",
    ];
    $("run-meta").replaceChildren(...meta);
    $("run-status").replaceChildren(OT.statusCell(run));
    $("run-progress").textContent = run.total_steps
      ? `step ${run.step ?? 0} of ${run.total_steps}` : (run.step != null ? `step ${run.step}` : "");
    $("run-error").hidden = !run.error;
    $("run-error").textContent = run.error || "";
    $("cancel-run").hidden = !OT.ACTIVE.has(run.status);
    const flat = OT.flatten(run.config);
    const summary = OT.flatten(run.summary || {}, "summary");
    $("run-config").tBodies[0].replaceChildren(...Object.entries({ ...flat, ...summary }).map(([k, v]) =>
      el("tr", { dataset: { field: k } }, el("th", {}, k),
        el("td", {}, OT.configValue(v)))));
    renderSelect();
  }

  function renderSelect() {
    $("select-run").textContent = OT.selection.has(runId) ? "Remove from compare" : "Add to compare";
  }

  async function renderAttempts() {
    const { attempts } = await api(`/api/v1/runs/${runId}/attempts`);
    $("attempts").tBodies[0].replaceChildren(...attempts.map((a) => el("tr", { dataset: { attempt: a.attempt } },
      el("td", {}, a.attempt), el("td", {}, a.worker_id), el("td", {}, OT.when(a.started_at)),
      el("td", {}, OT.when(a.ended_at)), el("td", {}, OT.duration(a.started_at, a.ended_at)),
      el("td", {}, el("span", { class: `status ${a.outcome || "running"}` }, a.outcome || "running"),
        a.error ? el("div", { class: "muted" }, a.error.slice(0, 300)) : null))));
    if (!attempts.length) { $("attempts-timeline").hidden = true; return; }
    $("attempts-timeline").hidden = false;
    const now = new Date().toISOString();
    const traces = attempts.map((a) => ({
      type: "scatter", mode: "lines+markers", name: `attempt ${a.attempt}`,
      x: [a.started_at, a.ended_at || now], y: [`#${a.attempt}`, `#${a.attempt}`],
      line: { width: 10, color: a.outcome === "succeeded" ? "#067647" : a.outcome ? "#b54708" : "#2563eb" },
      hovertemplate: `attempt ${a.attempt} on ${a.worker_id}: ${a.outcome || "running"}<extra></extra>`,
    }));
    await Charts.draw($("attempts-timeline"), traces, Charts.layout("", {
      showlegend: false, height: 60 + 30 * attempts.length, margin: { l: 40, r: 20, t: 10, b: 30 },
      xaxis: { type: "date" }, yaxis: { autorange: "reversed" } }));
  }

  async function renderMetrics() {
    const { series } = await api(`/api/v1/runs/${runId}/metrics?max_points=${Charts.MAX_POINTS}`);
    const box = $("metric-charts");
    const drawn = [];
    for (const s of series) {
      let node = box.querySelector(`.metric-chart[data-key="${CSS.escape(s.key)}"]`);
      if (!node) {
        node = el("div", { class: "chart metric-chart", dataset: { key: s.key } });
        box.append(node);
      }
      const note = s.downsampled ? ` (${s.steps.length} of ${s.total_points} points)` : "";
      drawn.push(Charts.draw(node, [{ type: "scatter", mode: s.steps.length > 1 ? "lines" : "markers",
        x: s.steps, y: s.values.map(OT.value), name: s.key, line: { width: 1.5 } }],
      Charts.layout(`${s.key}${note}`, { xaxis: { title: { text: "step" } }, showlegend: false })));
    }
    await Promise.all(drawn);
    if (!series.length && !box.children.length) box.append(el("p", { class: "muted" }, "No metrics logged yet."));
    else box.querySelectorAll("p.muted").forEach((p) => p.remove());
  }

  async function load() {
    run = await api(`/api/v1/runs/${runId}`);
    renderRun();
    await Promise.all([renderAttempts(), renderMetrics()]);
  }

  $("select-run").addEventListener("click", () => {
    OT.selection.toggle(runId, !OT.selection.has(runId));
    renderSelect();
  });
  $("cancel-run").addEventListener("click", async () => {
    try {
      run = await api(`/api/v1/runs/${runId}/cancel`, { method: "POST" });
      renderRun();
    } catch (err) { alert(err.message); }
  });

  load().then(() => {
    document.body.dataset.ready = "1";
    OT.poll(async () => {
      if (!OT.ACTIVE.has(run.status)) return false;
      await load();
      return true;
    }, 1000);
  }).catch((err) => OT.showFailure($("run-error"), err));
})();
