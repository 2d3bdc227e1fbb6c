// edgeagent web chat and admin UI. No framework and no build step: plain DOM, the runtime's JSON
// API and /ws. Server data is shown with textContent; only a reply's Markdown becomes markup, and
// only through markdown.js (marked, then DOMPurify, inserted as a DOM fragment).

import { $, ApiError, api, el, showError, toast, when } from "./common.js";
import { MarkdownStream, copyCode, renderMarkdown } from "./markdown.js";

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
    // MCP servers (docs/mcp.md): an error disables only that server's tools.
    ...(state.mcp_servers || []).map((m) => [
      `MCP ${m.name}`,
      m.state === "ok"
        ? `ok · ${m.host} · ${m.tools} tool${m.tools === 1 ? "" : "s"}`
        : m.state === "error"
          ? `error · ${m.host} · its tools are off: ${m.reason}`
          : `${m.host} · not checked yet`,
    ]),
  ];
  facts.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { textContent: k }), el("dd", { textContent: v })]));
  return state;
}

// ---------------------------------------------------------------- chat
//
// The open session lives in the URL (#chat/<session id>), so reload and Back keep your place. A
// reply streams over /ws: text deltas (Markdown, rendered once per animation frame), tool calls as
// they happen, then the stored reply, or `stopped` (Stop) or `error`, both with a Retry button.

const SESSION_PAGE = 30; // sessions per listing page
const HISTORY_PAGE = 50; // turns per history page
const NEAR_BOTTOM_PX = 48; // this close to the end counts as "following the newest reply"
const chat = {
  socket: null, session: null, inflight: null, retryMs: 500, queue: [], cursor: null, older: null,
  // Uploaded attachments waiting for the next message: {id, name, type, size} from the runtime.
  pending: [], uploads: 0,
  follow: true, // keep the newest message in view until the reader scrolls up
};

function setConn(state, label) {
  const conn = $("conn");
  conn.dataset.state = state;
  conn.textContent = label;
}

function sessionHash(id) {
  return id ? `#chat/${encodeURIComponent(id)}` : "#chat";
}

function hashSession() {
  const match = /^#chat\/(.+)$/.exec(location.hash);
  if (!match) return null;
  try { return decodeURIComponent(match[1]); } catch { return null; }
}

// ---- scrolling: follow the newest reply unless the reader scrolled away from it

function atBottom() {
  const box = $("messages");
  return box.scrollHeight - box.scrollTop - box.clientHeight <= NEAR_BOTTOM_PX;
}

function scrollToNewest() {
  const box = $("messages");
  box.scrollTop = box.scrollHeight;
  chat.follow = true;
  $("to-newest").hidden = true;
}

function keepNewestInView() {
  if (chat.follow) scrollToNewest();
  else $("to-newest").hidden = false;
}

// ---- messages

function userNode(text, seq, attachments = [], owner = "") {
  return el("div", { className: "msg user", dataset: seq ? { seq: String(seq) } : {} },
    attachments.length ? attachmentsNode(attachments, owner) : null,
    el("div", { className: "text", textContent: text }));
}

// ---- attachments (POST /api/attachments; docs/attachments.md): images inline, others as links

// A stored turn names whose file it is (a chat sender's, read by an admin: docs/attachments.md).
function attachmentUrl(id, owner = "") {
  const url = `/api/attachments/${encodeURIComponent(id)}`;
  return owner ? `${url}?user=${encodeURIComponent(owner)}` : url;
}

function attachmentsNode(attachments, owner = "") {
  // An expired file (docs/retention.md) keeps its name, without a link to bytes that are gone.
  return el("div", { className: "attachments" }, ...attachments.map((a) => a.expired
    ? el("span", { className: "attachment-file attachment-expired", title: "deleted by the retention period", textContent: `📎 ${a.name} (expired)` })
    : a.type.startsWith("image/")
    ? el("a", { href: attachmentUrl(a.id, owner), target: "_blank", rel: "noopener", title: a.name },
      el("img", { className: "attachment-image", src: attachmentUrl(a.id, owner), alt: a.name }))
    : a.type.startsWith("audio/") ? audioNode(a, owner)
      : el("a", { className: "attachment-file", href: attachmentUrl(a.id, owner), download: a.name, textContent: `📎 ${a.name}` })));
}

