// Work queues per role, overdue first: staff see their own role's; navigators choose a role.

import { get, poll, session } from "../http.js";
import { banner, h, humanize } from "../ui.js";
import { taskCard } from "./taskcard.js";

export function queueView() {
  const own = !["admin", "navigator"].includes(session.me.role);
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  let role = own ? session.me.role : params.get("role") || "";
  const list = h("div", { "data-testid": "queue" });
  const overdueOnly = h("input", { type: "checkbox", name: "overdue", onchange: () => tasks.now() });
  const select = h("select", { name: "role", "aria-label": "Role", disabled: own, onchange: (e) => { role = e.target.value; history.replaceState(null, "", `#/queue?role=${encodeURIComponent(role)}`); tasks.now(); } });

  function url() {
    const query = new URLSearchParams({ limit: "100" });
    if (role) query.set("role", role);
    if (overdueOnly.checked) query.set("overdue", "true");
    return `/tasks?${query}`;
  }

  const render = (page) => {
    if (list.querySelector("form")) return false; // not while a form is being filled in
    const open = page.items; // the first page: the 100 due soonest
    list.replaceChildren(
      ...(open.length
        ? open.map((task) => taskCard(task, { showPatient: true, onChange: () => tasks.now() }))
        : [h("p", { class: "empty" }, role ? `The ${humanize(role).toLowerCase()} queue is clear.` : "Choose a role.")]),
    );
  };
  // The queue is polled once the role is known (staff: their own; others: the first or chosen).
  let tasks = { now() {}, stop() {} };
  let left = false;
  const start = () => {
    if (left) return;
    tasks = poll(url, render, { onError: (e) => banner(e.message) });
  };
  if (own) {
    select.replaceChildren(h("option", { value: role }, humanize(role)));
    start();
  } else {
    // Navigators choose among every role, each with its overdue count; the most overdue first.
    Promise.all([roles(), get("/dashboard")]).then(([names, dashboard]) => {
      const late = Object.fromEntries(dashboard.overdue_tasks_by_role.map((r) => [r.role, r.tasks]));
      const worst = [...names].sort((a, b) => (late[b] || 0) - (late[a] || 0))[0];
      if (!role) role = worst || "";
      select.replaceChildren(
        ...names.map((name) => h("option", { value: name, selected: name === role }, `${humanize(name)}${late[name] ? ` · ${late[name]} overdue` : ""}`)),
      );
      start();
    }).catch((e) => banner(e.message));
  }

  const node = h(
    "section",
    {},
    h("div", { class: "page-head" }, h("div", {}, h("h1", {}, "Work queue"), h("p", { class: "muted" }, "Open tasks, overdue and soonest due first.")), h("div", { class: "spacer" }), h("span", { class: "updated", "data-updated": true })),
    h("div", { class: "filters" }, h("label", { class: "field" }, "Role", select), h("label", { class: "field check" }, overdueOnly, "Overdue only")),
    list,
  );
  return { node, stop() { left = true; tasks.stop(); } };
}

let knownRoles = null;

async function roles() {
  // Every staff role any published pathway assigns work to, from the pathways' details.
  if (!knownRoles) {
    const pathways = await get("/pathways");
    const details = await Promise.all(pathways.map((p) => get(`/pathways/${p.pathway}`)));
    knownRoles = [...new Set(details.flatMap((d) => d.roles))].sort();
  }
  return knownRoles;
}
