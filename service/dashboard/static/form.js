// Form fields built from the catalog's hyperparameter specs, read back as an experiment request,
// and the API's validation errors shown next to the fields they name.
"use strict";

const Form = (() => {
  const { el } = OT;
  const NUMERIC = new Set(["float", "int"]);

  function hint(spec) {
    const parts = [];
    if (spec.default !== null && spec.default !== undefined) parts.push(`default ${JSON.stringify(spec.default)}`);
    if (spec.rule) parts.push(spec.rule);
    return parts.join(" · ");
  }

  // one labelled input for `path` (e.g. "optimizer.lr"), typed by the catalog `spec`
  function field(path, key, spec, initial) {
    const attrs = { "data-path": path, "data-key": key, "data-type": spec.type, name: path, id: `f-${path}` };
    let input;
    if (spec.type === "choice" || spec.type === "bool") {
      const choices = spec.type === "bool" ? ["false", "true", "false, true"] : spec.choices;
      input = el("select", attrs, el("option", { value: "" }, `(default${spec.default != null ? `: ${spec.default}` : ""})`),
        choices.map((c) => el("option", { value: c }, c)));
    } else {
      input = el("input", { ...attrs, type: "text", autocomplete: "off",
        placeholder: spec.default != null ? JSON.stringify(spec.default) : (spec.required ? "required" : "") });
    }
    if (initial !== undefined) input.value = String(initial);
    return el("div", { class: "field" }, el("label", { for: attrs.id, title: spec.doc || "" }, key),
      input, el("div", { class: "hint" }, spec.doc ? `${spec.doc}. ` : "", hint(spec)),
      el("div", { class: "field-error", "data-for": path, role: "alert" }));
  }

  function fields(container, prefix, specs, initial = {}, skip = []) {
    container.replaceChildren(...Object.entries(specs).filter(([k]) => !skip.includes(k))
      .map(([k, spec]) => field(`${prefix}.${k}`, k, spec, initial[k])));
  }

  function scalar(text, type) {
    if (NUMERIC.has(type) || type === "int_list" || type === "float_pair") {
      const n = Number(text);
      return text !== "" && Number.isFinite(n) ? n : text;  // the API explains what is wrong
    }
    if (type === "bool") return text === "true" ? true : text === "false" ? false : text;
    return text;
  }

  // the typed value of an input: "" → absent (the default applies); "a, b" → a grid axis;
  // list-valued fields (hidden layers, betas) separate grid points with ";"
  function readInput(input) {
    const text = input.value.trim();
    const type = input.dataset.type;
    if (text === "") return undefined;
    if (type === "int_list" || type === "float_pair") {
      const points = text.split(";").map((p) => p.split(",").map((s) => scalar(s.trim(), type)));
      return points.length > 1 ? points : points[0];
    }
    const parts = text.split(",").map((s) => s.trim());
    if (type === "string" || parts.length === 1) return scalar(text, type);
    return parts.map((p) => scalar(p, type));
  }

  // {key: value} of the inputs under `container` that carry a data-key
  function read(container) {
    const out = {};
    for (const input of container.querySelectorAll("[data-key]")) {
      const v = readInput(input);
      if (v !== undefined) out[input.dataset.key] = v;
    }
    return out;
  }

  function clearErrors(form) {
    form.querySelectorAll(".field.invalid").forEach((f) => f.classList.remove("invalid"));
    form.querySelectorAll(".field-error").forEach((e) => { e.textContent = ""; });
  }

  // the shown error line for `loc` (fields of another search method may be hidden with the same
  // path)
  function errorLine(form, loc) {
    return [...form.querySelectorAll(`.field-error[data-for="${CSS.escape(loc)}"]`)]
      .find((line) => !line.closest("[hidden]")) || null;
  }

  // put each {loc, msg} next to the input whose data-path is loc (or its nearest parent path);
  // what matches no input goes to `general`
  function showErrors(form, details, general) {
    clearErrors(form);
    const left = [];
    for (const d of details) {
      let loc = d.loc || "";
      let target = null;
      while (loc && !(target = errorLine(form, loc))) {
        const cut = Math.max(loc.lastIndexOf("."), loc.lastIndexOf("["));
        loc = cut > 0 ? loc.slice(0, cut) : "";
      }
      if (target) {
        target.textContent = target.textContent ? `${target.textContent}; ${d.msg}` : d.msg;
        target.closest(".field").classList.add("invalid");
      } else {
        left.push(`${d.loc}: ${d.msg}`);
      }
    }
    general.textContent = left.join("\n");
    const first = form.querySelector(".field.invalid input, .field.invalid select");
    if (first) { first.scrollIntoView({ block: "center" }); first.focus(); }
  }

  return { field, fields, read, readInput, showErrors, clearErrors };
})();