// A voice note: the player, and what was said once the turn has run (docs/attachments.md).
function audioNode(a, owner = "") {
  const said = a.transcript != null ? a.transcript || "(no speech)" : a.transcript_note ? `Not transcribed: ${a.transcript_note}` : null;
  return el("div", { className: "attachment-audio" },
    el("audio", { controls: true, preload: "none", src: attachmentUrl(a.id, owner), title: a.name }),
    said === null ? null : el("div", { className: "transcript", textContent: said }));
}

// Files the agent sent back with its reply (the send_file tool).
function sentFilesNode(files, owner = "") {
  return files.length ? attachmentsNode(files, owner) : null;
}

function renderPending() {
  const box = $("chat-pending");
  box.replaceChildren(...chat.pending.map((a, index) => el("span", { className: "chip", dataset: { id: a.id } },
    el("span", { textContent: `${a.name} (${Math.max(1, Math.round(a.size / 1024))} KB)` }),
    el("button", { type: "button", className: "remove", ariaLabel: `Remove ${a.name}`, textContent: "×",
      onclick: () => { chat.pending.splice(index, 1); renderPending(); } }))));
  if (chat.uploads > 0) box.append(el("span", { className: "muted", textContent: "Uploading…" }));
  box.hidden = box.childElementCount === 0;
}

