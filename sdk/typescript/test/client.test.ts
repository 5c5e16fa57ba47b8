// The SDK against a live parac serve, started by tests/http/test_sdk_typescript.py, which passes it in the
// environment: PARAC_URL, PARAC_TOKEN (an operator's bearer token), PARAC_HMAC_KEY / PARAC_HMAC_SECRET (a signing
// key the server knows), PARAC_THINKING_MODEL (a scripted model that thinks, then answers), PARAC_PROXY_PORT (a
// port the server answers to as its Host, for a proxy), and a workflow `ship` whose run waits at the gate `gate`.
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";

import { ApiError, EventStream, json, ParacClient, type SseEvent } from "../src/index.js";

function env(name: string): string {
  const value = process.env[name];
  assert.ok(value, `${name} is not set: run this through tests/http/test_sdk_typescript.py`);
  return value;
}

const baseUrl = env("PARAC_URL");
const client = new ParacClient({ baseUrl, token: env("PARAC_TOKEN") });

async function rejection(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ApiError, `expected an ApiError, got ${error}`);
    return error;
  }
  assert.fail("the call succeeded");
}

test("lists agents, page by page", async () => {
  const first = await client.listAgents({ limit: 1 });
  const walked: string[] = [];
  for await (const row of client.iterAgents(1)) walked.push(row.name);
  const whole = (await client.listAgents()).agents.map((row) => row.name);
  assert.equal(first.agents.length, 1);
  assert.ok(first.next_cursor);
  assert.ok(whole.length > 1);
  assert.deepEqual(walked, whole);
});

test("streams a chat with its thinking", async () => {
  const events: SseEvent[] = [];
  for await (const event of client.chat({ message: "think", model: env("PARAC_THINKING_MODEL"), show_thinking: true })) {
    events.push(event);
  }
  const names = events.map((e) => e.event);
  assert.deepEqual(events.filter((e) => e.event === "thinking").map((e) => json(e)), [{ text: "let me think" }]);
  assert.equal(events.filter((e) => e.event === "content").map((e) => json<{ text: string }>(e).text).join(""), "an answer");
  assert.deepEqual(names.slice(-2), ["complete", "done"]);
  assert.equal(json<{ agent: string }>(events.at(-2)!).agent, "base");
});

test("starts a workflow, watches its events, approves its gate and sees it finish", async () => {
  const started = await client.runWorkflow("ship", { inputs: { topic: "the flag" }, dry_run: "echo" });
  const watching = client.runEvents(started.run_id);
  const seen: string[] = [];
  for await (const event of watching) {
    seen.push(event.event);
    if (event.event === "workflow.approval.requested") break; // leaving closes the connection; the run waits
  }
  assert.equal(seen[0], "workflow.run.start");
  assert.equal((await client.getRun(started.run_id)).status, "waiting_approval");
  const early = await rejection(client.approveStep(started.run_id, "draft"));
  assert.equal(early.status, 409);
  const decided = await client.approveStep(started.run_id, "gate", { comment: "ship it" });
  assert.equal(decided.status, "approved");
  assert.equal(decided.by, "token:sdk");
  const rest: SseEvent[] = [];
  for await (const event of client.runEvents(started.run_id, watching.lastEventId)) rest.push(event);
  assert.equal(rest[0].event, "workflow.approval.decided");
  assert.deepEqual(rest.slice(-2).map((e) => e.event), ["workflow.run.end", "done"]);
  assert.ok(rest.every((e) => e.event === "done" || Number(e.id) > Number(watching.lastEventId)));
  assert.deepEqual(json(rest.at(-1)!), { run_id: started.run_id, status: "completed" });
  assert.equal((await client.getRun(started.run_id)).status, "completed");
});

