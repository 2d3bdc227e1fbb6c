// edgeagent web chat and admin UI. No framework and no build step: plain DOM, the runtime's JSON
// API and /ws. Everything the server sends is shown with textContent, never parsed as HTML.

import { $, ApiError, api, el, showError, toast, when } from "./common.js";

function randomId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function memoryUrl(path) {
  return "/api/memory/" + path.split("/").map(encodeURIComponent).join("/");
}

// ---------------------------------------------------------------- header and state

async function loadState() {
  const state = await api("/api/state");
  $("who").textContent = `Signed in as ${state.user}`;
  if (state.state.prefix) {
    $("memory-scope").textContent = "Memory here is yours alone: this sandbox belongs to you (per-user isolation).";
  }
  $("model").textContent = `${state.engine} · ${state.model}`;
  $("offline-badge").hidden = !state.offline;
  const facts = $("state-list");
  const s = state.state;
  const rows = [
    ["Tenant", state.tenant],
    ["Backend", s.backend === "local" ? "local directory" : "Cloudflare R2"],
    [s.backend === "local" ? "Directory" : "Bucket", s.backend === "local" ? s.directory : s.bucket],
    ...(s.endpoint ? [["Endpoint", s.endpoint]] : []),
    ...(s.prefix ? [["Prefix", s.prefix]] : []),
    ["Durability", s.durability],
    s.sync_mode === "write-through"
      ? ["Last durable write", s.last_durable_write ? when(s.last_durable_write) : "none since this sandbox started"]
      : ["Last buffered write", s.last_buffered_write ? when(s.last_buffered_write) : "none since this sandbox started"],
    ["Sessions", String(state.counts.sessions)],
    ["Memory files", String(state.counts.memory_files)],
    ["Active jobs", String(state.counts.jobs_active)],
    ["Pending pairings", String(state.counts.pairings_pending)],
    ["Model", `${state.model}${state.offline ? " (offline model: built in, no key, no network)" : ""}`],
  ];
  facts.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { textContent: k }), el("dd", { textContent: v })]));
  return state;
}

// ---------------------------------------------------------------- chat

const SESSION_PAGE = 30; // sessions per listing page
const HISTORY_PAGE = 50; // turns per history page
const chat = { socket: null, session: null, inflight: null, retryMs: 500, queue: [], cursor: null, older: null };

function setConn(state, label) {
  const conn = $("conn");
  conn.dataset.state = state;
  conn.textContent = label;
}

function bubble(role, text, meta, scroll = true) {
  $("chat-empty")?.remove();
  const body = el("div", { className: "text", textContent: text });
  const node = el("div", { className: `msg ${role}` }, body, meta ? el("div", { className: "meta", textContent: meta }) : null);
  $("messages").append(node);
  if (scroll) node.scrollIntoView({ block: "end" });
  return node;
}

