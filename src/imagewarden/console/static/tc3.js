// TC3-HMAC-SHA256 request signing with WebCrypto, as the official SDKs sign a JSON POST to "/".
// Pure: no DOM, no storage; runs in browsers and in Node.js (globalThis.crypto.subtle).

export const ALGORITHM = "TC3-HMAC-SHA256";
const TERMINATOR = "tc3_request";
const encoder = new TextEncoder();

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

function subtle() {
  const s = globalThis.crypto && globalThis.crypto.subtle;
  if (!s) {
    throw new Error(
      "WebCrypto is not available: open the console over HTTPS or from localhost " +
        "(browsers offer crypto.subtle only in secure contexts).",
    );
  }
  return s;
}

export async function sha256Hex(text) {
  return hex(await subtle().digest("SHA-256", encoder.encode(text)));
}

async function hmac(key, text) {
  const k = await subtle().importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  return subtle().sign("HMAC", k, encoder.encode(text));
}

/** The credential-scope date: the UTC calendar date of the timestamp. */
export function scopeDate(timestamp) {
  return new Date(timestamp * 1000).toISOString().slice(0, 10);
}

/**
 * Headers for a TC3-signed POST of `body` (the exact string that will be sent).
 * `host` must be what the browser puts in the Host header: `location.host`.
 */
export async function signRequest({
  secretId,
  secretKey,
  action,
  version,
  host,
  body,
  timestamp,
  service = "tcss",
  language = "en-US",
  contentType = "application/json",
}) {
  const date = scopeDate(timestamp);
  const signedHeaders = "content-type;host";
  const canonical = [
    "POST",
    "/",
    "",
    `content-type:${contentType.toLowerCase()}\nhost:${host.toLowerCase()}\n`,
    signedHeaders,
    await sha256Hex(body),
  ].join("\n");
  const scope = `${date}/${service}/${TERMINATOR}`;
  const stringToSign = [ALGORITHM, String(timestamp), scope, await sha256Hex(canonical)].join("\n");
  const kDate = await hmac(encoder.encode("TC3" + secretKey), date);
  const kService = await hmac(kDate, service);
  const kSigning = await hmac(kService, TERMINATOR);
  const signature = hex(await hmac(kSigning, stringToSign));
  const headers = {
    "Content-Type": contentType,
    "X-TC-Action": action,
    "X-TC-Version": version,
    "X-TC-Timestamp": String(timestamp),
    Authorization:
      `${ALGORITHM} Credential=${secretId}/${scope}, ` +
      `SignedHeaders=${signedHeaders}, Signature=${signature}`,
  };
  if (language) headers["X-TC-Language"] = language;
  return headers;
}