test("a problem+json answer is an ApiError", async () => {
  const unknown = await rejection(client.getAgent("codr"));
  assert.equal(unknown.status, 404);
  assert.equal(unknown.title, "Not Found");
  assert.match(unknown.detail, /"codr"/);
  assert.equal(unknown.instance, "/api/v1/agents/codr");
  const invalid = await rejection(client.listAgents({ limit: 0 }));
  assert.equal(invalid.status, 422);
  assert.deepEqual(invalid.errors[0].loc, ["query", "limit"]);
  const forbidden = await rejection(client.setBudget("daily", { usd: 5 }));
  assert.equal(forbidden.status, 403);
  const stream = await rejection((async () => {
    for await (const _ of client.runEvents("no-such-run")) void _;
  })());
  assert.equal(stream.status, 404);
  const stranger = new ParacClient({ baseUrl, token: "not-a-token" });
  assert.equal((await rejection(stranger.listAgents())).status, 401);
});

test("HMAC-signed calls are accepted, a wrong key refused", async () => {
  const signed = new ParacClient({ baseUrl, hmac: { keyId: env("PARAC_HMAC_KEY"), secret: env("PARAC_HMAC_SECRET") } });
  const once = await signed.listAgents({ limit: 2 });
  const again = await signed.listAgents({ limit: 2 }); // the same request, signed anew (a signature is good once)
  assert.deepEqual(again, once);
  const run = await signed.runWorkflow("ship", { inputs: { topic: "signed" }, dry_run: "echo", auto_approve: true });
  assert.ok(run.run_id);
  const forged = new ParacClient({ baseUrl, hmac: { keyId: env("PARAC_HMAC_KEY"), secret: "not-the-secret" } });
  const refused = await rejection(forged.runWorkflow("ship", { inputs: { topic: "forged" }, dry_run: "echo" }));
  assert.equal(refused.status, 401);
  assert.match(refused.detail, /does not match/);
  const actors = new Set<string>();
  for await (const entry of client.iterAuditEntries(100)) actors.add(entry.actor);
  assert.ok(actors.has(`hmac:${env("PARAC_HMAC_KEY")}`));
});

test("a run's events go on across a dropped connection", async () => {
  // A TCP forwarder whose open connections the test cuts while the run waits at its gate.
  const server = new URL(baseUrl);
  const open = new Set<net.Socket>();
  const proxy = net.createServer((inbound) => {
    const outbound = net.connect(Number(server.port), server.hostname);
    for (const socket of [inbound, outbound]) {
      open.add(socket);
      socket.on("error", () => undefined);
      socket.on("close", () => open.delete(socket));
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve) => proxy.listen(Number(env("PARAC_PROXY_PORT")), "127.0.0.1", resolve));
  try {
    const through = new ParacClient({ baseUrl: `http://127.0.0.1:${env("PARAC_PROXY_PORT")}`, token: env("PARAC_TOKEN") });
    const { run_id } = await client.runWorkflow("ship", { inputs: { topic: "t" }, dry_run: "echo" });
    const events = through.runEvents(run_id);
    const seen: SseEvent[] = [];
    for await (const event of events) {
      seen.push(event);
      if (event.event === "workflow.approval.requested") {
        for (const socket of open) socket.destroy();
        await client.approveStep(run_id, "gate");
      }
    }
    const replay: string[] = [];
    for await (const event of client.runEvents(run_id)) if (event.event !== "done") replay.push(event.id!);
    assert.ok(events.reconnects >= 1);
    assert.deepEqual(seen.filter((e) => e.event !== "done").map((e) => e.id), replay);
    assert.deepEqual(json(seen.at(-1)!), { run_id, status: "completed" });
  } finally {
    await new Promise((resolve) => proxy.close(resolve));
  }
});

test("event streams split on CRLF, LF and CR across chunks", async () => {
  const chunks = ["event: a\r", "\ndata: 1\r\n\r", "\nid: 7\ndata: x\n", "data: y\n\n: ping\r\rdata: z\r", "\r"];
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
      controller.close();
    },
  });
  const stream = new EventStream(async () => new Response(body, { headers: { "content-type": "text/event-stream" } }));
  const events: SseEvent[] = [];
  for await (const event of stream) events.push(event);
  assert.deepEqual(events, [
    { event: "a", data: "1" },
    { event: "message", data: "x\ny", id: "7" },
    { event: "message", data: "z", id: "7" },
  ]);
  assert.equal(stream.lastEventId, "7");
});