function turnNodes(turns) {
  return turns.flatMap((turn) => [
    el("div", { className: "msg user", dataset: { seq: String(turn.seq) } }, el("div", { className: "text", textContent: turn.prompt })),
    el("div", { className: "msg agent", dataset: { model: turn.model } },
      el("div", { className: "text", textContent: turn.reply }),
      el("div", { className: "meta", textContent: `${turn.model} · ${turn.channel} · ${when(turn.created_at)}` })),
  ]);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws`);
  chat.socket = socket;
  setConn("connecting", "connecting…");
  socket.addEventListener("open", () => {
    chat.retryMs = 500;
    setConn("open", "connected");
    // A turn without its final reply frame was not saved: resend it with the same turn_id, so the
    // server answers it once even if it had stored it just before the connection dropped.
    if (chat.inflight) socket.send(JSON.stringify(chat.inflight.frame));
  });
  socket.addEventListener("message", (event) => onFrame(JSON.parse(event.data)));
  socket.addEventListener("close", () => {
    if (chat.socket !== socket) return;
    setConn("closed", "reconnecting…");
    setTimeout(connect, chat.retryMs);
    chat.retryMs = Math.min(chat.retryMs * 2, 5000);
  });
}

function onFrame(frame) {
  const turn = chat.inflight;
  if (!turn) return;
  const text = turn.node.querySelector(".text");
  if (frame.type === "delta") {
    if (!turn.streaming) { text.textContent = ""; turn.streaming = true; }
    text.textContent += frame.text;
    turn.node.classList.add("streaming");
    turn.node.scrollIntoView({ block: "end" });
  } else if (frame.type === "reply") {
    text.textContent = frame.reply;
    turn.node.classList.remove("streaming", "pending");
    turn.node.dataset.model = frame.model; // which model answered (a fallback or the job model)
    turn.node.append(el("div", { className: "meta", textContent: `${frame.offline ? "offline model" : frame.model} · saved ${when(frame.created_at)}` }));
    chat.inflight = null;
    $("chat-send").disabled = false;
    loadSessions().catch(showError);
    sendNext();
  } else if (frame.type === "error") {
    turn.node.classList.remove("streaming", "pending");
    turn.node.classList.add("failed");
    // A reached spend limit (429) is a plain message: which budget, and when it comes back.
    text.textContent = frame.status === 429 ? frame.error : `Not saved: ${frame.error}${frame.hint ? ` (${frame.hint})` : ""}`;
    chat.inflight = null;
    $("chat-send").disabled = false;
    sendNext();
  }
}

function sendNext() {
  if (chat.inflight || chat.queue.length === 0) return;
  const message = chat.queue.shift();
  if (!chat.session) chat.session = randomId();
  const frame = { type: "chat", message, session_id: chat.session, turn_id: randomId() };
  bubble("user", message);
  const node = bubble("agent pending", "…");
  chat.inflight = { frame, node, streaming: false };
  $("chat-send").disabled = true;
  if (chat.socket && chat.socket.readyState === WebSocket.OPEN) chat.socket.send(JSON.stringify(frame));
}

function submitChat(event) {
  event.preventDefault();
  const input = $("chat-input");
  const message = input.value.trim();
  if (!message) return;
  input.value = "";
  chat.queue.push(message);
  sendNext();
}

function sessionItem(s) {
  return el("li", {},
    el("button", {
      type: "button",
      className: s.session_id === chat.session ? "item active" : "item",
      onclick: () => openSession(s.session_id).catch(showError),
      dataset: { session: s.session_id },
    }, el("span", { className: "title", textContent: s.title || s.session_id }), el("span", { className: "sub", textContent: when(s.created_at) })));
}

// The listing comes a page at a time, newest first; "More sessions" follows the server's cursor.
async function loadSessions(more = false) {
  const cursor = more ? chat.cursor : null;
  const query = `limit=${SESSION_PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
  const { sessions, next_cursor } = await api(`/api/sessions?${query}`);
  const list = $("session-list");
  const items = sessions.map(sessionItem);
  if (more) list.append(...items); else list.replaceChildren(...items);
  chat.cursor = next_cursor;
  $("sessions-more").hidden = !next_cursor;
  if (!more && sessions.length === 0) list.append(el("li", { className: "muted", textContent: "No sessions yet." }));
}

function markActive() {
  for (const button of $("session-list").querySelectorAll("button[data-session]")) {
    button.classList.toggle("active", button.dataset.session === chat.session);
  }
}

// A session opens on its newest page of turns; "Load older messages" prepends the page before.
async function openSession(id) {
  if (chat.inflight) { toast("Wait for the current reply first."); return; }
  const page = await api(`/api/sessions/${encodeURIComponent(id)}?limit=${HISTORY_PAGE}`);
  chat.session = id;
  chat.older = page.older_before;
  $("messages").replaceChildren(...turnNodes(page.turns));
  $("load-older").hidden = !chat.older;
  $("messages").lastElementChild?.scrollIntoView({ block: "end" });
  markActive();
}

async function loadOlder() {
  if (!chat.session || !chat.older) return;
  const id = chat.session;
  const page = await api(`/api/sessions/${encodeURIComponent(id)}?limit=${HISTORY_PAGE}&before=${chat.older}`);
  if (chat.session !== id) return;
  const box = $("messages");
  const first = box.firstElementChild;
  box.prepend(...turnNodes(page.turns));
  first?.scrollIntoView({ block: "start" });
  chat.older = page.older_before;
  $("load-older").hidden = !chat.older;
}

function newChat() {
  if (chat.inflight) { toast("Wait for the current reply first."); return; }
  chat.session = null;
  chat.older = null;
  $("load-older").hidden = true;
  $("messages").replaceChildren(el("p", { className: "empty", id: "chat-empty", textContent: "Say hello to start a new session." }));
  loadSessions().catch(showError);
  $("chat-input").focus();
}

// ---------------------------------------------------------------- memory

const memory = { path: null, etag: null };

async function loadMemoryFiles() {
  const { files } = await api("/api/memory");
  $("memory-files").replaceChildren(...files.map((f) => el("li", {},
    el("button", {
      type: "button",
      className: f.path === memory.path ? "item active" : "item",
      onclick: () => openMemory(f.path).catch(showError),
      dataset: { path: f.path },
    }, el("span", { className: "title", textContent: f.path }), el("span", { className: "sub", textContent: `${f.size} bytes` })))));
  if (files.length === 0) $("memory-files").append(el("li", { className: "muted", textContent: "No memory yet." }));
}

function showEditor(path, content, etag, status) {
  memory.path = path;
  memory.etag = etag;
  $("memory-path").textContent = path;
  const box = $("memory-content");
  box.value = content;
  box.disabled = false;
  $("memory-save").disabled = false;
  $("memory-status").textContent = status;
}

async function openMemory(path) {
  const file = await api(memoryUrl(path));
  showEditor(file.path, file.content, file.etag, "");
  await loadMemoryFiles();
}

async function saveMemory() {
  const body = { content: $("memory-content").value };
  if (memory.etag) body.etag = memory.etag;
  try {
    const saved = await api(memoryUrl(memory.path), { method: "PUT", body });
    memory.etag = saved.etag;
    $("memory-status").textContent = `Saved ${new Date().toLocaleTimeString()}`;
    toast(`Saved ${saved.path}`);
    await loadMemoryFiles();
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 409)) throw error;
    $("memory-status").textContent = "Changed elsewhere since you opened it: copy your text, reopen the file, and apply your edit again.";
    toast(`Not saved: ${memory.path} was changed elsewhere`, "error");
  }
}

