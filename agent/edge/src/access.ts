/**
 * Cloudflare Access verification: the JWT from `Cf-Access-Jwt-Assertion` or the `CF_Authorization`
 * cookie, checked with jose against the team's JWKS. Only RS256; issuer, audience, exp and nbf are
 * enforced by jwtVerify. The key resolver is injected so tests serve their own JWKS.
 */
import { createRemoteJWKSet, customFetch, errors, jwtVerify, type JWTVerifyGetKey } from "jose";
import { getCookie } from "hono/cookie";
import type { Context } from "hono";
import type { AccessConfig } from "./env";

export const ACCESS_HEADER = "cf-access-jwt-assertion";
export const ACCESS_COOKIE = "CF_Authorization";

export type Identity = string;

export type AccessResult =
  | { ok: true; identity: Identity }
  | { ok: false; reason: string; keysUnavailable: boolean };

export type KeyResolverFactory = (access: AccessConfig) => JWTVerifyGetKey;

/**
 * The production resolver: one remote JWK set per team, cached by jose (keys re-fetched at most every
 * 10 minutes, or sooner when a token names an unknown `kid`, no more than once per 30 s).
 */
export function remoteKeys(fetcher: typeof fetch = fetch): KeyResolverFactory {
  const resolvers = new Map<string, JWTVerifyGetKey>();
  return (access) => {
    const cacheKey = access.teamDomain;
    let resolver = resolvers.get(cacheKey);
    if (resolver === undefined) {
      resolver = createRemoteJWKSet(new URL("/cdn-cgi/access/certs", access.teamDomain), {
        cacheMaxAge: 10 * 60_000,
        cooldownDuration: 30_000,
        timeoutDuration: 5_000,
        [customFetch]: fetcher,
      });
      resolvers.set(cacheKey, resolver);
    }
    return resolver;
  };
}

/** The Access token a request carries, header first (set by Access itself), then the cookie. */
export function accessToken(c: Context): string | undefined {
  const header = c.req.header(ACCESS_HEADER)?.trim();
  if (header) return header;
  const cookie = getCookie(c, ACCESS_COOKIE)?.trim();
  return cookie ? cookie : undefined;
}

/** Verify one Access JWT; returns the identity (email, or `service:<client id>` for service tokens). */
export async function verifyAccessToken(
  token: string,
  access: AccessConfig,
  keys: JWTVerifyGetKey,
  now: Date,
): Promise<AccessResult> {
  try {
    const { payload } = await jwtVerify(token, keys, {
      issuer: access.teamDomain,
      audience: access.aud,
      algorithms: ["RS256"],
      currentDate: now,
      requiredClaims: ["exp"],
    });
    if (typeof payload.email === "string" && payload.email !== "") {
      return { ok: true, identity: payload.email.toLowerCase() };
    }
    // Service-token JWTs carry no email; `common_name` is the token's client id.
    if (typeof payload.common_name === "string" && payload.common_name !== "") {
      return { ok: true, identity: `service:${payload.common_name}` };
    }
    return { ok: false, reason: "token has neither an email nor a service-token common_name", keysUnavailable: false };
  } catch (err) {
    if (keysUnavailable(err)) return { ok: false, reason: "Access signing keys unavailable", keysUnavailable: true };
    return { ok: false, reason: describeJoseError(err), keysUnavailable: false };
  }
}

/** The JWKS could not be had (network, timeout, non-200, bad JSON): nothing says the token is bad. */
function keysUnavailable(err: unknown): boolean {
  if (!(err instanceof errors.JOSEError)) return true;
  return err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || err.code === "ERR_JOSE_GENERIC";
}

function describeJoseError(err: unknown): string {
  if (err instanceof errors.JWTExpired) return "token expired";
  if (err instanceof errors.JWTClaimValidationFailed) return `claim ${err.claim} invalid: ${err.reason}`;
  if (err instanceof errors.JOSEAlgNotAllowed) return "algorithm not allowed (RS256 only)";
  if (err instanceof errors.JWKSNoMatchingKey) return "no Access signing key matches the token's kid";
  if (err instanceof errors.JWSSignatureVerificationFailed) return "signature verification failed";
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return "malformed token";
  if (err instanceof errors.JOSEError) return err.code;
  return "token rejected";
}

/** Where a browser without a valid token is sent: the team's login for this application. */
export function loginUrl(access: AccessConfig, requestUrl: URL): string {
  const login = new URL(`/cdn-cgi/access/login/${requestUrl.hostname}`, access.teamDomain);
  login.searchParams.set("kid", access.aud);
  login.searchParams.set("redirect_url", requestUrl.pathname + requestUrl.search);
  return login.toString();
}
