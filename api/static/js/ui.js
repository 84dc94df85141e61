// Small DOM helpers: everything from the API goes in as text, never as HTML.

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else if (name === "style") Object.assign(node.style, value);
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const FLAG_LABELS = {
  on_track: "On track",
  at_risk: "At risk",
  overdue: "Overdue",
  on_hold: "On hold",
  completed: "Completed",
};

export function flagChip(flag) {
  return h("span", { class: `chip ${flag}`, "data-flag": flag }, FLAG_LABELS[flag] || flag);
}

export function chip(text, kind = "neutral") {
  return h("span", { class: `chip ${kind}` }, text);
}

export function progressBar(done, expected, big = false) {
  const percent = expected > 0 ? Math.min(100, Math.round((100 * done) / expected)) : 0;
  return h(
    "div",
    { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": expected, "aria-valuenow": done, title: `${done} of ${expected} steps done` },
    h("div", { class: big ? "bar big" : "bar" }, h("i", { style: { width: `${percent}%` } })),
    h("small", {}, expected > 0 ? `${done}/${expected}` : "—"),
  );
}

const DAY = { weekday: "short", day: "numeric", month: "short" };
const DAY_TIME = { ...DAY, hour: "2-digit", minute: "2-digit" };

export function when(iso, withTime = false) {
  if (!iso) return "—";
  const date = new Date(iso);
  const options = withTime ? DAY_TIME : DAY;
  const thisYear = date.getFullYear() === new Date().getFullYear();
  return date.toLocaleString([], thisYear ? options : { ...options, year: "numeric" });
}

export function relative(iso) {
  if (!iso) return "";
  const days = Math.round((new Date(iso) - Date.now()) / 86400000);
  if (days === 0) return "today";
  if (days === 1) return "tomorrow";
  if (days === -1) return "yesterday";
  return days > 0 ? `in ${days} days` : `${-days} days ago`;
}

export function humanize(code) {
  if (!code) return "";
  const text = String(code).replaceAll("_", " ").replaceAll("-", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function patientName(item) {
  return item.patient ? item.patient.display_name : `Patient ${item.patient_id.slice(0, 8)}`;
}

export function banner(message, kind = "error") {
  const node = document.getElementById("banner");
  if (!message) {
    node.hidden = true;
    return;
  }
  node.className = kind === "info" ? "info" : "";
  node.textContent = message;
  node.hidden = false;
}

// A dialog asking for a reason (hold, resume, withdraw, skip): resolves to the text or null.
export function askReason(title, label, confirm, danger = false) {
  const dialog = document.getElementById("dialog");
  return new Promise((resolve) => {
    const input = h("textarea", { name: "reason", rows: 3, required: true, maxlength: 300, "aria-label": label });
    const form = h(
      "form",
      { method: "dialog" },
      h("h2", {}, title),
      h("label", { class: "field" }, label, input),
      h(
        "div",
        { class: "buttons" },
        h("button", { type: "button", class: "secondary", onclick: () => dialog.close("") }, "Cancel"),
        h("button", { type: "submit", class: danger ? "danger" : "primary", value: "ok" }, confirm),
      ),
    );
    dialog.replaceChildren(form);
    dialog.onclose = () => resolve(dialog.returnValue === "ok" && input.value.trim() ? input.value.trim() : null);
    dialog.returnValue = "";
    dialog.showModal();
    input.focus();
  });
}
