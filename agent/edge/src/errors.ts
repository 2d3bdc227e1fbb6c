/** HTTP errors are JSON `{error, hint}`: what went wrong, and what a valid request or setting looks like. */

export interface ErrorBody {
  error: string;
  hint: string;
}

export function jsonError(
  status: number,
  error: string,
  hint: string,
  headers: Record<string, string> = {},
): Response {
  const body: ErrorBody = { error, hint };
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers },
  });
}

/** A deployment setting is missing or malformed: the Worker fails closed with a 500 naming it. */
export class ConfigError extends Error {
  constructor(
    readonly key: string,
    readonly reason: string,
    readonly example: string,
  ) {
    super(`${key}: ${reason} (example: ${example})`);
    this.name = "ConfigError";
  }

  toResponse(): Response {
    return jsonError(
      500,
      `edge misconfigured: ${this.key} ${this.reason}`,
      `set ${this.key} in the stack configuration, e.g. ${this.example}`,
    );
  }
}
