// The console's only data path: TC3-signed POSTs to "/" (the same actions the SDK calls).

import { signRequest } from "./tc3.js";

export const VERSION = "2020-11-01";
const RATE_LIMIT_RETRIES = 3; // the server allows 20 calls per second per action and account

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** An error envelope from the server ({"Response": {"Error": {...}}}) or a failed request. */
export class ApiError extends Error {
  constructor(code, message, requestId = "") {
    super(`${code}: ${message}`);
    this.name = "ApiError";
    this.code = code;
    this.detail = message;
    this.requestId = requestId;
  }

  get isAuth() {
    return this.code.startsWith("AuthFailure");
  }
}

export class TcssClient {
  constructor({ secretId, secretKey, host = globalThis.location?.host, language = "en-US" }) {
    this.secretId = secretId;
    this.secretKey = secretKey;
    this.host = host;
    this.language = language;
    this.skew = 0; // seconds added to the local clock, learnt from the server's Date header
  }

  /** Call `action` with `params`; resolves to the Response object, rejects with ApiError. */
  async call(action, params = {}) {
    let throttled = 0;
    for (let attempt = 0; ; attempt++) {
      const body = JSON.stringify(params);
      const timestamp = Math.floor(Date.now() / 1000) + this.skew;
      const headers = await signRequest({
        secretId: this.secretId,
        secretKey: this.secretKey,
        action,
        version: VERSION,
        host: this.host,
        body,
        timestamp,
        language: this.language,
      });
      let resp;
      try {
        resp = await fetch("/", {
          method: "POST",
          headers,
          body,
          cache: "no-store",
          credentials: "omit",
        });
      } catch (err) {
        throw new ApiError("ClientError.Network", `the server could not be reached (${err.message})`);
      }
      let payload;
      try {
        payload = await resp.json();
      } catch {
        throw new ApiError("ClientError.BadResponse", `HTTP ${resp.status}: the answer is not JSON`);
      }
      const r = payload && payload.Response;
      if (!r || typeof r !== "object") {
        throw new ApiError("ClientError.BadResponse", "the answer has no Response object");
      }
      if (!r.Error) return r;
      if (attempt === 0 && r.Error.Code === "AuthFailure.SignatureExpire" && this.#learnSkew(resp)) {
        continue; // this computer's clock is off: sign again with the server's time
      }
      if (r.Error.Code === "RequestLimitExceeded" && throttled < RATE_LIMIT_RETRIES) {
        throttled++;
        await sleep(250 * throttled + Math.random() * 250); // a burst (e.g. the status counts)
        continue;
      }
      throw new ApiError(r.Error.Code, r.Error.Message, r.RequestId || "");
    }
  }

  #learnSkew(resp) {
    const server = Date.parse(resp.headers.get("date") || "");
    if (Number.isNaN(server)) return false;
    const skew = Math.round((server - Date.now()) / 1000);
    if (Math.abs(skew - this.skew) < 60) return false;
    this.skew = skew;
    return true;
  }
}
