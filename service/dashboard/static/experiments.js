// Experiments view: searchable by name and tag, run counts per status, newest first.
"use strict";

(() => {
  const { el, api, state, $ } = OT;
  const search = $("experiment-search");
  const tag = $("tag-filter");
  const body = document.querySelector("#experiments-table tbody");
  const more = $("load-more");
  const empty = $("experiments-empty");
  const error = $("experiments-error");
  let nextToken = null;
  let generation = 0;  // a newer search wins over a slower older one

  function counts(statusCounts) {
    const order = ["running", "queued", "succeeded", "pruned", "diverged", "failed", "cancelled"];
    return order.filter((s) => statusCounts[s])
      .map((s) => el("span", { class: `status ${s}`, title: s }, `${statusCounts[s]} ${s} `));
  }

  function row(e) {
    return el("tr", { dataset: { experimentId: e.id } },
      el("td", {}, el("a", { href: `/experiments/${e.id}` }, e.name)),
      el("td", {}, e.project),
      el("td", {}, e.tags.map((t) => el("a", {
        href: `/?tag=${encodeURIComponent(t)}`, class: "tag",
        onclick: (ev) => { ev.preventDefault(); tag.value = t; reload(); },
      }, t, " "))),
      el("td", { class: "counts" }, counts(e.status_counts)),
      el("td", { title: e.created_at }, OT.when(e.created_at)));
  }

  function params(token) {
    const p = new URLSearchParams({ limit: "50" });
    if (search.value.trim()) p.set("q", search.value.trim());
    if (tag.value.trim()) p.set("tag", tag.value.trim());
    if (token) p.set("page_token", token);
    return p;
  }

  async function load(append) {
    const mine = ++generation;
    try {
      const page = await api(`/api/v1/experiments?${params(append ? nextToken : null)}`);
      if (mine !== generation) return;
      OT.showError(error, null);
      const rows = page.experiments.map(row);
      if (append) body.append(...rows); else body.replaceChildren(...rows);
      nextToken = page.next_page_token;
      more.hidden = !nextToken;
      empty.hidden = body.children.length > 0;
    } catch (err) {
      if (mine === generation) OT.showError(error, err);
    }
  }

  function reload() {
    state.set({ q: search.value.trim(), tag: tag.value.trim() });
    return load(false);
  }

  let timer = null;
  for (const input of [search, tag]) {
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(reload, 200); });
  }
  more.addEventListener("click", () => load(true));
  search.value = state.get("q", "");
  tag.value = state.get("tag", "");
  load(false).then(() => { document.body.dataset.ready = "1"; });
  // live counts while anything is queued or running (first page only)
  OT.poll(async () => {
    if (!nextToken && document.querySelector("#experiments-table .status.running, #experiments-table .status.queued")) {
      await load(false);
    }
    return true;
  }, 2000);
})();
