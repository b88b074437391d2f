// SlicerWeb admin console: feature flags, timed exec, audit log. No build step, no dependency.
//
// Sign-in is OIDC authorization code + PKCE S256 with plain fetch and WebCrypto (~80 lines below), at the
// issuer and with the client OHIF uses (/admin/config.json, from the policy). A library such as
// oidc-client-ts would mean npm or a vendored bundle to keep patched; this flow needs only discovery,
// one redirect and one token request. The access token lives in this page's memory only (a reload signs
// in again) and is sent only to this origin's /admin/api. Every value from the server is written with
// textContent, never as HTML, so an audit entry cannot inject markup.

const PKCE_KEY = "slicerweb.console.pkce";
const $ = (id) => document.getElementById(id);
const session = { config: null, oidc: null, token: null, auditCursor: null, execTimer: null };

class ApiFailure extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function base64url(bytes) {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomToken(size) {
  return base64url(crypto.getRandomValues(new Uint8Array(size)));
}

function redirectUri() {
  return new URL(session.config.redirect_path, location.origin).href;
}

async function discover(authority) {
  const response = await fetch(`${authority}/.well-known/openid-configuration`);
  if (!response.ok) throw new Error(`the issuer ${authority} did not answer its discovery document`);
  const document = await response.json();
  if (document.issuer.replace(/\/$/, "") !== authority) throw new Error("the issuer's discovery names another issuer");
  return document;
}

async function startSignIn() {
  const verifier = randomToken(32);
  const state = randomToken(16);
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state }));
  const url = new URL(session.oidc.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code", client_id: session.config.client_id, redirect_uri: redirectUri(),
    scope: session.config.scope, state, code_challenge: challenge, code_challenge_method: "S256",
  }).toString();
  location.assign(url.href);
}

async function finishSignIn(params) {
  const saved = JSON.parse(sessionStorage.getItem(PKCE_KEY) || "null");
  sessionStorage.removeItem(PKCE_KEY);
  history.replaceState(null, "", session.config.redirect_path);  // the code is single-use: drop it from the URL
  if (params.has("error")) throw new Error(`sign-in failed: ${params.get("error_description") || params.get("error")}`);
  if (!saved || saved.state !== params.get("state")) throw new Error("sign-in answer does not match this page's request; sign in again");
  const response = await fetch(session.oidc.token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code", code: params.get("code"), redirect_uri: redirectUri(),
      client_id: session.config.client_id, code_verifier: saved.verifier,
    }),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok || !answer.access_token) throw new Error(`sign-in failed: ${answer.error_description || answer.error || response.status}`);
  session.token = answer.access_token;
}

function signOut() {
  session.token = null;
  $("console").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  $("who").textContent = "";
  setStatus("Signed out.");
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, cache: "no-store", body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiFailure(response.status, (data && data.message) || `${response.status} ${response.statusText}`);
  return data;
}

function setStatus(text) {
  $("status").textContent = text;
}

function showError(error) {
  const box = $("error");
  box.textContent = error instanceof ApiFailure ? `${error.status}: ${error.message}` : String(error.message || error);
  box.hidden = false;
  if (error instanceof ApiFailure && error.status === 401 && session.config.auth !== "none") {
    $("sign-in").hidden = false;
  }
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.append(td);
  return td;
}

function when(epochSeconds) {
  return epochSeconds ? new Date(epochSeconds * 1000).toLocaleString() : "";
}

