// The API as the page uses it: bearer token, problem+json errors, ETag polling.

const TOKEN_KEY = "carepath.token";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

export const session = {
  // The token lives for the browser tab only (sessionStorage), never in the URL.
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
  me: null,
  may(permission) { return Boolean(this.me && this.me.permissions.includes(permission)); },
};

const etags = new Map(); // url -> [etag, body]

export async function request(method, path, body, { conditional = false } = {}) {
  const headers = { Authorization: `Bearer ${session.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const cached = conditional ? etags.get(path) : undefined;
  if (cached) headers["If-None-Match"] = cached[0];
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store", // the ETag round trip is ours, not the browser cache's
  });
  if (response.status === 304 && cached) return { data: cached[1], changed: false };
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    if (response.status === 401) window.dispatchEvent(new Event("carepath:signed-out"));
    throw new ApiError(response.status, describe(response.status, data));
  }
  const etag = response.headers.get("etag");
  if (conditional && etag) etags.set(path, [etag, data]);
  return { data, changed: true };
}

function describe(status, data) {
  if (data && typeof data === "object") {
    const more = (data.errors || []).slice(1).map((e) => `${e.field}: ${e.message}`);
    return [data.detail || data.title || `HTTP ${status}`, ...more].join("; ");
  }
  return `HTTP ${status}: ${String(data).slice(0, 200)}`;
}

export const get = (path) => request("GET", path).then((r) => r.data);
export const post = (path, body) => request("POST", path, body ?? {}).then((r) => r.data);

// Poll a GET with If-None-Match: `render(data)` runs on the first answer and on every change.
// A render that returns false declines (someone is typing in a form there): it is offered the
// same data again on the next tick. Paused while the tab is hidden; `stop()` ends it.
export function poll(path, render, { every = 5000, onError } = {}) {
  let timer = null;
  let stopped = false;
  let shown = false; // a new view renders its first answer even when it is a 304
  let declined = false;
  const tick = async () => {
    if (stopped) return;
    if (!document.hidden) {
      try {
        const { data, changed } = await request("GET", typeof path === "function" ? path() : path, undefined, { conditional: true });
        if (!stopped && (changed || !shown || declined)) {
          shown = true;
          declined = (await render(data)) === false;
        }
        if (!stopped) markUpdated();
      } catch (error) {
        if (!stopped && onError) onError(error);
      }
    }
    if (!stopped) timer = setTimeout(tick, every);
  };
  tick();
  return {
    stop() { stopped = true; clearTimeout(timer); },
    now() { clearTimeout(timer); tick(); },
  };
}

function markUpdated() {
  const stamp = document.querySelector("[data-updated]");
  if (stamp) stamp.textContent = `Updated ${new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })}`;
}

export function key(prefix) {
  // An idempotency key per user action: a double click or a retry sends the same key.
  const random = crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2);
  return `${prefix}-${random}`;
}
