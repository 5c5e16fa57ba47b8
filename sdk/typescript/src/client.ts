// ParacClient: parac serve's /api/v1 over fetch, one method per route, typed by the generated `Operations`.
import { problemOf } from "./errors.js";
import { Signer } from "./signing.js";
import { EventStream, type StreamOptions } from "./sse.js";
import { type OperationId, type Operations, ROUTES } from "./types.js";

export interface ClientOptions {
  /** The server, as `parac serve` prints it: `http://127.0.0.1:8765`. */
  baseUrl: string;
  /** A bearer token: `parac token create`'s, or a JWT from the configured issuer. */
  token?: string;
  /** An HMAC key configured under `serve.hmac_keys`: each request is signed with it. */
  hmac?: { keyId: string; secret: string };
  /** Sent with every request. */
  headers?: Record<string, string>;
  /** Another fetch (a test's, a proxy agent's); the global one by default. */
  fetch?: typeof fetch;
}

type Op<K extends OperationId> = Operations[K];
type Given<T, Name extends string, Optional extends boolean> = [T] extends [never]
  ? unknown
  : Optional extends true
    ? { [P in Name]?: T }
    : { [P in Name]: T };

/** What `call` takes for a route: its path parameters, query and JSON body, as the route declares them. */
export type CallArgs<K extends OperationId> = Given<Op<K>["pathParams"], "path", false> &
  Given<Op<K>["query"], "query", true> &
  Given<Op<K>["body"], "body", true> & { headers?: Record<string, string> };

type Listing = "list_agents" | "list_workflows" | "runs" | "list_audit_entries" | "list_tools" | "list_plugins" | "list_skills";
type Bodies<K extends OperationId> = Partial<Op<K>["body"]>;

const encoder = new TextEncoder();

export class ParacClient {
  readonly api: string;
  private readonly token?: string;
  private readonly signer?: Signer;
  private readonly headers: Record<string, string>;
  private readonly fetch: typeof fetch;

