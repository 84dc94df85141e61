// The navigator dashboard: sign-in, then a view per hash route (#/patients, #/queue, ...).

import { get, session } from "./http.js";
import { banner } from "./ui.js";
import { boardView } from "./views/board.js";
import { libraryView, pathwayView } from "./views/library.js";
import { patientView } from "./views/patient.js";
import { patientsView } from "./views/patients.js";
import { queueView } from "./views/queue.js";
import { signInView } from "./views/signin.js";

const ROUTES = [
  [/^#\/patients$/, "patients", () => patientsView()],
  [/^#\/enrollments\/([\w-]+)$/, "patients", (id) => patientView(id)],
  [/^#\/queue$/, "queue", () => queueView()],
  [/^#\/board$/, "board", () => boardView()],
  [/^#\/pathways$/, "pathways", () => libraryView()],
  [/^#\/pathways\/([\w-]+)$/, "pathways", (id) => pathwayView(id)],
];

let current = null; // the view on screen: { node, stop() }

async function route() {
  if (current && current.stop) current.stop();
  current = null;
  banner(null);
  const main = document.getElementById("view");
  if (!session.token || !session.me) {
    if (session.token && !session.me) {
      try {
        session.me = await get("/me");
      } catch {
        session.token = null;
      }
    }
    if (!session.me) {
      showChrome(false);
      current = signInView(async () => {
        session.me = await get("/me");
        route();
      });
      main.replaceChildren(current.node);
      return;
    }
  }
  showChrome(true);
  const [path] = location.hash.split("?");
  for (const [pattern, nav, make] of ROUTES) {
    const match = pattern.exec(path);
    if (match) {
      document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("active", a.dataset.nav === nav));
      current = make(...match.slice(1));
      main.replaceChildren(current.node);
      main.focus({ preventScroll: true });
      return;
    }
  }
  location.replace("#/patients");
}

function showChrome(signedIn) {
  const bar = document.querySelector(".topbar");
  bar.hidden = !signedIn;
  if (!signedIn) return;
  document.getElementById("who-name").textContent = session.me.actor;
  document.getElementById("who-role").textContent = session.me.role;
  // What a role may not do is not offered: links needing a permission it lacks are removed.
  document.querySelectorAll("[data-needs]").forEach((link) => {
    link.hidden = !session.may(link.dataset.needs);
  });
}

function signOut() {
  session.token = null;
  session.me = null;
  location.hash = "#/patients";
  route();
}

window.addEventListener("hashchange", route);
window.addEventListener("carepath:signed-out", () => {
  if (session.me) {
    signOut();
    banner("Your token is no longer valid: sign in again.");
  }
});
document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("sign-out").addEventListener("click", signOut);
  route();
});

