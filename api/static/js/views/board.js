// The next tumour board: when it meets and the enrollments waiting for it.

import { get, poll, session } from "../http.js";
import { banner, h, humanize, patientName, when } from "../ui.js";

export function boardView() {
  const heading = h("p", { class: "muted" }, "Loading…");
  const cases = h("tbody");
  const figures = poll("/dashboard", async (dashboard) => {
    const board = dashboard.next_tumour_board;
    if (!board) {
      heading.textContent = "No tumour board calendar is published.";
      cases.replaceChildren();
      return;
    }
    heading.replaceChildren(h("b", {}, when(board.meets_at, true)), ` · ${board.enrollments.length} case${board.enrollments.length === 1 ? "" : "s"} on the agenda`);
    if (!board.enrollments.length) {
      cases.replaceChildren(h("tr", {}, h("td", { colspan: 4, class: "empty" }, "No cases are waiting for this meeting.")));
      return;
    }
    const details = await Promise.all(board.enrollments.map((c) => get(`/enrollments/${c.enrollment_id}`)));
    cases.replaceChildren(
      ...details.map((d, i) =>
        h(
          "tr",
          { class: "clickable", "data-enrollment": d.id, onclick: () => { location.hash = `#/enrollments/${d.id}`; } },
          h("td", {}, String(i + 1)),
          h("td", {}, h("a", { class: "name", href: `#/enrollments/${d.id}` }, patientName(d)), session.me.sees_patients && d.patient ? h("div", { class: "muted small mono" }, d.patient.mrn) : null),
          h("td", {}, humanize(d.pathway)),
          h("td", {}, when(d.enrolled_at)),
        ),
      ),
    );
  }, { onError: (e) => banner(e.message) }); // every 5 s: an unchanged agenda is a 304
  const node = h(
    "section",
    {},
    h("div", { class: "page-head" }, h("div", {}, h("h1", {}, "Next tumour board"), heading), h("div", { class: "spacer" }), h("span", { class: "updated", "data-updated": true })),
    h("table", { class: "list", "data-testid": "agenda" }, h("thead", {}, h("tr", {}, ["#", "Patient", "Pathway", "Enrolled"].map((t) => h("th", {}, t)))), cases),
  );
  return { node, stop() { figures.stop(); } };
}
