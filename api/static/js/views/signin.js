// Sign in with the hospital's OpenID Connect provider (when configured), or with a bearer
// token issued by `carepath token create --role ROLE`.

import { ApiError, session } from "../http.js";
import { h } from "../ui.js";

export function signInView(signedIn) {
  const input = h("input", { type: "password", name: "token", autocomplete: "off", required: true, placeholder: "Paste your token", "aria-label": "Token" });
  const error = h("p", { class: "error", role: "alert" });
  const submit = async (event) => {
    event.preventDefault();
    error.textContent = "";
    session.token = input.value.trim();
    try {
      await signedIn();
    } catch (problem) {
      session.token = null;
      session.me = null;
      error.textContent = problem instanceof ApiError && problem.status === 401
        ? "That token is not valid. Ask your administrator for a new one."
        : `Could not sign in: ${problem.message}`;
    }
  };
  // Offered only when the server says OIDC is configured (GET /auth/config).
  const hospital = h(
    "div",
    { class: "hospital", hidden: true },
    h("a", { class: "hospital-signin", href: "/auth/login" }, "Sign in with the hospital"),
    h("p", { class: "muted small or" }, "or paste an access token"),
  );
  fetch("/auth/config", { cache: "no-store" })
    .then((response) => (response.ok ? response.json() : null))
    .then((config) => { if (config && config.enabled) hospital.hidden = false; })
    .catch(() => {});
  // Back from the provider: /auth/callback left the credential in a one-minute cookie that only
  // POST /auth/session reads, once; it never travels in the URL.
  const collect = async () => {
    history.replaceState(null, "", "#/patients");
    try {
      const response = await fetch("/auth/session", { method: "POST", cache: "no-store" });
      const data = await response.json();
      if (!response.ok) throw new Error(data.detail || `HTTP ${response.status}`);
      session.token = data.token;
      await signedIn();
    } catch (problem) {
      session.token = null;
      session.me = null;
      error.textContent = `Sign-in with the hospital did not finish: ${problem.message}`;
    }
  };
  if (location.hash === "#/signed-in") collect();
  const node = h(
    "section",
    { class: "signin" },
    h(
      "div",
      { class: "card" },
      h("h1", {}, h("span", { class: "brand-mark", style: { background: "url(/static/favicon.svg) center/cover", width: "28px", height: "28px", borderRadius: "6px", display: "inline-block" } }), "carepath"),
      h("p", { class: "muted" }, "Spinal tumour care pathways: who is on track, what is late, what comes next."),
      hospital,
      h(
        "form",
        { onsubmit: submit },
        h("label", { class: "field" }, "Access token", input),
        error,
        h("button", { type: "submit", class: "primary" }, "Sign in"),
      ),
      h("p", { class: "muted small" }, "Tokens are kept for this browser tab only."),
    ),
  );
  return { node };
}
