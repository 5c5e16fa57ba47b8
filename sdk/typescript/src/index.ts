// @parac/sdk: parac serve's HTTP API from TypeScript. Fetch only, no runtime dependencies.
export { ParacClient, METHODS, type CallArgs, type ClientOptions } from "./client.js";
export { ApiError } from "./errors.js";
export { EventStream, json, type SseEvent, type StreamOptions } from "./sse.js";
export { Signer } from "./signing.js";
export * from "./types.js";
