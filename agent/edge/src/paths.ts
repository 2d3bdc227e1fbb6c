/**
 * Canonical request paths, checked before any routing decision. Routing (here and in the runtime)
 * matches on decoded paths, so a path whose meaning changes when it is decoded once more, or
 * normalised by another URL parser, could be routed one way here and another way upstream
 * (`/internal%2Fcron` is not `/internal/*` to the router but is `/internal/cron` to the runtime).
 * Such paths are refused, not repaired: no client of the agent sends them.
 *
 * The Workers runtime hands the Worker `request.url` already parsed by the WHATWG URL parser, which
 * resolves `.`/`..` segments (including `%2e` forms) and turns `\` into `/` for http(s) URLs
 * (https://url.spec.whatwg.org/#path-state), so what is left to catch is what the parser keeps:
 * encoded separators, double encoding, empty segments and malformed escapes. The check does not
 * rely on that parse: dot segments are refused here too.
 */

export type PathVerdict = { ok: true } | { ok: false; reason: string };

/** First segments the Worker answers itself; matched case-insensitively. */
export const INTERNAL_PREFIX = "internal";
export const WEBHOOK_PREFIX = "webhooks";

const ESCAPE = /%([0-9A-Fa-f]{2})/g;
/** Escapes that would turn into a separator, a dot, a control character or another escape. */
const FORBIDDEN_ESCAPES = new Set([0x2f, 0x5c, 0x2e, 0x25, 0x7f, ...Array.from({ length: 0x20 }, (_, i) => i)]);

/** Is `path` (as in `new URL(request.url).pathname`, still percent-encoded) canonical? */
export function checkPath(path: string): PathVerdict {
  if (!path.startsWith("/")) return { ok: false, reason: "path must start with /" };
  if (path.includes("\\")) return { ok: false, reason: "backslash in path" };
  // Every % must start an escape: anything else is decoded differently by different parsers.
  if (/%(?![0-9A-Fa-f]{2})/.test(path)) return { ok: false, reason: "malformed percent-escape in path" };
  for (const match of path.matchAll(ESCAPE)) {
    const byte = Number.parseInt(match[1] ?? "", 16);
    if (FORBIDDEN_ESCAPES.has(byte)) {
      return { ok: false, reason: `encoded ${describe(byte)} (${match[0]}) in path` };
    }
  }
  const segments = path.slice(1).split("/");
  for (const [i, segment] of segments.entries()) {
    // One trailing slash is canonical (`/ui/`); empty segments elsewhere (`//host`) are not.
    const trailing = i === segments.length - 1;
    if (segment === "" && !trailing) {
      return { ok: false, reason: "empty path segment (//)" };
    }
    if (segment === "." || segment === "..") return { ok: false, reason: "dot segment in path" };
  }
  return { ok: true };
}

function describe(byte: number): string {
  switch (byte) {
    case 0x2f:
      return "slash";
    case 0x5c:
      return "backslash";
    case 0x2e:
      return "dot";
    case 0x25:
      return "percent (double encoding)";
    default:
      return "control character";
  }
}

/**
 * The first segment of a canonical path, decoded and lowercased: what reserved-prefix checks
 * compare, so `/%69nternal/x` and `/INTERNAL/x` are `internal` as they are to a lenient router.
 * Decoding once is final for a path checkPath accepted (no escape of `%` is left in it).
 */
export function firstSegment(path: string): string {
  const segment = path.split("/")[1] ?? "";
  try {
    return decodeURIComponent(segment).toLowerCase();
  } catch {
    // Escapes that are not UTF-8: compare byte by byte instead.
    return segment.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16))).toLowerCase();
  }
}

/**
 * The upstream URL for `incoming` at `origin`: only path and query come from the request, so no
 * path (`//other.host/x`, `/\\other.host`) can move the request to another host. Assigning
 * `pathname` never changes the host (https://url.spec.whatwg.org/#dom-url-pathname), unlike
 * resolving a path relative to a base (`new URL("//evil", base)` is a network-path reference).
 */
export function sameOriginUrl(origin: string | URL, incoming: string | URL): URL {
  const from = new URL(incoming);
  const base = new URL(typeof origin === "string" ? origin : origin.href);
  const target = new URL(base.origin);
  target.pathname = from.pathname;
  target.search = from.search;
  if (target.origin !== base.origin) throw new Error("upstream URL left its origin");
  return target;
}
