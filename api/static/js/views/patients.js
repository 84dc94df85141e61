// Patients: every enrollment with its pathway, phase, progress, flag and next due date;
// filters and search; polled with ETag so it refreshes without reloading the page.

import { get, poll, session } from "../http.js";
import { FLAG_LABELS, banner, flagChip, h, humanize, patientName, progressBar, relative, when } from "../ui.js";

const STATUSES = ["active", "on_hold", "completed", "stopped", "withdrawn"];
const PAGE = 50;

export function patientsView() {
  const filters = { pathway: "", status: "", flag: "", text: "" };
  let pages = 1;
  const stats = h("div", { class: "stats", "data-testid": "stats" });
  const tbody = h("tbody");
  const more = h("button", { type: "button", class: "secondary", hidden: true, onclick: () => { pages += 1; list.now(); } }, "Show more");
  const pathwaySelect = h("select", { name: "pathway", "aria-label": "Pathway", onchange: (e) => set("pathway", e.target.value) }, h("option", { value: "" }, "All pathways"));
  const statusSelect = h(
    "select",
    { name: "status", "aria-label": "Status", onchange: (e) => set("status", e.target.value) },
    h("option", { value: "" }, "Any status"),
    STATUSES.map((s) => h("option", { value: s }, humanize(s))),
  );
  const flagButtons = [["", "All"], ...Object.entries(FLAG_LABELS)].map(([flag, label]) =>
    h("button", { type: "button", class: "chip-filter", "data-flag-filter": flag, "aria-pressed": flag === "" ? "true" : "false", onclick: () => set("flag", flag) }, label),
  );
  let typing = null;
  const search = h("input", {
    type: "search",
    name: "search",
    placeholder: session.may("navigate") ? "Search name, MRN or pathway" : "Search pathway",
    "aria-label": "Search",
    oninput: (e) => {
      clearTimeout(typing);
      typing = setTimeout(() => set("text", e.target.value.trim()), 250);
    },
  });

  function set(name, value) {
    filters[name] = value;
    pages = 1;
    flagButtons.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.flagFilter === filters.flag)));
    list.now();
  }

  function url() {
    const params = new URLSearchParams({ limit: String(Math.min(200, PAGE * pages)) });
    for (const [name, value] of Object.entries(filters)) if (value) params.set(name, value);
    return `/enrollments?${params}`;
  }

  function renderRows(page) {
    more.hidden = !page.next_cursor || PAGE * pages >= 200;
    if (!page.items.length) {
      tbody.replaceChildren(h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No enrollments match these filters.")));
      return;
    }
    tbody.replaceChildren(
      ...page.items.map((item) =>
        h(
          "tr",
          { class: "clickable", "data-enrollment": item.id, onclick: () => { location.hash = `#/enrollments/${item.id}`; } },
          h("td", {}, h("a", { class: "name", href: `#/enrollments/${item.id}` }, patientName(item)), h("div", { class: "muted small" }, item.patient ? item.patient.mrn : "")),
          h("td", {}, titles[item.pathway] || humanize(item.pathway), h("div", { class: "muted small" }, item.phase ? humanize(item.phase) : "")),
          h("td", {}, progressBar(item.steps_done, item.steps_expected)),
          h("td", {}, flagChip(item.flag)),
          h("td", {}, when(item.next_due_at), h("div", { class: "muted small" }, relative(item.next_due_at))),
          h("td", { class: "muted small" }, humanize(item.status)),
        ),
      ),
    );
  }

  function renderStats(dashboard) {
    const byFlag = {};
    for (const count of dashboard.counts) byFlag[count.flag] = (byFlag[count.flag] || 0) + count.enrollments;
    const overdueTasks = dashboard.overdue_tasks_by_role.reduce((sum, r) => sum + r.tasks, 0);
    const { median, p90 } = dashboard.days_to_first_treatment;
    const onTime = dashboard.on_time.rate;
    const age = Math.max(0, Math.round((Date.now() - Date.parse(dashboard.as_of)) / 1000));
    stats.replaceChildren(
      ...Object.entries(FLAG_LABELS).map(([flag, label]) =>
        h("div", { class: `stat ${flag}`, "data-stat": flag }, h("b", {}, byFlag[flag] || 0), h("span", {}, label)),
      ),
      h("div", { class: "stat overdue" }, h("b", {}, overdueTasks), h("span", {}, "Overdue tasks")),
      h("div", { class: "stat", "data-stat": "first-treatment" }, h("b", {}, median === null ? "—" : `${median.toFixed(1)} d`), h("span", {}, "Median days to first treatment"), h("div", { class: "muted small" }, p90 === null ? "" : `90% within ${p90.toFixed(1)} d`)),
      h("div", { class: "stat", "data-stat": "on-time" }, h("b", {}, onTime === null ? "—" : `${Math.round(onTime * 100)}%`), h("span", {}, `Tasks on time (last ${dashboard.on_time.window_days} days)`)),
    );
    stats.title = dashboard.source === "live" ? "Counted just now" : `Figures from ${age} s ago`;
  }

  const titles = {};
  get("/pathways").then((pathways) => {
    for (const p of pathways) {
      titles[p.pathway] = p.title;
      pathwaySelect.append(h("option", { value: p.pathway }, p.title));
    }
  }).catch((error) => banner(error.message));

  const list = poll(url, renderRows, { onError: (error) => banner(error.message) });
  const figures = poll("/dashboard", renderStats, { every: 15000, onError: (error) => banner(error.message) });

  const node = h(
    "section",
    {},
    h("div", { class: "page-head" }, h("div", {}, h("h1", {}, "Patients"), h("p", { class: "muted" }, "Every enrollment, soonest due first.")), h("div", { class: "spacer" }), h("span", { class: "updated", "data-updated": true }, "")),
    stats,
    h("div", { class: "filters" }, search, pathwaySelect, statusSelect, h("div", { class: "chips", role: "group", "aria-label": "Flag" }, flagButtons)),
    h(
      "table",
      { class: "list", "data-testid": "enrollments" },
      h("thead", {}, h("tr", {}, ["Patient", "Pathway · phase", "Progress", "Status", "Next due", "State"].map((t) => h("th", {}, t)))),
      tbody,
    ),
    h("div", { class: "row", style: { marginTop: ".75rem" } }, more),
  );
  return { node, stop() { list.stop(); figures.stop(); } };
}
