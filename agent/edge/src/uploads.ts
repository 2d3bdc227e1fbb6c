/**
 * Attachment uploads (POST /api/attachments, docs/attachments.md) are refused here when they are
 * larger than the runtime would take, before a sandbox is woken. The body is otherwise streamed
 * through; a cold start keeps a tee'd copy of it for the replay (app.ts `replayable`), so without
 * this cap an upload up to the zone's body limit (100 MB on Free and Pro,
 * https://developers.cloudflare.com/workers/platform/limits/#request-limits) could sit in the
 * Worker's 128 MB of memory. The runtime checks the size again while it reads the stream.
 */
import type { Env } from "./env";
import { jsonError } from "./errors";

export const ATTACHMENTS_PATH = "/api/attachments";
/** The runtime's default of AGENT_ATTACHMENT_MAX_BYTES (agent/contract/settings.py). */
export const DEFAULT_ATTACHMENT_MAX_BYTES = 10_485_760;

function limitOf(env: Env): number {
  const raw = env.AGENT_ATTACHMENT_MAX_BYTES;
  return raw !== undefined && /^\d{1,12}$/.test(raw) ? Number(raw) : DEFAULT_ATTACHMENT_MAX_BYTES;
}

/** A 411 or 413 for an upload the runtime would refuse for its size, else null. */
export function refuseOversizedUpload(request: Request, env: Env): Response | null {
  if (request.method !== "POST") return null;
  // Routing upstream matches the decoded path; checkPath (paths.ts) already refused ambiguous ones.
  const path = decodeURIComponent(new URL(request.url).pathname).replace(/\/$/, "");
  if (path !== ATTACHMENTS_PATH) return null;
  const limit = limitOf(env);
  const declared = request.headers.get("content-length");
  if (declared === null) {
    return jsonError(411, "attachment upload without Content-Length", "send the file as the request body (fetch with a File or Blob sets the length)");
  }
  if (!/^\d{1,15}$/.test(declared) || Number(declared) > limit) {
    return jsonError(413, `attachment larger than ${limit} bytes (AGENT_ATTACHMENT_MAX_BYTES)`, "send a smaller file; nothing was stored");
  }
  return null;
}