async function searchMemory(event) {
  event.preventDefault();
  const q = $("memory-q").value.trim();
  const hits = $("memory-hits");
  if (!q) { hits.replaceChildren(); return; }
  const result = await api(`/api/memory/search?q=${encodeURIComponent(q)}`);
  hits.replaceChildren(...result.hits.map((h) => el("li", {},
    el("button", { type: "button", className: "item", onclick: () => openMemory(h.path).catch(showError) },
      el("span", { className: "title", textContent: `${h.path}:${h.line}` }), el("span", { className: "sub", textContent: h.snippet })))));
  if (result.hits.length === 0) hits.append(el("li", { className: "muted", textContent: "No matches." }));
}

function newMemoryFile(event) {
  event.preventDefault();
  const path = $("memory-new-path").value.trim();
  if (!path) return;
  $("memory-new-path").value = "";
  showEditor(path, "", null, "New file: it is created when you save.");
  $("memory-content").focus();
}

// ---------------------------------------------------------------- jobs

async function loadJobs() {
  const { jobs } = await api("/api/jobs");
  const rows = jobs.map((job) => el("tr", { dataset: { job: job.id } },
    el("td", { textContent: job.kind === "cron" ? `${job.cron} (${job.timezone})` : `once at ${when(job.at)}` }),
    el("td", { textContent: job.prompt }),
    el("td", { textContent: job.channel }),
    el("td", {}, el("span", { className: `pill ${job.status}`, textContent: job.status })),
    el("td", { textContent: when(job.next_run) }),
    el("td", { textContent: String(job.runs) }),
    el("td", { className: "clip", textContent: job.last_result || "—" }),
    el("td", {}, job.status === "active"
      ? el("button", { type: "button", textContent: "Cancel", onclick: () => cancelJob(job.id).catch(showError) })
      : null)));
  $("jobs-body").replaceChildren(...rows);
  if (rows.length === 0) $("jobs-body").append(el("tr", {}, el("td", { colSpan: 8, className: "muted", textContent: "No jobs. Ask the agent to remind you of something." })));
}

