// Helpers shared by the UI's pages (the chat/admin page and the OpenClaw Devices page): DOM
// building, dates, the toast, and the JSON API client. Server data only ever goes into
// textContent or properties, never into HTML.

export const $ = (id) => document.getElementById(id);

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

let toastTimer = 0;
export function toast(message, kind = "info") {
  const box = $("toast");
  box.textContent = message;
  box.dataset.kind = kind;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, kind === "error" ? 8000 : 3000);
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? `${body.error}${body.hint ? ` (${body.hint})` : ""}` : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export async function api(path, options = {}) {
  const init = { method: options.method || "GET", headers: { accept: "application/json" } };
  if (options.body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

export function showError(error) {
  toast(error instanceof Error ? error.message : String(error), "error");
}
