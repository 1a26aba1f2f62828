// optrack dashboard: what every page shares — API calls, URL state, DOM building, selection.
"use strict";

const OT = (() => {
  class ApiError extends Error {
    constructor(status, body) {
      const error = (body && body.error) || {};
      super(error.message || `HTTP ${status}`);
      this.status = status;
      this.code = error.code;
      this.details = error.details || [];
    }
  }

  const $ = (id) => document.getElementById(id);

  function cookie(name) {
    const found = document.cookie.split("; ").find((c) => c.startsWith(`${name}=`));
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }

  // JSON API call with the session's CSRF token; throws ApiError with the server's
  // {error: {code, message, details}}; a lost session goes back to the sign-in page
  async function api(path, options = {}) {
    const headers = { accept: "application/json", "x-csrf-token": cookie("optrack_csrf") };
    const init = { credentials: "same-origin", ...options, headers: { ...headers, ...(options.headers || {}) } };
    if (options.json !== undefined) {
      init.method = init.method || "POST";
      init.headers = { ...init.headers, "content-type": "application/json" };
      init.body = JSON.stringify(options.json);
      delete init.json;
    }
    const response = await fetch(path, init);
    if (response.status === 401) {
      location.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
    }
    const text = await response.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (_) { body = null; }
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }

  // every item of a paged list API: `field` of each page at `path`?`params`, all pages
  async function allPages(path, params, field) {
    const items = [];
    let token = null;
    do {
      const query = new URLSearchParams({ ...params, limit: "1000" });
      if (token) query.set("page_token", token);
      const page = await api(`${path}?${query}`);
      items.push(...page[field]);
      token = page.next_page_token;
    } while (token);
    return items;
  }

  // every run matching `params` (the runs API, all pages)
  function allRuns(params) {
    return allPages("/api/v1/runs", params, "runs");
  }

  // URL state: shareable views keep filters, selections and choices in the query string
  const state = {
    get(key, fallback = null) {
      const v = new URLSearchParams(location.search).get(key);
      return v === null ? fallback : v;
    },
    set(values) {
      const params = new URLSearchParams(location.search);
      for (const [k, v] of Object.entries(values)) {
        if (v === null || v === undefined || v === "" || v === false) params.delete(k);
        else params.set(k, v === true ? "1" : String(v));
      }
      const qs = params.toString();
      history.replaceState(null, "", location.pathname + (qs ? `?${qs}` : ""));
    },
  };

  // el("a", {href, class: "x", onclick}, "text", child…) — text always goes in as text, never HTML
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function num(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "string") return v;  // "NaN", "Infinity"
    if (typeof v !== "number") return String(v);
    if (Number.isInteger(v) && Math.abs(v) < 1e6) return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(3) : Number(v.toPrecision(4)).toString();
  }

  function value(v) {  // a metric value as a number for plotting ("NaN" → NaN)
    if (typeof v === "number") return v;
    if (v === "Infinity") return Infinity;
    if (v === "-Infinity") return -Infinity;
    return NaN;
  }

  // a config value in a table cell: lists and objects as JSON, numbers shortened
  function configValue(v) {
    return typeof v === "object" && v !== null ? JSON.stringify(v) : num(v);
  }

  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  function duration(startIso, endIso) {
    if (!startIso) return "";
    const seconds = ((endIso ? new Date(endIso) : new Date()) - new Date(startIso)) / 1000;
    if (seconds < 60) return `${seconds.toFixed(1)} s`;
    if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
    return `${(seconds / 3600).toFixed(1)} h`;
  }

  // {"optimizer": {"lr": 1}} → {"optimizer.lr": 1}; lists stay whole
  function flatten(obj, prefix = "", out = {}) {
    for (const [k, v] of Object.entries(obj || {})) {
      const path = prefix ? `${prefix}.${k}` : k;
      if (v && typeof v === "object" && !Array.isArray(v)) flatten(v, path, out);
      else out[path] = v;
    }
    return out;
  }

  // a run's config, flattened once (tables sort and filter on it many times)
  const flats = new WeakMap();
  function flat(run) {
    const config = run.config || {};
    if (!flats.has(config)) flats.set(config, flatten(config));
    return flats.get(config);
  }

  const ACTIVE = new Set(["queued", "running"]);

  function statusCell(run) {
    const cell = el("span", { class: `status ${run.status}` }, run.status);
    if (run.status !== "running" || !run.total_steps) return cell;
    const share = Math.min(1, (run.step || 0) / run.total_steps);
    return el("span", { class: "status-cell" }, cell,
      el("span", { class: "progress", title: `step ${run.step || 0} of ${run.total_steps}` },
        el("span", { style: `width:${(100 * share).toFixed(1)}%` })),
      el("span", { class: "muted" }, ` ${Math.round(100 * share)}%`));
  }

  // the compare selection: run ids kept in localStorage, across experiments and pages
  const selection = {
    key: "optrack.selection",
    ids() {
      try { return JSON.parse(localStorage.getItem(this.key)) || []; } catch (_) { return []; }
    },
    has(id) { return this.ids().includes(id); },
    set(ids) {
      localStorage.setItem(this.key, JSON.stringify([...new Set(ids)]));
      this.render();
    },
    toggle(id, on) {
      const ids = this.ids().filter((x) => x !== id);
      this.set(on ? [...ids, id] : ids);
    },
    // the compare view of the selected runs
    url() {
      const ids = this.ids();
      return ids.length ? `/compare?runs=${ids.join(",")}` : "/compare";
    },
    render() {
      const count = $("selection-count");
      if (count) count.textContent = String(this.ids().length);
      const link = $("nav-compare");
      if (link) link.href = this.url();
    },
  };

  // call `fn` every `ms` while it returns true (it is never running twice at once)
  function poll(fn, ms = 1000) {
    let stopped = false;
    async function tick() {
      if (stopped) return;
      let again = true;
      try { again = await fn(); } catch (err) { console.error(err); }
      if (again && !stopped) setTimeout(tick, ms);
    }
    setTimeout(tick, ms);
    return () => { stopped = true; };
  }

  function showError(node, err) {
    node.textContent = err ? (err.details && err.details.length
      ? err.details.map((d) => d.msg ? `${d.loc}: ${d.msg}` : String(d)).join("; ")
      : err.message) : "";
  }

  // a view that could not load says why in `node` (its empty-state or error line)
  function showFailure(node, err) {
    node.hidden = false;
    node.textContent = err.message;
  }

  async function logout() {
    await fetch("/logout", { method: "POST", credentials: "same-origin",
                             headers: { "x-csrf-token": cookie("optrack_csrf") } });
    location.href = "/login";
  }

  document.addEventListener("DOMContentLoaded", () => {
    selection.render();
    const button = $("logout");
    if (button) button.addEventListener("click", logout);
  });
  window.addEventListener("storage", () => selection.render());

  return { $, api, ApiError, allPages, allRuns, state, el, num, value, configValue, when, duration,
           flatten, flat, ACTIVE, statusCell, selection, poll, showError, showFailure };
})();