function remaining(epochSeconds) {
  const seconds = Math.max(0, Math.round(epochSeconds - Date.now() / 1000));
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s left`;
}

function reason() {
  const text = $("reason").value.trim();
  if (!text) {
    $("reason").focus();
    throw new Error("A reason is required: it is written to the audit log with the change.");
  }
  return text;
}

async function switchFeature(name, enabled, minutes) {
  clearError();
  try {
    const body = { enabled, reason: reason() };
    if (minutes !== undefined) body.minutes = minutes;
    await api("PUT", `/admin/api/features/${encodeURIComponent(name)}`, body);
    setStatus(`${name} switched ${enabled ? "on" : "off"}.`);
    await Promise.all([loadFeatures(), loadAudit(null)]);
  } catch (error) {
    showError(error);
  }
}

function renderFeatures(answer) {
  const body = $("features").tBodies[0];
  body.replaceChildren();
  for (const feature of answer.features) {
    const row = document.createElement("tr");
    row.dataset.feature = feature.name;
    if (feature.name === "exec") row.className = "exec";
    const name = cell(row, feature.name);
    name.title = feature.help;
    cell(row, feature.policy ? "on" : "off");
    cell(row, feature.enabled ? "on" : "off", feature.enabled ? "on" : "off");
    const override = feature.override;
    cell(row, override ? override.changed_by : "");
    cell(row, override ? when(override.changed_at) : "");
    cell(row, override && override.expires_at ? `${when(override.expires_at)} (${remaining(override.expires_at)})` : "");
    const action = cell(row, feature.toggleable ? "" : "policy only");
    if (feature.toggleable && feature.name !== "exec") {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = feature.enabled ? `Switch ${feature.name} off` : `Switch ${feature.name} on`;
      button.disabled = feature.kind === "family" && !feature.policy;
      if (button.disabled) button.title = "off in the policy: the policy is the ceiling";
      button.addEventListener("click", () => switchFeature(feature.name, !feature.enabled));
      action.append(button);
    } else if (feature.name === "exec") {
      action.textContent = "below";
    }
    body.append(row);
  }
  renderExec(answer);
}

function renderExec(answer) {
  const exec = answer.features.find((feature) => feature.name === "exec");
  const toggle = answer.exec_toggle;
  const minutes = $("exec-minutes");
  minutes.max = String(toggle.max_minutes);
  if (!minutes.dataset.touched) minutes.value = String(Math.min(5, toggle.max_minutes));
  $("exec-on").disabled = !toggle.allowed;
  $("exec-policy").textContent = toggle.allowed
    ? `The policy allows exec for at most ${toggle.max_minutes} minutes at a time; it switches itself off when the time is up.`
    : "The policy does not allow switching exec on at runtime (features.exec_toggle = false).";
  clearInterval(session.execTimer);
  const expires = exec.override && exec.enabled ? exec.override.expires_at : null;
  const show = () => {
    const state = $("exec-state");
    state.className = exec.enabled ? "on" : "";
    state.textContent = !exec.enabled ? "Exec is off."
      : expires ? `Exec is ON until ${when(expires)} (${remaining(expires)}).` : "Exec is ON (by policy).";
  };
  show();
  if (expires) {
    session.execTimer = setInterval(() => {
      if (Date.now() / 1000 >= expires) {
        clearInterval(session.execTimer);
        // The server switched it off at that moment; show its state and the feature.expired record.
        setTimeout(() => Promise.all([loadFeatures(), loadAudit(null)]).catch(showError), 1500);
      }
      show();
    }, 1000);
  }
}

async function loadFeatures() {
  const answer = await api("GET", "/admin/api/features");
  $("who").textContent = `Signed in as ${answer.subject}`;
  renderFeatures(answer);
}

function details(entry) {
  const skip = new Set(["time", "event", "subject", "outcome"]);
  return Object.entries(entry).filter(([key, value]) => !skip.has(key) && value !== null && value !== "")
    .map(([key, value]) => `${key}=${typeof value === "object" ? JSON.stringify(value) : value}`).join("  ");
}

function renderAudit(answer, append) {
  const body = $("audit").tBodies[0];
  if (!append) body.replaceChildren();
  for (const entry of answer.entries) {
    const row = document.createElement("tr");
    cell(row, entry.time);
    cell(row, entry.event);
    cell(row, entry.subject || "");
    cell(row, entry.outcome);
    cell(row, details(entry), "details");
    body.append(row);
  }
  session.auditCursor = answer.next;
  $("audit-older").disabled = !answer.next;
}

async function loadAudit(cursor) {
  const params = new URLSearchParams();
  for (const key of ["actor", "action", "outcome"]) {
    const value = $(`audit-${key}`).value.trim();
    if (value) params.set(key, value);
  }
  if (cursor) params.set("before", cursor);
  const answer = await api("GET", `/admin/api/audit?${params}`);
  renderAudit(answer, Boolean(cursor));
}

async function refresh() {
  clearError();
  try {
    await Promise.all([loadFeatures(), loadAudit(null)]);
    $("console").hidden = false;
    setStatus("");
  } catch (error) {
    $("console").hidden = true;
    setStatus("");
    showError(error);
  }
}

function wire() {
  $("sign-in").addEventListener("click", () => startSignIn().catch(showError));
  $("sign-out").addEventListener("click", signOut);
  $("exec-minutes").addEventListener("input", (event) => { event.target.dataset.touched = "1"; });
  $("exec-on").addEventListener("click", () => {
    const minutes = Number($("exec-minutes").value);
    if (!(minutes > 0)) {
      showError(new Error("Minutes must be a positive number."));
      return;
    }
    switchFeature("exec", true, minutes);
  });
  $("exec-off").addEventListener("click", () => switchFeature("exec", false));
  $("audit-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    loadAudit(null).catch(showError);
  });
  $("audit-newest").addEventListener("click", () => loadAudit(null).catch(showError));
  $("audit-older").addEventListener("click", () => loadAudit(session.auditCursor).catch(showError));
}

async function main() {
  wire();
  session.config = await (await fetch("/admin/config.json", { cache: "no-store" })).json();
  if (session.config.auth !== "none") {
    if (!session.config.client_id) {
      throw new Error("Sign-in is not configured: set [viewer] oidc_client_id in the policy (see deploy/README.md).");
    }
    session.oidc = await discover(session.config.authority);
    const params = new URLSearchParams(location.search);
    if (params.has("code") || params.has("error")) {
      await finishSignIn(params);
    } else {
      setStatus("Signing in…");
      await startSignIn();
      return;
    }
    $("sign-out").hidden = false;
  }
  await refresh();
}

main().catch((error) => {
  setStatus("");
  showError(error);
  if (session.oidc) $("sign-in").hidden = false;
});