async function cancelJob(id) {
  await api(`/api/jobs/${encodeURIComponent(id)}`, { method: "DELETE" });
  toast("Job cancelled");
  await loadJobs();
}

// ---------------------------------------------------------------- channels and pairings

async function loadChannels() {
  const [{ channels }, { pairings }] = await Promise.all([api("/api/channels"), api("/api/pairings")]);
  $("channels-body").replaceChildren(...channels.map((c) => el("tr", { dataset: { channel: c.channel } },
    el("td", { textContent: c.channel }),
    el("td", {}, el("span", { className: `pill ${c.enabled ? "active" : "off"}`, textContent: c.enabled ? "enabled" : "disabled" })),
    el("td", { textContent: c.policy }),
    el("td", { textContent: c.status }))));
  $("pairings-body").replaceChildren(...pairings.map((p) => el("tr", { dataset: { code: p.code } },
    el("td", { textContent: p.channel }),
    el("td", { textContent: p.sender_name ? `${p.sender_name} (${p.sender})` : p.sender }),
    el("td", {}, el("code", { textContent: p.code })),
    el("td", { textContent: when(p.expires_at) }),
    el("td", {}, el("button", { type: "button", className: "primary", textContent: "Approve", onclick: () => approve(p).catch(showError) })))));
  if (pairings.length === 0) $("pairings-body").append(el("tr", {}, el("td", { colSpan: 5, className: "muted", textContent: "No pending pairing requests." })));
}

async function approve(pairing) {
  const { approved } = await api(`/api/pairings/${encodeURIComponent(pairing.channel)}/${encodeURIComponent(pairing.code)}/approve`, { method: "POST" });
  toast(`Approved ${approved.channel} sender ${approved.sender}`);
  await loadChannels();
}

// ---------------------------------------------------------------- navigation

const loaders = { chat: () => loadSessions(), memory: loadMemoryFiles, jobs: loadJobs, channels: loadChannels, state: loadState };

function route() {
  const view = (location.hash || "#chat").slice(1);
  const name = view in loaders ? view : "chat";
  $("toast").hidden = true;
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `view-${name}`;
  for (const link of document.querySelectorAll(".tabs a")) link.classList.toggle("active", link.dataset.view === name);
  loaders[name]().catch(showError);
}

function start() {
  $("chat-form").addEventListener("submit", submitChat);
  $("chat-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) submitChat(event);
  });
  $("new-chat").addEventListener("click", newChat);
  $("sessions-more").addEventListener("click", () => loadSessions(true).catch(showError));
  $("load-older").addEventListener("click", () => loadOlder().catch(showError));
  $("memory-save").addEventListener("click", () => saveMemory().catch(showError));
  $("memory-search").addEventListener("submit", (event) => searchMemory(event).catch(showError));
  $("memory-new").addEventListener("submit", newMemoryFile);
  for (const button of document.querySelectorAll("[data-refresh]")) {
    button.addEventListener("click", () => loaders[button.dataset.refresh]().catch(showError));
  }
  window.addEventListener("hashchange", route);
  loadState().catch(showError);
  connect();
  route();
}

start();