  constructor(options: ClientOptions) {
    if (options.token !== undefined && options.hmac !== undefined) throw new TypeError("give token or hmac, not both");
    this.api = options.baseUrl.replace(/\/+$/, "") + "/api/v1";
    this.token = options.token;
    this.signer = options.hmac && new Signer(options.hmac.keyId, options.hmac.secret);
    this.headers = options.headers ?? {};
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** Any route by its operation id, answered with its JSON (or text); a failed answer throws `ApiError`. */
  async call<K extends OperationId>(id: K, args: CallArgs<K>): Promise<Op<K>["response"]> {
    const response = await this.send(id, args, "application/json");
    if (!response.ok) throw await problemOf(response);
    return (response.headers.get("content-type") ?? "").startsWith("text/plain") ? response.text() : response.json();
  }

  /** A streamed route by its operation id, as Server-Sent Events (see `EventStream`). */
  stream<K extends OperationId>(id: K, args: CallArgs<K>, options: StreamOptions = {}): EventStream {
    return new EventStream((signal, after) => {
      const given = args as { headers?: Record<string, string> };
      const headers = after === undefined ? given.headers : { ...given.headers, "Last-Event-ID": after };
      return this.send(id, { ...args, headers }, "text/event-stream", signal);
    }, options);
  }

  /** Every item of a listing, fetching page after page (its `next_cursor`). */
  async *pages<K extends Listing, T>(id: K, items: string, limit?: number): AsyncGenerator<T> {
    let cursor: string | null | undefined;
    do {
      const query = { ...(limit !== undefined ? { limit } : {}), ...(cursor ? { cursor } : {}) };
      const page = (await this.call(id, { query } as unknown as CallArgs<K>)) as Record<string, unknown>;
      yield* page[items] as T[];
      cursor = page.next_cursor as string | null | undefined;
    } while (cursor);
  }

  private async send<K extends OperationId>(id: K, args: CallArgs<K>, accept: string, signal?: AbortSignal): Promise<Response> {
    const { method, path } = ROUTES[id];
    const given = args as { path?: Record<string, string>; query?: Record<string, unknown>; body?: unknown; headers?: Record<string, string> };
    const filled = path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(String(given.path?.[name] ?? "")));
    const url = new URL(this.api + filled);
    for (const [name, value] of Object.entries(given.query ?? {})) {
      if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
    }
    const body = given.body === undefined ? undefined : encoder.encode(JSON.stringify(given.body));
    const headers: Record<string, string> = { Accept: accept, ...this.headers, ...given.headers };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.token !== undefined) headers.Authorization = `Bearer ${this.token}`;
    if (this.signer) Object.assign(headers, await this.signer.sign(method, url.pathname + url.search, body));
    return this.fetch(url, { method, headers, body, signal });
  }

  // -- agents ------------------------------------------------------------------------------------------------------

  /** One page of agents (`next_cursor` for the next; `iterAgents` walks them all). */
  listAgents(query: Op<"list_agents">["query"] = {}) {
    return this.call("list_agents", { query });
  }

  iterAgents(limit?: number): AsyncGenerator<Op<"list_agents">["response"]["agents"][number]> {
    return this.pages("list_agents", "agents", limit);
  }

  /** An agent resolved through its chain, with each field's provenance. */
  getAgent(name: string) {
    return this.call("get_agent", { path: { name } });
  }

  /** The agent's file as written. */
  agentSource(name: string): Promise<string> {
    return this.call("agent_source", { path: { name } }) as Promise<string>;
  }

  /** Run an agent to its end. */
  runAgent(name: string, body: Op<"run_agent">["body"]) {
    return this.call("run_agent", { path: { name }, body: { ...body, stream: false } });
  }

  /**
   * Run an agent, streamed: `thinking`, `content`, `tool_call`, `tool_result`, `complete`, `done` (a failed run
   * throws `ApiError`). The run goes on if you leave, unless `cancel_on_disconnect`.
   */
  streamAgentRun(name: string, body: Op<"run_agent">["body"]): EventStream {
    return this.stream("run_agent", { path: { name }, body: { ...body, stream: true } });
  }

  // -- chat --------------------------------------------------------------------------------------------------------

  /** A chat answered by an agent run (the workspace's `chat` agent, else `base`), streamed as `streamAgentRun`. */
  chat(body: Op<"chat_stream">["body"]): EventStream {
    return this.stream("chat_stream", { body });
  }

  /** The models in use, their providers and whether each is reachable. */
  chatModels() {
    return this.call("chat_models", {});
  }

  // -- workflows and their runs ------------------------------------------------------------------------------------

  listWorkflows(query: Op<"list_workflows">["query"] = {}) {
    return this.call("list_workflows", { query });
  }

  iterWorkflows(limit?: number): AsyncGenerator<Op<"list_workflows">["response"]["workflows"][number]> {
    return this.pages("list_workflows", "workflows", limit);
  }

  getWorkflow(name: string) {
    return this.call("get_workflow", { path: { name } });
  }

  /** Each step's estimated tokens and dollars, checked against every budget. */
  planWorkflow(name: string, body: Bodies<"plan_workflow"> = {}) {
    return this.call("plan_workflow", { path: { name }, body });
  }

  /** Start a run: answers at once with its `run_id` (watch it with `runEvents`). */
  runWorkflow(name: string, body: Bodies<"run_workflow"> = {}) {
    return this.call("run_workflow", { path: { name }, body });
  }

  /** One page of runs, newest first, that every filter given lets through: `{runs, next_cursor}` (the cursor
   * keeps the filter; `since`/`until`: 7d, 12h, 30m or an ISO date). */
  listRuns(query: { limit?: number; cursor?: string; status?: string; workflow?: string; agent?: string;
                    since?: string; until?: string } = {}) {
    return this.call("runs", { query: query as Op<"runs">["query"] });
  }

  iterRuns(limit?: number): AsyncGenerator<Record<string, unknown>> {
    return this.pages("runs", "runs", limit);
  }

  getRun(runId: string) {
    return this.call("workflow_status", { path: { run_id: runId } });
  }

  /**
   * A run's events (`workflow.*`, each with its id) as they happen, from its start or after `lastEventId` (a
   * stream's `lastEventId` where you left it), ending with `done` once the run has finished. A broken connection
   * is resumed by itself, after the last event received.
   */
  runEvents(runId: string, lastEventId?: string): EventStream {
    return this.stream("run_events", { path: { run_id: runId } }, { lastEventId, resumable: true });
  }

  /** Approve the gate a run waits at; the run goes on. */
  approveStep(runId: string, step: string, body: Bodies<"approve_step"> = {}) {
    return this.call("approve_step", { path: { run_id: runId, step }, body });
  }

  rejectStep(runId: string, step: string, body: Bodies<"reject_step"> = {}) {
    return this.call("reject_step", { path: { run_id: runId, step }, body });
  }

  /** The open human tasks (`type: human` steps waiting for an answer), for one role or run if given. */
  workflowTasks(query: Op<"workflow_tasks">["query"] = {}) {
    return this.call("workflow_tasks", { query });
  }

  /** Answer a human task; its form checks the data (a 422 lists what it refused; the task stays open). */
  answerTask(runId: string, step: string, body: Op<"answer_task">["body"]) {
    return this.call("answer_task", { path: { run_id: runId, step }, body });
  }

  cancelRun(runId: string) {
    return this.call("cancel_run", { path: { run_id: runId } });
  }

  resumeRun(runId: string) {
    return this.call("resume_run", { path: { run_id: runId } });
  }

  // -- governance --------------------------------------------------------------------------------------------------

  costReport(query: Op<"cost_report">["query"] = {}) {
    return this.call("cost_report", { query });
  }

  budgetStatus() {
    return this.call("budget_status", {});
  }

  /** Set a budget (`usd: null` removes the override); needs the admin role. */
  setBudget(kind: string, body: Op<"set_budget">["body"]) {
    return this.call("set_budget", { path: { kind }, body });
  }

  listAuditEntries(query: Op<"list_audit_entries">["query"] = {}) {
    return this.call("list_audit_entries", { query });
  }

  iterAuditEntries(limit?: number): AsyncGenerator<Op<"list_audit_entries">["response"]["entries"][number]> {
    return this.pages("list_audit_entries", "entries", limit);
  }

  verifyAudit() {
    return this.call("audit_verify", {});
  }

  policyCheck(body: Op<"policy_check">["body"]) {
    return this.call("policy_check", { body });
  }

  // -- memory and time travel --------------------------------------------------------------------------------------

  /** Remember a fact in a namespace; the caller needs a policy grant for `memory_add`, as an agent does. */
  memoryAdd(body: Op<"memory_add">["body"]) {
    return this.call("memory_add", { body });
  }

  /** Entries best match first; `fts: true` takes FTS5 syntax (a syntax error is a 422). */
  memorySearch(body: Op<"memory_search">["body"]) {
    return this.call("memory_search", { body });
  }

  memoryForget(body: Op<"memory_forget">["body"]) {
    return this.call("memory_forget", { body });
  }

  memoryNamespaces() {
    return this.call("memory_namespaces", {});
  }

  memoryNamespace(name: string) {
    return this.call("memory_namespace", { path: { name } });
  }

  memoryEntry(id: number | string) {
    return this.call("memory_entry", { path: { id: String(id) } });
  }

  /** Re-execute a finished run from its record ($0) and say which steps differ. */
  replayRun(runId: string) {
    return this.call("replay_run", { path: { run_id: runId } });
  }

  /** A new run reusing the recorded steps before `step` (a run in flight is a 409). */
  forkRun(runId: string, body: Op<"fork_run">["body"]) {
    return this.call("fork_run", { path: { run_id: runId }, body });
  }

  diffRuns(runA: string, runB: string) {
    return this.call("diff_runs", { path: { run_a: runA, run_b: runB } });
  }

  replayAgentRun(agentRun: string) {
    return this.call("replay_agent_run", { path: { agent_run: agentRun } });
  }

  // -- plugins, tools and skills -----------------------------------------------------------------------------------

  listTools(query: Op<"list_tools">["query"] = {}) {
    return this.call("list_tools", { query });
  }

  iterTools(limit?: number): AsyncGenerator<Op<"list_tools">["response"]["tools"][number]> {
    return this.pages("list_tools", "tools", limit);
  }

  /** Call a plugin tool under the workspace's policies. */
  callTool(name: string, args: Record<string, unknown> = {}) {
    return this.call("call_tool", { path: { name }, body: args });
  }

  listPlugins(query: Op<"list_plugins">["query"] = {}) {
    return this.call("list_plugins", { query });
  }

  iterPlugins(limit?: number): AsyncGenerator<Op<"list_plugins">["response"]["plugins"][number]> {
    return this.pages("list_plugins", "plugins", limit);
  }

  listSkills(query: Op<"list_skills">["query"] = {}) {
    return this.call("list_skills", { query });
  }

  iterSkills(limit?: number): AsyncGenerator<Op<"list_skills">["response"]["skills"][number]> {
    return this.pages("list_skills", "skills", limit);
  }
}