async function uploadOne(file) {
  const response = await fetch(`/api/attachments?name=${encodeURIComponent(file.name || "pasted")}`, {
    method: "POST", headers: { accept: "application/json", "content-type": "application/octet-stream" }, body: file,
  });
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

async function uploadFiles(files) {
  for (const file of files) {
    chat.uploads += 1;
    renderPending();
    try {
      const info = await uploadOne(file);
      if (!chat.pending.some((a) => a.id === info.id)) chat.pending.push(info);
    } catch (error) {
      toast(`${file.name || "File"}: ${error instanceof Error ? error.message : String(error)}`, "error");
    } finally {
      chat.uploads -= 1;
      renderPending();
    }
  }
}

function prettyArgs(args) {
  try { return JSON.stringify(JSON.parse(args), null, 2); } catch { return args; }
}

function argsPreview(args) {
  let text = args;
  try {
    const value = JSON.parse(args);
    if (value && typeof value === "object" && !Array.isArray(value)) {
      text = Object.entries(value).map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`).join(", ");
    }
  } catch { /* not JSON: show as sent */ }
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

function toolNode(call) {
  return el("details", { className: "tool", dataset: { call: call.call_id, state: "running" } },
    el("summary", {},
      el("span", { className: "tool-name", textContent: call.name }),
      el("span", { className: "tool-args", textContent: argsPreview(call.args) }),
      el("span", { className: "tool-state", textContent: "running…" })),
    el("div", { className: "tool-body" },
      el("div", { className: "label", textContent: "Arguments" }),
      el("pre", { className: "tool-in", textContent: prettyArgs(call.args) }),
      el("div", { className: "label", textContent: "Result" }),
      el("pre", { className: "tool-out", textContent: "(running)" })));
}

function finishTool(node, result, ok) {
  node.dataset.state = ok ? "ok" : "failed";
  node.querySelector(".tool-state").textContent = ok ? "done" : "failed";
  node.querySelector(".tool-out").textContent = result;
}

function agentNode() {
  return el("div", { className: "msg agent" }, el("div", { className: "tools" }), el("div", { className: "text md" }));
}

function setMeta(node, text, actions = []) {
  node.querySelector(".meta")?.remove();
  node.append(el("div", { className: "meta" }, el("span", { textContent: text }), ...actions));
}

function storedAgentNode(turn) {
  const node = agentNode();
  const tools = node.querySelector(".tools");
  for (const call of turn.tools || []) {
    const item = toolNode(call);
    if (call.result !== null && call.result !== undefined) finishTool(item, call.result, call.ok);
    tools.append(item);
  }
  node.querySelector(".text").replaceChildren(renderMarkdown(turn.reply));
  const sent = sentFilesNode(turn.files || [], turn.user);
  if (sent) node.querySelector(".text").after(sent);
  node.dataset.model = turn.model; // which model answered (a fallback or the job model)
  setMeta(node, `${turn.model} · ${turn.channel} · ${when(turn.created_at)}`);
  return node;
}

function turnNodes(turns) {
  return turns.flatMap((turn) => [userNode(turn.prompt, turn.seq, turn.attachments || [], turn.user), storedAgentNode(turn)]);
}

function showEmpty(text = "Say hello to start a new session.") {
  $("messages").replaceChildren(el("p", { className: "empty", id: "chat-empty", textContent: text }));
}

// ---- the socket

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
    const turn = chat.inflight;
    if (turn) {
      socket.send(JSON.stringify(turn.frame));
      if (turn.stopping) socket.send(JSON.stringify({ type: "stop", turn_id: turn.frame.turn_id }));
    }
  });
  socket.addEventListener("message", (event) => onFrame(JSON.parse(event.data)));
  socket.addEventListener("close", (event) => {
    if (chat.socket !== socket) return;
    const why = event.code === 1000 || event.code === 1005 ? "" : ` (code ${event.code}${event.reason ? `: ${event.reason}` : ""})`;
    setConn("closed", `connection lost${why}; reconnecting…`);
    if (chat.inflight) setMeta(chat.inflight.node, `Connection lost${why}: reconnecting, then your message is sent again. The reply so far is not saved yet.`);
    setTimeout(connect, chat.retryMs);
    chat.retryMs = Math.min(chat.retryMs * 2, 5000);
  });
}

// The stored turn's view of the files: transcripts on the message, files the agent sent.
function showStoredFiles(turn, frame) {
  const sent = sentFilesNode(frame.files || []);
  if (sent) turn.node.querySelector(".text").after(sent);
  if ((frame.attachments || []).some((a) => a.type.startsWith("audio/"))) {
    turn.userNode.querySelector(".attachments")?.replaceWith(attachmentsNode(frame.attachments));
  }
}

function onFrame(frame) {
  const turn = chat.inflight;
  if (!turn || (frame.turn_id && frame.turn_id !== turn.frame.turn_id)) {
    if (frame.type === "error" && !frame.turn_id) toast(`The server refused a message: ${frame.error}${frame.hint ? ` (${frame.hint})` : ""}`, "error");
    return;
  }
  const node = turn.node;
  switch (frame.type) {
    case "delta":
      if (!turn.stream) turn.stream = new MarkdownStream(node.querySelector(".text"), keepNewestInView);
      node.classList.remove("pending");
      node.classList.add("streaming");
      turn.stream.append(frame.text);
      break;
    case "tool_call":
      node.classList.remove("pending");
      node.querySelector(".tools").append(toolNode(frame));
      keepNewestInView();
      break;
    case "tool_result": {
      const item = node.querySelector(`.tool[data-call="${CSS.escape(frame.call_id)}"]`);
      if (item) finishTool(item, frame.result, frame.ok);
      break;
    }
    case "reply":
      (turn.stream || new MarkdownStream(node.querySelector(".text"), keepNewestInView)).finish(frame.reply);
      node.dataset.model = frame.model; // which model answered (a fallback or the job model)
      showStoredFiles(turn, frame);
      setMeta(node, `${frame.offline ? "offline model" : frame.model} · saved ${when(frame.created_at)}`);
      endTurn(node);
      loadSessions().catch(showError);
      break;
    case "stopped":
      turn.stream?.stop();
      if (!turn.stream) node.querySelector(".text").textContent = "";
      node.classList.add("stopped");
      setMeta(node, "Stopped: this reply was not saved.", [retryButton(turn)]);
      endTurn(node);
      break;
    case "error":
      turn.stream?.stop();
      if (!turn.stream) node.querySelector(".text").textContent = "";
      node.classList.add("failed");
      // A reached spend limit (429) is a plain sentence: which budget, and when it comes back.
      if (frame.status === 429) node.querySelector(".text").textContent = frame.error;
      else node.append(el("p", { className: "error", textContent: errorText(frame) }));
      setMeta(node, "Not saved.", [retryButton(turn)]);
      endTurn(node);
      break;
    default:
      break;
  }
}

function errorText(frame) {
  const status = frame.status ? ` (HTTP ${frame.status})` : "";
  return `The agent could not answer${status}: ${frame.error}.${frame.hint ? ` ${frame.hint[0].toUpperCase()}${frame.hint.slice(1)}.` : ""}`;
}

function retryButton(turn) {
  return el("button", {
    type: "button", className: "retry", textContent: "Retry",
    onclick: () => retry(turn),
  });
}

function endTurn(node) {
  node.classList.remove("streaming", "pending");
  chat.inflight = null;
  setBusy(false);
  keepNewestInView();
  sendNext();
}

function setBusy(busy) {
  $("chat-send").hidden = busy;
  $("chat-stop").hidden = !busy;
}

function stopTurn() {
  const turn = chat.inflight;
  if (!turn || turn.stopping) return;
  turn.stopping = true;
  setMeta(turn.node, "Stopping…");
  if (chat.socket?.readyState === WebSocket.OPEN) chat.socket.send(JSON.stringify({ type: "stop", turn_id: turn.frame.turn_id }));
}

// Retry sends the same message again as a new turn, in place of the one that was not saved.
function retry(turn) {
  if (turn.frame.session_id !== chat.session) { toast("That reply belongs to another session."); return; }
  turn.userNode.remove();
  turn.node.remove();
  chat.queue.unshift({ message: turn.frame.message, attachments: turn.files });
  sendNext();
}

function sendNext() {
  if (chat.inflight || chat.queue.length === 0) return;
  const { message, attachments } = chat.queue.shift();
  if (!chat.session) {
    chat.session = randomId();
    // The new session gets its address now; replacing the entry keeps Back meaning "before".
    history.replaceState(null, "", sessionHash(chat.session));
    updateChatTab();
  }
  const frame = { type: "chat", message, session_id: chat.session, turn_id: randomId(), attachments: attachments.map((a) => a.id) };
  $("chat-empty")?.remove();
  const user = userNode(message, undefined, attachments);
  const node = agentNode();
  node.classList.add("pending");
  node.querySelector(".text").textContent = "…";
  $("messages").append(user, node);
  scrollToNewest();
  chat.inflight = { frame, node, userNode: user, stream: null, stopping: false, files: attachments };
  setBusy(true);
  if (chat.socket && chat.socket.readyState === WebSocket.OPEN) chat.socket.send(JSON.stringify(frame));
  else setMeta(node, "Not connected yet: the message is sent as soon as the connection is back.");
}

function submitChat(event) {
  event.preventDefault();
  const input = $("chat-input");
  if (chat.uploads > 0) { toast("Wait until the attachments have uploaded."); return; }
  const attachments = chat.pending;
  const message = input.value.trim() || (attachments.length ? "(see the attached files)" : "");
  if (!message) return;
  input.value = "";
  chat.pending = [];
  renderPending();
  chat.queue.push({ message, attachments });
  sendNext();
}

// ---- sessions

function sessionItem(s) {
  return el("li", {},
    el("a", {
      href: sessionHash(s.session_id),
      className: s.session_id === chat.session ? "item active" : "item",
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
  for (const link of $("session-list").querySelectorAll("[data-session]")) {
    link.classList.toggle("active", link.dataset.session === chat.session);
  }
}

function updateChatTab() {
  document.querySelector('.tabs a[data-view="chat"]').href = sessionHash(chat.session);
}

// A session opens on its newest page of turns; "Load older messages" prepends the page before.
async function openSession(id) {
  chat.session = id;
  chat.older = null;
  updateChatTab();
  markActive();
  document.body.classList.remove("sessions-open");
  $("load-older").hidden = true;
  showEmpty("Loading…");
  let page;
  try {
    page = await api(`/api/sessions/${encodeURIComponent(id)}?limit=${HISTORY_PAGE}`);
  } catch (error) {
    if (chat.session !== id) return;
    const gone = error instanceof ApiError && error.status === 404;
    showEmpty(gone
      ? `No session "${id}" here: it was never saved, or it belongs to someone else. Start a new chat, or pick one from the list.`
      : `Could not load this session: ${error.message}`);
    return;
  }
  if (chat.session !== id) return;
  chat.older = page.older_before;
  $("messages").replaceChildren(...turnNodes(page.turns));
  $("load-older").hidden = !chat.older;
  scrollToNewest();
}

async function loadOlder() {
  if (!chat.session || !chat.older) return;
  const id = chat.session;
  const page = await api(`/api/sessions/${encodeURIComponent(id)}?limit=${HISTORY_PAGE}&before=${chat.older}`);
  if (chat.session !== id) return;
  const box = $("messages");
  const first = box.firstElementChild;
  chat.follow = false;
  box.prepend(...turnNodes(page.turns));
  first?.scrollIntoView({ block: "start" });
  chat.older = page.older_before;
  $("load-older").hidden = !chat.older;
}

function newChat() {
  chat.session = null;
  chat.older = null;
  updateChatTab();
  markActive();
  document.body.classList.remove("sessions-open");
  $("load-older").hidden = true;
  showEmpty();
  $("chat-input").focus();
}

// The chat view for the URL's session: opened when it differs from the one shown.
function showChat() {
  const id = hashSession();
  if (id && id !== chat.session) openSession(id).catch(showError);
  else if (!id && location.hash !== "" && chat.session) newChat();
  else if (!id && location.hash === "" && chat.session) history.replaceState(null, "", sessionHash(chat.session));
  return loadSessions().then(markActive);
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

const loaders = { chat: showChat, memory: loadMemoryFiles, jobs: loadJobs, channels: loadChannels, state: loadState };

function route() {
  const view = (location.hash || "#chat").slice(1).split("/")[0];
  const name = view in loaders ? view : "chat";
  $("toast").hidden = true;
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `view-${name}`;
  for (const link of document.querySelectorAll(".tabs a")) link.classList.toggle("active", link.dataset.view === name);
  loaders[name]().catch(showError);
}

function start() {
  $("chat-form").addEventListener("submit", submitChat);
  $("chat-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) submitChat(event);
  });
  $("chat-stop").addEventListener("click", stopTurn);
  $("chat-attach").addEventListener("click", () => $("chat-file").click());
  $("chat-file").addEventListener("change", (event) => {
    const files = [...event.target.files];
    event.target.value = "";
    uploadFiles(files).catch(showError);
  });
  $("chat-input").addEventListener("paste", (event) => {
    const files = [...(event.clipboardData?.files || [])];
    if (files.length) { event.preventDefault(); uploadFiles(files).catch(showError); }
  });
  const chatView = $("view-chat");
  chatView.addEventListener("dragover", (event) => {
    if (!event.dataTransfer?.types.includes("Files")) return;
    event.preventDefault();
    chatView.classList.add("dropping");
  });
  chatView.addEventListener("dragleave", (event) => {
    if (!chatView.contains(event.relatedTarget)) chatView.classList.remove("dropping");
  });
  chatView.addEventListener("drop", (event) => {
    event.preventDefault();
    chatView.classList.remove("dropping");
    uploadFiles([...(event.dataTransfer?.files || [])]).catch(showError);
  });
  $("new-chat").addEventListener("click", () => { location.hash = "#chat"; });
  $("toggle-sessions").addEventListener("click", () => document.body.classList.toggle("sessions-open"));
  $("session-list").addEventListener("click", () => document.body.classList.remove("sessions-open"));
  $("to-newest").addEventListener("click", scrollToNewest);
  $("messages").addEventListener("scroll", () => {
    chat.follow = atBottom();
    if (chat.follow) $("to-newest").hidden = true;
  }, { passive: true });
  $("messages").addEventListener("click", (event) => {
    const button = event.target.closest("button.copy");
    if (button) copyCode(button).catch(showError);
  });
  $("sessions-more").addEventListener("click", () => loadSessions(true).then(markActive).catch(showError));
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
