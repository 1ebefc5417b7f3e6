// The console's entry: asks for a token in auth mode `kubernetes`, then routes by the URL's hash.
import { api, Failed, setToken, Unauthenticated } from "./api";
import { h, message, show } from "./dom";
import "./style.css";
import { unitPage } from "./unit";
import { unitsPage } from "./units";
import { versionsPage } from "./versions";

let current = new AbortController();

function askToken(reason: string): void {
  current.abort();
  const input = h("input", { id: "token", type: "password", autocomplete: "off", required: true }) as HTMLInputElement;
  const form = h(
    "form",
    { class: "token" },
    h("label", { for: "token" }, "Bearer token"),
    input,
    h("p", { class: "hint", id: "token-hint" }, "Kept only in this tab's memory; a reload asks again."),
    h("button", { type: "submit" }, "Sign in"),
  );
  input.setAttribute("aria-describedby", "token-hint");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setToken(input.value);
    void start();
  });
  show(h("h1", {}, "Sign in"), reason ? message(reason) : null, form);
  input.focus();
}

async function route(): Promise<void> {
  current.abort();
  current = new AbortController();
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  try {
    if (parts[0] === "unit" && parts.length === 3) await unitPage(parts[1], parts[2]);
    else if (parts[0] === "versions" && parts.length === 3) await versionsPage(parts[1], parts[2]);
    else unitsPage(current.signal, () => askToken("The token was not accepted."));
  } catch (error) {
    if (error instanceof Unauthenticated) askToken("The token was not accepted.");
    else if (error instanceof Failed) show(h("h1", {}, `Error ${error.status}`), message(error.message));
    else show(h("h1", {}, "Error"), message(String(error)));
  }
}

async function start(): Promise<void> {
  try {
    const session = await api.session();
    document.getElementById("who")!.textContent = session.user ? `signed in as ${session.user}` : "";
    if (session.authMode === "kubernetes" && !session.authenticated) {
      askToken("");
      return;
    }
  } catch (error) {
    show(h("h1", {}, "Error"), message(`The shim did not answer: ${String(error)}`));
    return;
  }
  await route();
}

window.addEventListener("hashchange", () => void route());
void start();