/** The method that serves each route: a route added to the server and not here fails the build. */
export const METHODS = {
  list_agents: "listAgents",
  get_agent: "getAgent",
  agent_source: "agentSource",
  run_agent: "runAgent",
  chat_stream: "chat",
  chat_models: "chatModels",
  list_workflows: "listWorkflows",
  get_workflow: "getWorkflow",
  plan_workflow: "planWorkflow",
  run_workflow: "runWorkflow",
  runs: "listRuns",
  workflow_status: "getRun",
  run_events: "runEvents",
  approve_step: "approveStep",
  reject_step: "rejectStep",
  workflow_tasks: "workflowTasks",
  answer_task: "answerTask",
  cancel_run: "cancelRun",
  resume_run: "resumeRun",
  cost_report: "costReport",
  budget_status: "budgetStatus",
  set_budget: "setBudget",
  list_audit_entries: "listAuditEntries",
  audit_verify: "verifyAudit",
  policy_check: "policyCheck",
  list_tools: "listTools",
  call_tool: "callTool",
  list_plugins: "listPlugins",
  list_skills: "listSkills",
  memory_add: "memoryAdd",
  memory_search: "memorySearch",
  memory_forget: "memoryForget",
  memory_namespaces: "memoryNamespaces",
  memory_namespace: "memoryNamespace",
  memory_entry: "memoryEntry",
  replay_run: "replayRun",
  fork_run: "forkRun",
  diff_runs: "diffRuns",
  replay_agent_run: "replayAgentRun",
} as const satisfies Record<OperationId, keyof ParacClient>;
