// The one error the SDK throws for an answer other than success: the server's RFC 9457 problem document
// (application/problem+json), whether a route answered it or a streamed run sent it as its `error` event.
import type { Problem } from "./types.js";

const MAX_DETAIL = 500;

export class ApiError extends Error {
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly type: string;
  readonly instance?: string;
  /** A 422's problems, each with its `loc`ation, `msg` and `type`. */
  readonly errors: Array<Record<string, unknown>>;
  /** `Retry-After` on a 429, `WWW-Authenticate` on a 401... */
  readonly headers: Headers;

  constructor(readonly problem: Problem, headers?: Headers) {
    super(`${problem.status} ${problem.title}: ${problem.detail}`);
    this.name = "ApiError";
    this.status = problem.status;
    this.title = problem.title;
    this.detail = problem.detail;
    this.type = problem.type ?? "about:blank";
    this.instance = problem.instance;
    this.errors = problem.errors ?? [];
    this.headers = headers ?? new Headers();
  }
}

/** The error a failed response stands for; an answer that is no problem document (a proxy's page) becomes one. */
export async function problemOf(response: Response): Promise<ApiError> {
  const text = await response.text();
  const kind = (response.headers.get("content-type") ?? "").split(";")[0].trim();
  if (kind === "application/problem+json" || kind === "application/json") {
    try {
      const body = JSON.parse(text);
      if (body && typeof body === "object" && "status" in body) return new ApiError(body as Problem, response.headers);
    } catch {
      // not JSON after all: described from the status line below
    }
  }
  const title = response.statusText || "Error";
  return new ApiError(
    { type: "about:blank", title, status: response.status, detail: text.slice(0, MAX_DETAIL) || title },
    response.headers,
  );
}
