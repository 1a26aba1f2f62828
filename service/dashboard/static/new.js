// New experiment: a form built from the catalog; the API's validation errors appear next to
// the fields they name; on success, the experiment's page.
"use strict";

(() => {
  const { el, api, $ } = OT;
  const form = $("new-experiment");
  let catalog = null;

  const EXPERIMENT = {
    name: { type: "string", required: true, doc: "what this experiment tries" },
    project: { type: "string", default: "default", doc: "the project it belongs to" },
    tags: { type: "string", doc: "comma-separated labels" },
  };
  const SEARCH = {
    trials: { type: "int", required: true, rule: "must be an integer >= 1",
              doc: "trials in all (a random search without an objective: draws per grid point)" },
    parallelism: { type: "int", default: 4, rule: "must be an integer >= 1",
                   doc: "trials queued or running at once (adaptive searches)" },
    seed: { type: "int", default: 0, doc: "seed of the sampler", rule: "must be an integer >= 0" },
  };
  // a comparison of optimizers (method "compare"): every ticked optimizer's own search, then its
  // best config on fresh seeds
  const COMPARE = {
    budget: { type: "int", required: true, rule: "must be an integer >= 1", doc: "search trials per optimizer" },
    final_seeds: { type: "int", default: 5, rule: "must be an integer >= 2",
                   doc: "runs of each optimizer's best config, on fresh seeds" },
    sampler: { type: "choice", choices: ["tpe", "random", "cmaes", "qmc"], default: "tpe",
               doc: "the method of every optimizer's search" },
  };  // and the search's parallelism and seed
  const TUNED = ["optimizer.lr", "log_uniform", "1e-5, 1"];  // what a comparison tunes at first
  const ADAPTIVE = ["tpe", "cmaes", "qmc", "compare"];  // methods that need an objective
  const OBJECTIVE = {
    metric: { type: "string", doc: "the metric a trial is scored by (random: leave empty for independent draws)" },
    mode: { type: "choice", choices: ["min", "max"], default: "min", doc: "minimise or maximise it" },
    at: { type: "choice", choices: ["last", "best"], default: "last", doc: "a run's last value of it, or its best" },
  };
  // the API's pruners and their parameters (service/search/pruners.py); an evaluation is one
  // report of the objective, the resource the pruners count
  const COUNT = (doc, dflt, min) => ({ type: "int", default: dflt, doc, rule: `must be an integer >= ${min}` });
  const HALVING = {
    min_resource: COUNT("evaluations before a trial can first be stopped", 1, 1),
    reduction_factor: COUNT("each rung keeps the best 1/reduction_factor of the trials", 3, 2),
    min_early_stopping_rate: COUNT("rungs skipped at the start", 0, 0),
  };
  const PRUNERS = {
    none: { hyperparameters: {} },
    median: { hyperparameters: {
      n_startup_trials: COUNT("trials that end before any is stopped", 5, 0),
      n_warmup_steps: COUNT("evaluations of a trial before it can be stopped", 0, 0),
      interval_steps: COUNT("evaluations between checks", 1, 1) } },
    asha: { hyperparameters: HALVING },
    successive_halving: { hyperparameters: HALVING },
    hyperband: { hyperparameters: {
      min_resource: COUNT("evaluations before a trial can first be stopped", 1, 1),
      max_resource: { type: "int", required: true, doc: "evaluations of a full run (e.g. its epochs)",
                      rule: "must be an integer >= min_resource" },
      reduction_factor: COUNT("each rung keeps the best 1/reduction_factor of the trials", 3, 2) } },
  };
  const DISTRIBUTIONS = ["log_uniform", "uniform", "int_uniform", "choice"];

  function choiceField(path, label, options, value, onchange) {
    const select = el("select", { "data-path": path, id: `f-${path}`, onchange },
      options.map((o) => el("option", { value: o }, o)));
    select.value = value;
    return el("div", { class: "field" }, el("label", { for: `f-${path}` }, label), select,
      el("div", { class: "field-error", "data-for": path, role: "alert" }));
  }

  // `box` ← a select of the catalog's `entries` at `path` ("schedule.name", "search.pruner.name"),
  // then the fields `specs` of the chosen one, under the select's section ("schedule",
  // "search.pruner"); choosing another calls `rerender` with its name
  function renderEntry(box, path, entries, name, rerender, specs, skip = []) {
    const section = path.slice(0, path.lastIndexOf("."));
    box.replaceChildren(choiceField(path, section.split(".").pop(), Object.keys(entries), name,
      (e) => rerender(e.target.value)));
    const fields = el("div");
    Form.fields(fields, section, specs, {}, skip);
    box.append(...fields.children);
  }

  // -- model and dataset -------------------------------------------------------------------
  function renderModel(kind) {
    // input_dim and output_dim are set from the dataset, not asked for
    renderEntry($("model-fields"), "model.kind", catalog.models, kind, renderModel,
      catalog.models[kind].options, ["input_dim", "output_dim"]);
    const point = kind === "point";
    $("dataset-fields").hidden = point;
    if (!point && !$("dataset-fields").children.length) renderDataset(Object.keys(catalog.datasets).includes("digits") ? "digits" : Object.keys(catalog.datasets)[0]);
    const epochs = form.querySelector('[data-path="training.epochs"]');
    const steps = form.querySelector('[data-path="training.steps"]');
    if (epochs && steps) {
      if (point) { epochs.value = ""; steps.value = steps.value || "30"; }
      else { steps.value = ""; epochs.value = epochs.value || "10"; }
    }
  }

  function renderDataset(name) {
    renderEntry($("dataset-fields"), "dataset.name", catalog.datasets, name, renderDataset,
      catalog.datasets[name].options || {});
  }

  // -- optimizers: tick one or more; each gets its own block of hyperparameters ---------------
  function renderOptimizerChoice() {
    $("optimizer-choice").replaceChildren(...Object.keys(catalog.optimizers).map((name) =>
      el("label", {}, el("input", { type: "checkbox", class: "optimizer-pick", value: name,
        checked: name === "sgd", onchange: renderOptimizerBlocks }), ` ${name}`)));
    renderOptimizerBlocks();
  }

  function picked() {
    return [...form.querySelectorAll(".optimizer-pick:checked")].map((i) => i.value);
  }

  function renderOptimizerBlocks() {
    const names = picked();
    const box = $("optimizer-fields");
    for (const block of [...box.children]) if (!names.includes(block.dataset.optimizer)) block.remove();
    for (const name of names) {
      if (!box.querySelector(`[data-optimizer="${name}"]`)) box.append(optimizerBlock(name, "torch"));
    }
    renderShared(names);
  }

  // a comparison's optimizer section: the settings every ticked optimizer has, shared by them
  // (what was typed in them kept)
  function renderShared(names) {
    const box = $("shared-fields");
    const typed = Object.fromEntries([...box.querySelectorAll("[data-key]")].map((i) => [i.dataset.key, i.value]));
    const has = (name) => catalog.optimizers[name].hyperparameters;
    const specs = Object.entries(names.length ? has(names[0]) : {})
      .filter(([key]) => names.every((name) => key in has(name)));
    Form.fields(box, "optimizer", Object.fromEntries(specs), typed);
  }

  function optimizerBlock(name, convention) {
    const spec = catalog.optimizers[name];
    const specs = convention === "book" && spec.book_hyperparameters ? spec.book_hyperparameters : spec.hyperparameters;
    const block = el("div", { class: "optimizer-block", dataset: { optimizer: name } },
      el("h3", {}, name, el("small", { class: "muted" }, ` — ${spec.doc}`)));
    const fields = el("div", { class: "fields" });
    if ((spec.conventions || []).length > 1) {
      const conv = choiceField(`optimizer.${name}.convention`, "convention", spec.conventions, convention,
        (e) => block.replaceWith(optimizerBlock(name, e.target.value)));
      conv.querySelector("select").dataset.key = "convention";
      fields.append(conv);
    }
    const hyper = el("div");
    Form.fields(hyper, `optimizer.${name}`, specs);
    fields.append(...hyper.children);
    block.append(fields);
    if ((spec.constraints || []).length) block.append(el("p", { class: "hint muted" }, spec.constraints.join("; ")));
    return block;
  }

  // -- schedule, training, search ------------------------------------------------------------
  function renderSchedule(name) {
    renderEntry($("schedule-fields"), "schedule.name", catalog.schedules, name, renderSchedule,
      catalog.schedules[name].hyperparameters || {});
  }

  function fillRow(row, [path, kind, values]) {
    row.querySelector(".space-path").value = path;
    row.querySelector(".space-kind").value = kind;
    row.querySelector(".space-values").value = values;
  }

  function spaceRow(i) {
    return el("div", { class: "field space-row", dataset: { row: i } },
      el("label", {}, `parameter ${i + 1}`),
      el("input", { type: "text", class: "space-path", placeholder: "e.g. optimizer.lr" }),
      el("select", { class: "space-kind" }, DISTRIBUTIONS.map((d) => el("option", { value: d }, d))),
      el("input", { type: "text", class: "space-values", placeholder: "low, high (or choices)" }),
      el("div", { class: "field-error", "data-for": `search.space.row${i}`, role: "alert" }));
  }

  function renderPruner(name) {
    renderEntry($("pruner-fields"), "search.pruner.name", PRUNERS, name, renderPruner,
      PRUNERS[name].hyperparameters);
  }

  function method() {
    return form.querySelector('[name="search-method"]:checked').value;
  }

  function renderSearch() {
    Form.fields($("search-options"), "search", SEARCH, { trials: 10 });
    Form.fields($("objective-fields"), "search.objective", OBJECTIVE);
    // "search.objective is required": said next to its metric
    $("objective-fields").querySelector('[data-key="metric"]').closest(".field")
      .append(el("div", { class: "field-error", "data-for": "search.objective", role: "alert" }));
    renderPruner("none");
    const box = $("space-fields");
    box.append(spaceRow(0), spaceRow(1), el("div", { class: "field" },
      el("button", { type: "button", id: "add-space-row", onclick: (e) =>
        e.target.closest(".field").before(spaceRow(box.querySelectorAll(".space-row").length)) }, "add parameter"),
      el("div", { class: "field-error", id: "space-error", "data-for": "search.space", role: "alert" })));
    Form.fields($("compare-options"), "search", COMPARE, { budget: 20, final_seeds: 5 });
    for (const radio of form.querySelectorAll('[name="search-method"]')) radio.addEventListener("change", renderMethod);
  }

  // the fields of the chosen method: a comparison has its own options, tunes its space and
  // compares the ticked optimizers (their own blocks hidden, their shared settings shown)
  function renderMethod() {
    const compare = method() === "compare";
    $("search-fields").hidden = method() === "grid";
    for (const [id, shown] of [["compare-options", compare], ["optimizer-fields", !compare],
                               ["shared-optimizer", compare], ["compare-hint", compare]]) $(id).hidden = !shown;
    $("search-options").querySelector('[data-key="trials"]').closest(".field").hidden = compare;  // its budget instead
    $("space-title").textContent = compare ? "Tuned fields (each optimizer's search)" : "Space";
    const metric = $("objective-fields").querySelector('[data-key="metric"]');
    if (ADAPTIVE.includes(method()) && !metric.value) metric.value = "val_loss";
    const first = $("space-fields").querySelector(".space-row");
    if (compare && !first.querySelector(".space-path").value) fillRow(first, TUNED);
  }

  // -- the request ---------------------------------------------------------------------------
  function request() {
    const top = Form.read($("experiment-fields"));
    const body = { name: top.name === undefined ? "" : String(top.name) };
    if (top.project !== undefined) body.project = String(top.project);
    const tags = $("experiment-fields").querySelector('[data-key="tags"]').value;
    body.tags = tags.split(",").map((t) => t.trim()).filter(Boolean);
    const kind = form.querySelector('[data-path="model.kind"]').value;
    body.model = { kind, ...Form.read($("model-fields")) };
    if (kind !== "point") body.dataset = { name: form.querySelector('[data-path="dataset.name"]').value, ...Form.read($("dataset-fields")) };
    const optimizer = optimizerSection();
    if (optimizer !== undefined) body.optimizer = optimizer;
    const schedule = form.querySelector('[data-path="schedule.name"]').value;
    if (schedule !== "constant") body.schedule = { name: schedule, ...Form.read($("schedule-fields")) };
    body.training = Form.read($("training-fields"));
    if (method() !== "grid") body.search = searchSpec();
    return body;
  }

  // the optimizer section: a comparison's shared settings (if any; its optimizers are
  // search.optimizers); else a block per optimizer — a search starts from one config, so one
  // optimizer is an object there (several, a list the API refuses by name)
  function optimizerSection() {
    if (method() === "compare") {
      const shared = Form.read($("shared-fields"));
      return Object.keys(shared).length ? shared : undefined;
    }
    const blocks = [...$("optimizer-fields").children];
    const single = method() !== "grid" && blocks.length === 1;
    const optimizers = blocks.map((block, i) => {
      const at = single ? "optimizer" : `optimizer[${i}]`;
      for (const node of block.querySelectorAll("[data-path]")) {
        const key = node.dataset.key;
        if (key) node.dataset.path = `${at}.${key}`;
      }
      for (const err of block.querySelectorAll(".field-error")) {
        const key = err.dataset.for.split(".").pop();
        err.dataset.for = `${at}.${key}`;
      }
      return { name: block.dataset.optimizer, ...Form.read(block) };
    });
    return single ? optimizers[0] : optimizers;
  }

  function searchSpec() {
    const compare = method() === "compare";
    const options = Form.read($("search-options"));
    if (compare) {
      delete options.trials;
      Object.assign(options, Form.read($("compare-options")));
    }
    const spec = { method: method(), ...options };
    if (compare) spec.optimizers = picked();
    spec[compare ? "tune" : "space"] = space(compare ? "search.tune" : "search.space");
    const objective = Form.read($("objective-fields"));
    if (objective.metric !== undefined) spec.objective = objective;
    const pruner = form.querySelector('[data-path="search.pruner.name"]').value;
    if (pruner !== "none") spec.pruner = { name: pruner, ...Form.read($("pruner-fields")) };
    return spec;
  }

  // the space editor's rows as {path: {distribution: values}}, their errors named under `loc`
  function space(loc) {
    const out = {};
    $("space-error").dataset.for = loc;
    for (const row of $("space-fields").querySelectorAll(".space-row")) {
      const path = row.querySelector(".space-path").value.trim();
      if (!path) continue;
      const values = row.querySelector(".space-values").value.split(",").map((s) => s.trim()).filter(Boolean)
        .map((s) => (Number.isFinite(Number(s)) ? Number(s) : s));
      out[path] = { [row.querySelector(".space-kind").value]: values };
      row.querySelector(".field-error").dataset.for = `${loc}.${path}`;
    }
    return out;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = $("submit-experiment");
    button.disabled = true;
    try {
      const created = await api("/api/v1/experiments", { json: request() });
      // a comparison's own page shows it best
      location.href = `/experiments/${created.id}${method() === "compare" ? "/comparison" : ""}`;
    } catch (err) {
      Form.showErrors(form, err.details && err.details.length ? err.details : [{ loc: "", msg: err.message }], $("form-error"));
      button.disabled = false;
    }
  });

  async function start() {
    catalog = await api("/api/v1/catalog");
    Form.fields($("experiment-fields"), "", EXPERIMENT);
    for (const input of $("experiment-fields").querySelectorAll("[data-path]")) {
      input.dataset.path = input.dataset.key;  // top-level fields: "name", not ".name"
      input.closest(".field").querySelector(".field-error").dataset.for = input.dataset.key;
    }
    $("experiment-fields").querySelector('[data-key="tags"]').dataset.type = "string";
    Form.fields($("training-fields"), "training", catalog.training, { epochs: 10 });
    renderModel("mlp");
    renderOptimizerChoice();
    renderSchedule("constant");
    renderSearch();
    document.body.dataset.ready = "1";
  }

  start().catch((err) => { $("form-error").textContent = err.message; });
})();
