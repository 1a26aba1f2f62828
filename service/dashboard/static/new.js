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
    trials: { type: "int", default: 10, doc: "random draws per grid point", rule: "must be an integer >= 1" },
    seed: { type: "int", default: 0, doc: "seed of the draws", rule: "must be an integer >= 0" },
  };
  const DISTRIBUTIONS = ["log_uniform", "uniform", "int_uniform", "choice"];

  function choiceField(path, label, options, value, onchange) {
    const select = el("select", { "data-path": path, id: `f-${path}`, onchange },
      options.map((o) => el("option", { value: o }, o)));
    select.value = value;
    return el("div", { class: "field" }, el("label", { for: `f-${path}` }, label), select,
      el("div", { class: "field-error", "data-for": path, role: "alert" }));
  }

  // `box` ← a select of the catalog's `entries` at `path` ("schedule.name"), then the fields
  // `specs` of the chosen one; choosing another calls `rerender` with its name
  function renderEntry(box, path, entries, name, rerender, specs, skip = []) {
    const section = path.split(".")[0];
    box.replaceChildren(choiceField(path, section, Object.keys(entries), name,
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

  function renderOptimizerBlocks() {
    const picked = [...form.querySelectorAll(".optimizer-pick:checked")].map((i) => i.value);
    const box = $("optimizer-fields");
    for (const block of [...box.children]) if (!picked.includes(block.dataset.optimizer)) block.remove();
    for (const name of picked) {
      if (!box.querySelector(`[data-optimizer="${name}"]`)) box.append(optimizerBlock(name, "torch"));
    }
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

  function spaceRow(i) {
    return el("div", { class: "field space-row", dataset: { row: i } },
      el("label", {}, `parameter ${i + 1}`),
      el("input", { type: "text", class: "space-path", placeholder: "e.g. optimizer.lr" }),
      el("select", { class: "space-kind" }, DISTRIBUTIONS.map((d) => el("option", { value: d }, d))),
      el("input", { type: "text", class: "space-values", placeholder: "low, high (or choices)" }),
      el("div", { class: "field-error", "data-for": `search.space.row${i}`, role: "alert" }));
  }

  function renderSearch() {
    const box = $("search-fields");
    Form.fields(box, "search", SEARCH);
    box.append(spaceRow(0), spaceRow(1),
      el("button", { type: "button", id: "add-space-row", onclick: (e) =>
        e.target.before(spaceRow(box.querySelectorAll(".space-row").length)) }, "add parameter"));
    for (const radio of form.querySelectorAll('[name="search-method"]')) {
      radio.addEventListener("change", () => { box.hidden = form.querySelector('[name="search-method"]:checked').value !== "random"; });
    }
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
    body.optimizer = [...$("optimizer-fields").children].map((block, i) => {
      for (const node of block.querySelectorAll("[data-path]")) {
        const key = node.dataset.key;
        if (key) node.dataset.path = `optimizer[${i}].${key}`;
      }
      for (const err of block.querySelectorAll(".field-error")) {
        const key = err.dataset.for.split(".").pop();
        err.dataset.for = `optimizer[${i}].${key}`;
      }
      return { name: block.dataset.optimizer, ...Form.read(block) };
    });
    const schedule = form.querySelector('[data-path="schedule.name"]').value;
    if (schedule !== "constant") body.schedule = { name: schedule, ...Form.read($("schedule-fields")) };
    body.training = Form.read($("training-fields"));
    if (form.querySelector('[name="search-method"]:checked').value === "random") body.search = searchSpec();
    return body;
  }

  function searchSpec() {
    const box = $("search-fields");
    const spec = { method: "random", ...Form.read(box), space: {} };
    for (const row of box.querySelectorAll(".space-row")) {
      const path = row.querySelector(".space-path").value.trim();
      if (!path) continue;
      const values = row.querySelector(".space-values").value.split(",").map((s) => s.trim()).filter(Boolean)
        .map((s) => (Number.isFinite(Number(s)) ? Number(s) : s));
      spec.space[path] = { [row.querySelector(".space-kind").value]: values };
      row.querySelector(".field-error").dataset.for = `search.space.${path}`;
    }
    return spec;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = $("submit-experiment");
    button.disabled = true;
    try {
      const created = await api("/api/v1/experiments", { json: request() });
      location.href = `/experiments/${created.id}`;
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
