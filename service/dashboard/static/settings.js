// Settings: who you are, your API tokens, the members of the projects you administer, deleted
// experiments to restore or purge, and the audit log. A section this session may not use (a
// 403: a token without the admin scope, say) says so instead of failing.
"use strict";

(() => {
  const { el, api, state, $ } = OT;
  const ROLES = ["viewer", "member", "admin"];
  const DENIED = {
    you: "Your account is not available to this session",
    tokens: "Managing API tokens needs a session opened with a token that has the admin scope",
    projects: "Projects are not available to this session",
    deleted: "Deleted experiments are not available to this session",
    audit: "The audit log needs a session with the admin scope, for the projects you administer",
  };
  let me = { name: "", superuser: false, scopes: [], projects: {} };
  const can = (scope) => me.scopes.includes(scope);

  // -- sections ----------------------------------------------------------------------------
  function part(id, cls) { return $(id).querySelector(`:scope > .${cls}`); }

  // the API's words for a failure: each field's rule for a 422, the message otherwise
  function says(err) {
    if (!(err instanceof OT.ApiError)) console.error(err);  // a bug here, not an answer
    return err.status === 422 && err.details.length
      ? err.details.map((d) => (d.loc ? `${d.loc}: ${d.msg}` : d.msg)).join("; ") : err.message;
  }

  // load section `id` with `fn`: a 403 hides its body behind a short explanation; any other
  // failure goes to the section's error line
  async function load(id, fn) {
    try {
      await fn();
      part(id, "denied").hidden = true;
      part(id, "section-body").hidden = false;
      part(id, "error").textContent = "";
    } catch (err) {
      if (err.status === 403) {
        part(id, "denied").textContent = `${DENIED[id]} (${err.message}).`;
        part(id, "denied").hidden = false;
        part(id, "section-body").hidden = true;
        part(id, "error").textContent = "";
      } else {
        part(id, "error").textContent = says(err);
      }
    }
  }

  // an action in section `id` (a button): its failure is shown in the section's error line
  async function act(id, fn) {
    try {
      await fn();
      part(id, "error").textContent = "";
    } catch (err) {
      part(id, "error").textContent = says(err);
    }
  }

  const scopeNote = () => el("p", { class: "muted" },
    "Changes need a session opened with a token that has the admin scope.");

  // -- you ---------------------------------------------------------------------------------
  async function loadMe() {
    me = await api("/api/v1/me");
    $("me-name").textContent = me.name;
    $("me-superuser").hidden = !me.superuser;
    $("me-scopes").textContent = me.scopes.join(", ");
    const rows = Object.entries(me.projects).sort(([a], [b]) => a.localeCompare(b));
    $("me-projects").tBodies[0].replaceChildren(...rows.map(([project, role]) =>
      el("tr", { dataset: { project } }, el("td", {}, project), el("td", {}, role))));
    $("me-projects").hidden = !rows.length;
    $("me-no-projects").hidden = rows.length > 0 || me.superuser;
  }

  // -- API tokens --------------------------------------------------------------------------
  const expired = (t) => !!t.expires_at && new Date(t.expires_at) <= new Date();

  function tokenRow(t) {
    const live = !t.revoked_at && !expired(t);
    return el("tr", { dataset: { tokenId: t.id, prefix: t.prefix }, class: live ? null : "inactive" },
      el("td", {}, el("code", {}, t.prefix)),
      el("td", {}, t.name),
      el("td", {}, t.scopes.join(", ")),
      el("td", {}, t.projects ? t.projects.join(", ") : el("span", { class: "muted" }, "all")),
      el("td", { title: t.created_at }, OT.when(t.created_at)),
      el("td", { title: t.expires_at || "" },
        t.expires_at ? OT.when(t.expires_at) : el("span", { class: "muted" }, "never")),
      el("td", { title: t.revoked_at || "" }, OT.when(t.revoked_at)),
      el("td", {}, live ? el("button", { type: "button", class: "revoke-token", onclick: () => revoke(t) }, "Revoke")
        : el("span", { class: "muted" }, t.revoked_at ? "revoked" : "expired")));
  }

  async function loadTokens() {
    const tokens = await api("/api/v1/tokens");
    $("tokens-table").tBodies[0].replaceChildren(...tokens.reverse().map(tokenRow));  // newest first
    $("tokens-table").hidden = !tokens.length;
    $("tokens-empty").hidden = tokens.length > 0;
  }

  async function revoke(t) {
    if (!confirm(`Revoke token ${t.prefix} (${t.name})? Whatever uses it stops working at once.`)) return;
    await act("tokens", async () => {
      await api(`/api/v1/tokens/${encodeURIComponent(t.id)}`, { method: "DELETE" });
      await loadTokens();
    });
    refreshAudit();
  }

  function tokenRequest() {
    const body = { scopes: [...document.querySelectorAll("#token-scopes input:checked")].map((i) => i.value) };
    const name = $("token-name").value.trim();
    if (name) body.name = name;
    const projects = $("token-projects").value.split(",").map((p) => p.trim()).filter(Boolean);
    if (projects.length) body.projects = projects;
    const days = $("token-expires").value.trim();
    if (days) body.expires_in_days = Number.isFinite(Number(days)) ? Number(days) : days;  // the API explains
    return body;
  }

  $("token-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target;
    Form.clearErrors(form);
    $("token-error").textContent = "";
    $("create-token").disabled = true;
    try {
      showSecret(await api("/api/v1/tokens", { json: tokenRequest() }));
      form.reset();
      await load("tokens", loadTokens);
      refreshAudit();
    } catch (err) {
      if (err.status === 422 && err.details.length) Form.showErrors(form, err.details, $("token-error"));
      else $("token-error").textContent = says(err);  // 403 scope, 404 project, 429 too many
    } finally {
      $("create-token").disabled = false;
    }
  });

  // the secret exists in this page only: not stored, not shown again after a reload
  function showSecret(created) {
    $("token-secret-prefix").textContent = created.prefix;
    $("token-secret-value").textContent = created.token;
    $("copy-status").textContent = "";
    $("token-secret").hidden = false;
    $("token-secret").scrollIntoView({ block: "nearest" });
  }

  $("copy-token").addEventListener("click", async () => {
    const node = $("token-secret-value");
    try {
      await navigator.clipboard.writeText(node.textContent);
      $("copy-status").textContent = "copied";
    } catch (_) {  // no clipboard access: select it for a manual copy
      window.getSelection().selectAllChildren(node);
      $("copy-status").textContent = "selected: press Ctrl+C to copy";
    }
  });
  $("dismiss-token").addEventListener("click", () => {
    $("token-secret-value").textContent = "";
    $("token-secret").hidden = true;
  });

  // -- projects and members ----------------------------------------------------------------
  const membersPath = (project, user = "") => `/api/v1/projects/${encodeURIComponent(project)}/members`
    + (user ? `/${encodeURIComponent(user)}` : "");

  async function loadProjects() {
    const projects = await api("/api/v1/projects");
    $("projects-table").tBodies[0].replaceChildren(...projects.map((p) => el("tr", { dataset: { project: p.name } },
      el("td", {}, p.name), el("td", {}, p.role || ""), el("td", { title: p.created_at }, OT.when(p.created_at)))));
    $("projects-table").hidden = !projects.length;
    $("projects-empty").hidden = projects.length > 0;
    const blocks = await Promise.all(projects.filter((p) => p.role === "admin")
      .map(async (p) => projectBlock(p.name, await api(membersPath(p.name)))));
    $("project-admin").replaceChildren(...blocks);
  }

  // a new project or member may change your own roles: both sections are read again
  async function reloadProjects() {
    await load("you", loadMe);
    await load("projects", loadProjects);
    refreshAudit();
  }

  function projectBlock(project, members) {
    const error = el("p", { class: "error", role: "alert" });
    const editable = can("admin");
    const attempt = async (fn) => {  // true when done (the sections are read again)
      try {
        await fn();
      } catch (err) {
        error.textContent = says(err);
        return false;
      }
      await reloadProjects();
      return true;
    };
    const roleSelect = (attrs, role) => el("select", attrs,
      ROLES.map((r) => el("option", { value: r, selected: r === role }, r)));
    const rows = members.map((m) => el("tr", { dataset: { user: m.user } },
      el("td", {}, m.user),
      el("td", {}, roleSelect({ class: "member-role", "aria-label": `role of ${m.user}`, disabled: !editable,
        onchange: async (e) => {
          const done = await attempt(() => api(membersPath(project, m.user), { method: "PUT", json: { role: e.target.value } }));
          if (!done) e.target.value = m.role;
        },
      }, m.role)),
      el("td", {}, el("button", { type: "button", class: "remove-member", disabled: !editable,
        onclick: () => confirm(`Remove ${m.user} from ${project}?`)
          && attempt(() => api(membersPath(project, m.user), { method: "DELETE" })) }, "Remove"))));
    const user = el("input", { type: "text", class: "member-user", placeholder: "user name", maxlength: 100,
                               autocomplete: "off", "aria-label": "user name" });
    const role = roleSelect({ class: "member-new-role", "aria-label": "role" }, "member");
    const add = el("form", { class: "toolbar add-member", novalidate: true, onsubmit: (e) => {
      e.preventDefault();
      if (!user.value.trim()) { error.textContent = "Enter the name of a user to add."; return; }
      attempt(() => api(membersPath(project, user.value.trim()), { method: "PUT", json: { role: role.value } }));
    } }, el("label", {}, "Add ", user), el("label", {}, "as ", role),
    el("button", { type: "submit", class: "add-member-button", disabled: !editable }, "Add member"));
    return el("div", { class: "project-block", dataset: { project } },
      el("h3", {}, project, " ", el("small", { class: "muted" }, "members")),
      el("table", { class: "grid narrow members", hidden: !members.length },
        el("thead", {}, el("tr", {}, el("th", {}, "User"), el("th", {}, "Role"), el("th", {}, ""))),
        el("tbody", {}, rows)),
      members.length ? null : el("p", { class: "muted" }, "No members yet."),
      add, editable ? null : scopeNote(), error);
  }

  $("project-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("project-error").textContent = "";
    try {
      await api("/api/v1/projects", { json: { name: $("project-name").value.trim() } });
    } catch (err) {
      $("project-error").textContent = says(err);
      return;
    }
    $("project-name").value = "";
    await reloadProjects();
  });

  // -- deleted experiments -----------------------------------------------------------------
  async function loadDeleted() {
    const experiments = await OT.allPages("/api/v1/experiments", { deleted: "true" }, "experiments");
    const editable = can("admin");
    const runs = (e) => Object.values(e.status_counts || {}).reduce((a, b) => a + b, 0);
    $("deleted-table").tBodies[0].replaceChildren(...experiments.map((x) => el("tr", { dataset: { experimentId: x.id } },
      el("td", {}, x.name), el("td", {}, x.project),
      el("td", {}, x.tags.map((t) => el("span", { class: "tag" }, t, " "))),
      el("td", { class: "num" }, runs(x)),
      el("td", { title: x.created_at }, OT.when(x.created_at)),
      el("td", {},
        el("button", { type: "button", class: "restore", disabled: !editable, onclick: () => restore(x) }, "Restore"), " ",
        el("button", { type: "button", class: "purge danger", disabled: !editable, onclick: () => purge(x) }, "Purge")))));
    $("deleted-table").hidden = !experiments.length;
    $("deleted-empty").hidden = experiments.length > 0;
  }

  async function restore(x) {
    await act("deleted", async () => {
      await api(`/api/v1/experiments/${encodeURIComponent(x.id)}/restore`, { method: "POST" });
      await loadDeleted();
    });
    refreshAudit();
  }

  async function purge(x) {
    if (!confirm(`Purge "${x.name}" for good? Its runs, metrics and checkpoints are removed; this cannot be undone.`)) return;
    await act("deleted", async () => {
      await api(`/api/v1/experiments/${encodeURIComponent(x.id)}/purge`, { method: "POST" });
      await loadDeleted();
    });
    refreshAudit();
  }

  // -- audit log ---------------------------------------------------------------------------
  const audit = { next: null, generation: 0 };

  function auditRow(entry) {
    const detail = Object.keys(entry.detail || {}).length ? JSON.stringify(entry.detail) : "";
    return el("tr", { dataset: { action: entry.action, target: entry.target || "" } },
      el("td", { title: entry.at }, OT.when(entry.at)),
      el("td", {}, entry.actor),
      el("td", {}, entry.action),
      el("td", {}, entry.project || ""),
      el("td", {}, entry.target ? el("code", {}, entry.target) : ""),
      el("td", { class: "detail" }, detail ? el("code", {}, detail) : ""));
  }

  async function loadAudit(append) {
    const mine = ++audit.generation;  // a newer load wins over a slower older one
    const query = new URLSearchParams({ limit: "50" });
    const action = $("audit-action").value.trim();
    if (action) query.set("action", action);
    if (append && audit.next) query.set("page_token", audit.next);
    const page = await api(`/api/v1/audit?${query}`);
    if (mine !== audit.generation) return;
    const body = $("audit-table").tBodies[0];
    const rows = page.entries.map(auditRow);
    if (append) body.append(...rows); else body.replaceChildren(...rows);
    audit.next = page.next_page_token;
    $("audit-more").hidden = !audit.next;
    $("audit-empty").hidden = body.children.length > 0;
  }

  function refreshAudit() { return load("audit", () => loadAudit(false)); }

  $("audit-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.set({ action: $("audit-action").value.trim() });
    refreshAudit();
  });
  $("audit-more").addEventListener("click", () => load("audit", () => loadAudit(true)));

  // -- start -------------------------------------------------------------------------------
  async function start() {
    $("audit-action").value = state.get("action", "");
    await load("you", loadMe);  // the scopes decide which controls are live
    await Promise.all([load("tokens", loadTokens), load("projects", loadProjects),
                       load("deleted", loadDeleted), refreshAudit()]);
    document.body.dataset.ready = "1";  // the first load is rendered (browser tests wait on it)
    const target = location.hash && $(location.hash.slice(1));
    if (target) target.scrollIntoView();
  }

  start().catch((err) => console.error(err));
})();
