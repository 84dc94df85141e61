// A staff task as a card: claim it, or complete it through a form built from the step's
// `record` fields, or skip it with a reason; then follow the event until the engine decides.

import { get, key, post, session } from "../http.js";
import { askReason, banner, chip, h, humanize, relative, when } from "../ui.js";

export function taskCard(task, { showPatient = false, onChange = () => {} } = {}) {
  const outcome = h("div", { class: "outcome", role: "status" });
  const mayWork = session.may("work") && (session.me.role === task.role || ["admin", "navigator"].includes(session.me.role));
  const card = h(
    "article",
    { class: `task${task.overdue ? " overdue" : ""}`, "data-task": task.id, "data-step": task.step },
    h(
      "div",
      { class: "row" },
      h("h4", {}, task.title),
      task.overdue ? chip("Overdue", "overdue") : null,
      task.priority !== "routine" ? chip(humanize(task.priority), `priority-${task.priority}`) : null,
      h("span", { class: "spacer" }),
      chip(humanize(task.status), task.status === "on-hold" ? "on_hold" : "neutral"),
    ),
    h(
      "div",
      { class: "meta" },
      `${humanize(task.role)} · due ${when(task.due_at, true)} (${relative(task.due_at)})`,
      task.assignee ? ` · ${task.assignee}` : "",
      showPatient ? " · " : "",
      showPatient ? h("a", { href: `#/enrollments/${task.enrollment_id}` }, "open patient") : "",
    ),
    task.instructions ? h("p", { class: "small" }, task.instructions) : null,
  );
  if (mayWork && ["ready", "in-progress"].includes(task.status)) {
    const open = h("button", { type: "button", class: "primary", onclick: () => openForm() }, "Complete…");
    const claim = task.status === "ready" && !task.assignee
      ? h("button", { type: "button", class: "secondary", onclick: () => act(`/tasks/${task.id}/claim`, {}, "Claimed") }, "Claim")
      : null;
    const skip = h("button", { type: "button", class: "secondary", onclick: skipTask }, "Skip…");
    card.append(h("div", { class: "row", style: { marginTop: ".5rem" } }, open, claim, skip));
  }
  card.append(outcome);

  async function openForm() {
    const detail = await get(`/tasks/${task.id}`);
    const inputs = detail.form.map(fieldInput);
    const idempotency = key(`complete-${task.id}`);
    const form = h(
      "form",
      {
        "data-form": task.id,
        onsubmit: async (event) => {
          event.preventDefault();
          const data = {};
          for (const { field, read } of inputs) {
            const value = read();
            if (value !== undefined) data[field.name] = value;
          }
          form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
          const sent = await act(`/tasks/${task.id}/complete`, { data, idempotency_key: idempotency }, null);
          if (sent) form.remove();
          else form.querySelectorAll("button").forEach((b) => { b.disabled = false; });
        },
      },
      inputs.map((i) => i.node),
      detail.form.length ? null : h("p", { class: "muted small" }, "Nothing to record: confirm the task is done."),
      h(
        "div",
        { class: "buttons" },
        h("button", { type: "submit", class: "primary" }, "Mark complete"),
        h("button", { type: "button", class: "secondary", onclick: () => form.remove() }, "Cancel"),
      ),
    );
    card.querySelector("form")?.remove();
    card.insertBefore(form, outcome);
    form.querySelector("input, select")?.focus();
  }

  async function skipTask() {
    const reason = await askReason(`Skip “${task.title}”`, "Why is it skipped?", "Skip task");
    if (reason) await act(`/tasks/${task.id}/skip`, { reason }, null);
  }

  async function act(path, body, done) {
    outcome.replaceChildren();
    try {
      const answer = await post(path, body);
      if (done) {
        outcome.replaceChildren(chip(done, "applied"));
        onChange();
        return true;
      }
      outcome.replaceChildren(chip("Sent", "waiting"), " waiting for the pathway engine…");
      follow(answer.event);
      return true;
    } catch (error) {
      outcome.replaceChildren(h("span", { class: "error" }, error.message));
      return false;
    }
  }

  async function follow(eventId, tries = 0) {
    const detail = await get(`/tasks/${task.id}`).catch(() => null);
    const sent = detail && detail.events.find((e) => e.event === eventId);
    if (sent && sent.outcome !== "waiting") {
      // The card may be gone by now (a finished task leaves the list): say it above as well.
      const applied = sent.outcome === "applied";
      outcome.replaceChildren(chip(applied ? "Done" : "Not accepted", sent.outcome), sent.reason ? ` ${sent.reason}` : "");
      banner(applied ? `“${task.title}”: done.` : `“${task.title}” was not accepted: ${sent.reason}`, applied ? "info" : "error");
      onChange();
    } else if (tries < 60) {
      setTimeout(() => follow(eventId, tries + 1), 500);
    }
  }

  return card;
}

function fieldInput(field) {
  const label = `${humanize(field.name)}${field.unit ? ` (${field.unit})` : ""}${field.required ? "" : " — optional"}`;
  const common = { name: field.name, required: field.required, "data-field": field.name };
  let input;
  let read;
  if (field.enum.length) {
    input = h("select", common, h("option", { value: "" }, "Choose…"), field.enum.map((v) => h("option", { value: v }, humanize(v))));
    read = () => input.value || undefined;
  } else if (field.type === "boolean") {
    input = h("select", common, h("option", { value: "" }, "Choose…"), h("option", { value: "true" }, "Yes"), h("option", { value: "false" }, "No"));
    read = () => (input.value === "" ? undefined : input.value === "true");
  } else if (field.type === "integer" || field.type === "number") {
    input = h("input", { ...common, type: "number", step: field.type === "integer" ? "1" : "any", min: field.minimum ?? undefined, max: field.maximum ?? undefined });
    read = () => (input.value === "" ? undefined : Number(input.value));
  } else if (field.type === "date") {
    input = h("input", { ...common, type: "date" });
    read = () => input.value || undefined;
  } else {
    input = h("input", { ...common, type: "text", placeholder: field.type === "duration" ? "e.g. P7D" : "" });
    read = () => input.value.trim() || undefined;
  }
  const node = h("label", { class: "field", title: field.description || "" }, label, input);
  return { field, node, read };
}
