// HMAC-signed requests, as parac serve checks them (server/auth/signatures.py): X-Parac-Key names the key,
// X-Parac-Timestamp is Unix seconds, X-Parac-Signature the hex HMAC-SHA256 of
// `METHOD\nPATH?QUERY\nTIMESTAMP\nhex(SHA256(BODY))`. Web Crypto only, so it runs in browsers, Node, Deno, Bun.
const encoder = new TextEncoder();

const hex = (bytes: ArrayBuffer): string =>
  Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");

export class Signer {
  private key?: ReturnType<typeof crypto.subtle.importKey>;
  private last = 0;

  constructor(readonly keyId: string, private readonly secret: string) {}

  /**
   * The headers that sign one request; `target` is its path with the query (`/api/v1/runs?limit=5`). A signature
   * is accepted once, so each call takes a timestamp later than the one before (microseconds apart at least).
   */
  async sign(method: string, target: string, body: Uint8Array = new Uint8Array()): Promise<Record<string, string>> {
    this.key ??= crypto.subtle.importKey("raw", encoder.encode(this.secret), { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
    ]);
    const now = Math.round((performance.timeOrigin + performance.now()) * 1000); // microseconds
    this.last = Math.max(now, this.last + 1);
    const stamp = (this.last / 1e6).toFixed(6);
    const digest = hex(await crypto.subtle.digest("SHA-256", body));
    const message = `${method.toUpperCase()}\n${target}\n${stamp}\n${digest}`;
    const signature = hex(await crypto.subtle.sign("HMAC", await this.key, encoder.encode(message)));
    return { "X-Parac-Key": this.keyId, "X-Parac-Timestamp": stamp, "X-Parac-Signature": signature };
  }
}
