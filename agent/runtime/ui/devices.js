// The OpenClaw Devices page (AGENT_ENGINE=openclaw, served at /_agent/): pairing requests and
// paired devices from /api/openclaw/devices, approve/reject, gateway status, backup and restart.
// Everything the gateway reports is shown as text, never parsed as HTML.

import { $, api, el, showError, toast, when } from "./common.js";

function fromMs(ms) {
  return typeof ms === "number" ? when(new Date(ms).toISOString()) : "—";
}

function describe(device) {
  const parts = [device.displayName, device.platform, device.clientId].filter(Boolean);
  return parts.length ? parts.join(" · ") : "—";
}

function role(device) {
  const roles = device.roles || (device.role ? [device.role] : []);
  return roles.length ? roles.join(", ") : "—";
}

async function loadDevices() {
  const { pending, paired } = await api("/api/openclaw/devices");
  $("pending-body").replaceChildren(...pending.map((p) => el("tr", { dataset: { request: p.requestId } },
    el("td", {}, el("code", { textContent: p.requestId })),
    el("td", { className: "clip", textContent: p.deviceId || "—" }),
    el("td", { textContent: describe(p) }),
    el("td", { textContent: role(p) }),
    el("td", { textContent: p.remoteIp || "—" }),
    el("td", { textContent: fromMs(p.ts) }),
    el("td", { className: "actions" },
      el("button", { type: "button", className: "primary", textContent: "Approve", onclick: () => decide(p, "approve").catch(showError) }),
      el("button", { type: "button", textContent: "Reject", onclick: () => decide(p, "reject").catch(showError) })))));
  if (pending.length === 0) $("pending-body").append(el("tr", {}, el("td", { colSpan: 7, className: "muted", textContent: "No pending pairing requests." })));
  $("paired-body").replaceChildren(...paired.map((d) => el("tr", { dataset: { device: d.deviceId } },
    el("td", { className: "clip", textContent: d.deviceId }),
    el("td", { textContent: describe(d) }),
    el("td", { textContent: role(d) }),
    el("td", { textContent: d.approvedAtMs ? fromMs(d.approvedAtMs) : (d.approvedVia || "—") }),
    el("td", { textContent: d.connected ? "connected now" : fromMs(d.lastSeenAtMs) }))));
  if (paired.length === 0) $("paired-body").append(el("tr", {}, el("td", { colSpan: 5, className: "muted", textContent: "No paired devices." })));
}

async function decide(request, action) {
  // List right before deciding: a device that retries gets a new request id (the API answers 404).
  const { device } = await api(`/api/openclaw/devices/${encodeURIComponent(request.requestId)}/${action}`, { method: "POST" });
  const who = device && device.deviceId ? device.deviceId : request.requestId;
  toast(action === "approve" ? `Approved device ${who}` : `Rejected device ${who}`);
  await loadDevices();
}

async function loadStatus() {
  const status = await api("/api/openclaw/status");
  const badge = $("gateway");
  badge.dataset.state = status.ready ? "open" : "closed";
  badge.textContent = status.ready ? "gateway ready" : `gateway not ready: ${status.reason}`;
  const g = status.gateway;
  const s = status.state;
  const rows = [
    ["Gateway", status.ready ? "ready" : `not ready: ${status.reason}`],
    ["Process id", g.pid === null ? "—" : String(g.pid)],
    ["Starts", String(g.starts)],
    ["Last start to ready", g.last_start_to_ready_s === null ? "—" : `${g.last_start_to_ready_s.toFixed(2)} s`],
    ["Files restored at start", String(s.restored_files)],
    ["Uploads to the state store", String(s.uploads)],
    ["Last backup", s.last_synced_at ? when(s.last_synced_at) : "none since this sandbox started"],
  ];
  $("status-list").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { textContent: k }), el("dd", { textContent: v })]));
}

async function backup() {
  const { written } = await api("/api/openclaw/sync", { method: "POST" });
  toast(written === 1 ? "Backed up 1 changed file" : `Backed up ${written} changed files`);
  await loadStatus();
}

async function restart() {
  await api("/api/openclaw/restart", { method: "POST" });
  toast("Gateway restarting");
  await loadStatus();
}

function refresh() {
  return Promise.all([loadDevices(), loadStatus()]);
}

function start() {
  $("refresh").addEventListener("click", () => refresh().catch(showError));
  $("backup").addEventListener("click", () => backup().catch(showError));
  $("restart").addEventListener("click", () => restart().catch(showError));
  refresh().catch(showError);
}

start();
