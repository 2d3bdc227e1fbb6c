/**
 * Cold starts: browsers get a small page that polls the status endpoint and reloads when the sandbox
 * is ready; API callers wait up to COLD_START_TIMEOUT_MS, then get 503 with Retry-After.
 */
import { jsonError } from "./errors";
import type { SandboxLink } from "./link";
import type { SandboxState } from "./rpc";

export const STATUS_PATH = "/_edge/status";
export const RETRY_AFTER_SECONDS = 5;

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** Poll the sandbox until ready or the deadline passes; returns the last state seen. */
export async function waitUntilReady(link: SandboxLink, timeoutMs: number, clock: Clock): Promise<SandboxState> {
  const deadline = clock.now() + timeoutMs;
  let interval = 100;
  for (;;) {
    const state = await link.state();
    if (state === "ready") return state;
    const left = deadline - clock.now();
    if (left <= 0) return state;
    await clock.sleep(Math.min(interval, left));
    interval = Math.min(interval * 2, 1000);
  }
}

export function notReadyResponse(state: SandboxState, timeoutMs: number): Response {
  return jsonError(
    503,
    `sandbox is ${state}, not ready after ${timeoutMs} ms`,
    `retry after ${RETRY_AFTER_SECONDS} s; cold starts finish on their own`,
    { "retry-after": String(RETRY_AFTER_SECONDS) },
  );
}

export function loadingPage(state: SandboxState): Response {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Starting your agent…</title>
<style>body{font:16px system-ui,sans-serif;display:grid;place-items:center;height:100vh;margin:0;color:#222}
main{text-align:center}small{color:#777}</style></head>
<body><main><h1>Starting your agent…</h1><p>This takes a few seconds after a period of sleep.</p>
<small id="state">${state}</small></main>
<script>
(function poll(delay){
  setTimeout(function(){
    fetch(${JSON.stringify(STATUS_PATH)},{credentials:"same-origin",cache:"no-store"})
      .then(function(r){return r.ok?r.json():{state:"starting"}})
      .then(function(s){
        document.getElementById("state").textContent=s.state;
        if(s.state==="ready"){location.reload();}else{poll(Math.min(delay*1.5,5000));}
      })
      .catch(function(){poll(5000);});
  },delay);
})(1000);
</script></body></html>`;
  return new Response(html, {
    status: 503,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "retry-after": String(RETRY_AFTER_SECONDS),
    },
  });
}
