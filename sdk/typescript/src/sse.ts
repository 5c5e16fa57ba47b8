// Server-Sent Events over fetch: a response body decoded by the WHATWG HTML "interpreting an event stream" rules
// (comments skipped, data lines joined, the last id kept). parac serve sends agent runs and chats (`thinking`,
// `content`, `tool_call`, `tool_result`, `complete`, `error`, `done`) and a run's events (`workflow.*`, then `done`).
import { ApiError, problemOf } from "./errors.js";
import type { Problem } from "./types.js";

export interface SseEvent {
  /** The event's name (`message` when the server named none). */
  event: string;
  data: string;
  /** A run event's id (its audit sequence number): Last-Event-ID resumes after it. */
  id?: string;
}

/** The event's data, parsed as JSON. */
export function json<T = unknown>(event: SseEvent): T {
  return JSON.parse(event.data) as T;
}

/** Turns the lines of an event stream into events (an event ends at a blank line). */
export class Decoder {
  private name = "";
  private data: string[] = [];

  constructor(public lastId?: string) {}

  feed(line: string): SseEvent | undefined {
    if (line === "") {
      const event = this.data.length
        ? { event: this.name || "message", data: this.data.join("\n"), ...(this.lastId !== undefined ? { id: this.lastId } : {}) }
        : undefined;
      this.name = "";
      this.data = [];
      return event;
    }
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.name = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id" && !value.includes("\0")) this.lastId = value;
    return undefined;
  }
}

/** The lines of a byte stream, split on CRLF, LF or CR. */
async function* lines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let end: number;
      // A CR at the very end may be the first half of a CRLF: wait for the next chunk to know.
      while ((end = buffer.search(/\r\n|\r|\n/)) >= 0 && (done || end < buffer.length - 1 || buffer[end] !== "\r")) {
        const width = buffer.startsWith("\r\n", end) ? 2 : 1;
        yield buffer.slice(0, end);
        buffer = buffer.slice(end + width);
      }
      if (done) {
        if (buffer) yield buffer;
        return;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

const RECONNECT_DELAY_MS = 500;
/** A run's event stream that breaks off is opened again (after its last event) this many times in a row, at most. */
const MAX_RECONNECTS = 5;

export interface StreamOptions {
  /** Resume after this event (a run's events only). */
  lastEventId?: string;
  /**
   * Open the stream again after its last event when it breaks off before `done`: for a run's events, which the
   * server keeps and resumes after Last-Event-ID. Not for an agent run or a chat (asking again runs it again).
   */
  resumable?: boolean;
}

/**
 * The events of one streamed request, as an async iterable: the request is sent when iteration starts (a failed
 * answer throws `ApiError` then, and so does a streamed run's `error` event). Leaving the loop, or `close()`,
 * closes the connection; a run goes on on the server, and `lastEventId` says where to resume its events. A run's
 * event stream whose connection breaks is resumed by itself (`reconnects` counts).
 */
export class EventStream implements AsyncIterable<SseEvent> {
  lastEventId?: string;
  reconnects = 0;
  private readonly resumable: boolean;
  private readonly controller = new AbortController();

  constructor(
    private readonly open: (signal: AbortSignal, lastEventId?: string) => Promise<Response>,
    options: StreamOptions = {},
  ) {
    this.lastEventId = options.lastEventId;
    this.resumable = options.resumable ?? false;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<SseEvent> {
    let inARow = 0;
    try {
      for (;;) {
        let broke: unknown;
        try {
          const response = await this.open(this.controller.signal, this.lastEventId);
          if (!response.ok) throw await problemOf(response);
          if (!response.body) return;
          const decoder = new Decoder(this.lastEventId);
          for await (const line of lines(response.body)) {
            const event = decoder.feed(line);
            if (event === undefined) continue;
            inARow = 0;
            if (event.id !== undefined) this.lastEventId = event.id;
            if (event.event === "error") throw new ApiError(json<Problem>(event));
            yield event;
            if (event.event === "done") return;
          }
        } catch (error) {
          if (error instanceof ApiError || this.controller.signal.aborted) throw error;
          broke = error; // the connection broke (fetch's TypeError)
        }
        if (!this.resumable || inARow >= MAX_RECONNECTS) {
          if (broke !== undefined) throw broke;
          return;
        }
        inARow += 1;
        this.reconnects += 1;
        await new Promise((resolve) => setTimeout(resolve, RECONNECT_DELAY_MS));
      }
    } finally {
      this.controller.abort();
    }
  }

  /** Close the connection now (also ends a loop waiting for the next event). */
  close(): void {
    this.controller.abort();
  }
}
