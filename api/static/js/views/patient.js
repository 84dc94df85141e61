// A patient's enrollment: the pathway as a Gantt (done, current, planned, projected end),
// open tasks, event history, and hold / resume / withdraw for navigators.

import { get, key, poll, post, session } from "../http.js";
import { askReason, banner, chip, flagChip, h, humanize, progressBar, when } from "../ui.js";
import { gantt } from "./gantt.js";
import { taskCard } from "./taskcard.js";

export function patientView(id) {
  const head = h("div", { class: "card" }, h("p", { class: "muted" }, "Loading…"));
  const chart = h("div", { class: "card" });
  const tasks = h("div", { "data-testid": "open-tasks" });
  const history = h("ul", { class: "events", "data-testid": "history" });
  const pollers = [];
  const refresh = () => pollers.forEach((p) => p.now());

  pollers.push(poll(`/enrollments/${id}?include=timeline`, (detail) => {
    head.replaceChildren(...header(detail, refresh));
    chart.replaceChildren(h("h2", {}, "Pathway timeline"), gantt(detail));
    if (!session.may("queue")) tasks.replaceChildren(...currentSteps(detail));
  }, { onError: (error) => banner(error.message) }));
  if (session.may("queue")) {
    pollers.push(poll(`/tasks?enrollment=${encodeURIComponent(id)}&limit=100`, ({ items: open }) => {
      if (tasks.querySelector("form")) return false; // not while a form is being filled in
      tasks.replaceChildren(...(open.length ? open.map((t) => taskCard(t, { onChange: refresh })) : [h("p", { class: "muted" }, "No open tasks.")]));
    }, { onError: (error) => banner(error.message) }));
  }
  pollers.push(poll(`/enrollments/${id}/events?limit=100`, ({ items: events }) => {
    history.replaceChildren(...events.map(eventItem)); // the newest 100
  }, { onError: (error) => banner(error.message) }));

  const node = h(
    "section",
    { class: "stack" },
    h("div", { class: "row" }, h("a", { href: "#/patients" }, "← Patients"), h("span", { class: "spacer" }), h("span", { class: "updated", "data-updated": true })),
    head,
    chart,
    h(
      "div",
      { class: "grid two" },
      h("div", { class: "card" }, h("h2", {}, "Open tasks"), tasks),
      h("div", { class: "card" }, h("h2", {}, "Event history"), history),
    ),
  );
  return { node, stop() { pollers.forEach((p) => p.stop()); } };
}

function header(detail, refresh) {
  const p = detail.progress;
  const name = detail.patient ? detail.patient.display_name : `Patient ${detail.patient_id.slice(0, 8)}`;
  const actions = h("div", { class: "actions" });
  if (session.may("navigate")) {
    if (detail.status === "active") actions.append(button("Hold…", "secondary", "hold", "Put the pathway on hold", "Why is it held?", "Hold"));
    if (detail.status === "on_hold") actions.append(button("Resume…", "primary", "resume", "Resume the pathway", "Why is it resumed?", "Resume"));
    if (["active", "on_hold"].includes(detail.status)) actions.append(button("Withdraw…", "danger", "withdraw", "Withdraw from the pathway", "Why is the patient withdrawn?", "Withdraw", true));
  }
  function button(text, style, action, title, label, confirm, danger = false) {
    return h("button", {
      type: "button",
      class: style,
      "data-action": action,
      onclick: async () => {
        const reason = await askReason(title, label, confirm, danger);
        if (!reason) return;
        try {
          await post(`/enrollments/${detail.id}/${action}`, { reason, idempotency_key: key(action) });
          banner(`${confirm} sent: the pathway engine applies it in a moment.`, "info");
          setTimeout(refresh, 400);
        } catch (error) {
          banner(error.message);
        }
      },
    }, text);
  }
  return [
    h(
      "div",
      { class: "patient-head" },
      h(
        "div",
        {},
        h("h1", { "data-testid": "patient-name" }, name),
        h("div", { class: "row" }, flagChip(detail.flag), chip(humanize(detail.status), detail.status === "on_hold" ? "on_hold" : "neutral"), h("span", { class: "muted" }, `${humanize(detail.pathway)} v${detail.version}`), detail.patient ? h("span", { class: "muted mono" }, `MRN ${detail.patient.mrn}`) : null),
      ),
      actions,
    ),
    h("div", { style: { margin: "1rem 0 .5rem" } }, progressBar(p.done, p.expected, true)),
    h(
      "div",
      { class: "patient-head" },
      h(
        "div",
        { class: "facts" },
        fact("Phase", p.phase ? humanize(p.phase) : "—"),
        fact("Next due", when(p.next_due, true)),
        fact("Projected end", when(p.projected_end)),
        fact("Planned end", when(p.planned_end)),
        fact("Enrolled", when(detail.enrolled_at)),
        fact("Steps done", `${p.done} of ${p.expected}`),
        fact("Outcome", detail.outcome ? humanize(detail.outcome) : "—"),
        fact("Open now", String(p.current.length)),
      ),
    ),
  ];
}

function fact(label, value) {
  return h("div", { class: "fact" }, h("span", {}, label), h("b", {}, value));
}

function currentSteps(detail) {
  if (!detail.progress.current.length) return [h("p", { class: "muted" }, "Nothing open.")];
  return detail.progress.current.map((step) =>
    h("div", { class: "task" }, h("h4", {}, humanize(step.step)), h("div", { class: "meta" }, `${step.kind} · due ${when(step.due, true)}`)),
  );
}

const EVENT_LABELS = {
  enrolled: "Enrolled",
  task_completed: "Task completed",
  task_skipped: "Task skipped",
  timer_fired: "Timer fired",
  hold: "Held",
  resume: "Resumed",
  withdraw: "Withdrawn",
  data_recorded: "Data recorded",
};

function eventItem(event) {
  const data = event.data && event.type !== "timer_fired" ? summary(event.data) : "";
  return h(
    "li",
    { "data-event-type": event.type, "data-outcome": event.outcome },
    h("span", { class: "muted" }, when(event.recorded_at, true)),
    h("span", {}, h("b", {}, EVENT_LABELS[event.type] || humanize(event.type)), ` · ${event.actor}`),
    chip(event.outcome, event.outcome),
    data ? h("span", { class: "data" }, data) : null,
    event.reason ? h("span", { class: "reason" }, event.reason) : null,
  );
}

function summary(data) {
  const values = data.data && typeof data.data === "object" ? data.data : data;
  return Object.entries(values)
    .filter(([name, value]) => name !== "task" && !(value && typeof value === "object" && !Object.keys(value).length))
    .map(([name, value]) => `${humanize(name)}: ${typeof value === "object" && value ? Object.entries(value).map(([k, v]) => `${humanize(k)} ${v}`).join(", ") : value}`)
    .join(" · ");
}
