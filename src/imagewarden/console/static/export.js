// Export of the image list: CreateImageExportJob with the table's filters, sort and columns,
// then DescribeExportJobResult every POLL_MS until ExportStatus is SUCCESS or FAILURE, then the
// server's DownloadURL as links.  The file is written by the server; the page only follows the
// job, so an export of a million rows costs the browser nothing but the download.

import { ApiError } from "./api.js";

const POLL_MS = 1000;
const MAX_POLL_FAILURES = 3; // consecutive failed result calls before the page stops following
const FORMATS = [
  ["xlsx", "Download XLSX"],
  ["csv", "Download CSV"],
];

const $ = (sel) => document.querySelector(sel);

/**
 * The download URL on this page's own origin.  The server builds DownloadURL from the Host it
 * saw, which behind a proxy need not be the address the browser uses; the path and its signed
 * query are what identify the file, so they are kept and only the origin is the page's.
 */
function onThisOrigin(url, format) {
  const u = new URL(url, location.href);
  const local = new URL(u.pathname + u.search, location.origin);
  // the server writes every export as XLSX and CSV; `format` picks one (the token covers both)
  local.searchParams.set("format", format);
  return local;
}

/**
 * The export bar.  `client()` gives the signed-in TcssClient (or null); `request()` gives the
 * CreateImageExportJob parameters of the current view; `onError(err)` shows an error banner.
 */
export class ExportController {
  constructor({ client, request, onError }) {
    this.client = client;
    this.request = request;
    this.onError = onError;
    this.jobId = "";
    this.timer = 0;
    this.generation = 0; // bumps on every start/reset so a stale poll never writes the bar
    this.failures = 0;
    $("#export").addEventListener("click", () => this.start());
    $("#export-hide").addEventListener("click", () => this.hide());
  }

  get running() {
    return this.jobId !== "";
  }

  async start() {
    const client = this.client();
    if (!client || this.running) return;
    const generation = ++this.generation;
    const button = $("#export");
    button.disabled = true;
    this.showRunning("Starting the export…");
    let r;
    try {
      r = await client.call("CreateImageExportJob", this.request());
    } catch (err) {
      if (generation !== this.generation) return;
      this.end("Export not started", `Export not started (${err.code || err.message})`, "FAILURE");
      this.onError(err);
      return;
    }
    if (generation !== this.generation) return;
    this.jobId = r.JobId;
    this.failures = 0;
    $("#export-job").textContent = r.JobId;
    this.poll(generation);
  }

  showRunning(text) {
    const box = $("#export-progress");
    box.hidden = false;
    box.dataset.status = "RUNNING";
    box.setAttribute("aria-busy", "true");
    $("#export-title").textContent = "Exporting";
    $("#export-job").textContent = "";
    const bar = $("#export-bar");
    bar.hidden = false;
    bar.removeAttribute("value"); // indeterminate until the first result
    bar.removeAttribute("aria-valuetext");
    $("#export-text").textContent = text;
    $("#export-links").replaceChildren();
    $("#export-hide").hidden = true;
  }

  async poll(generation) {
    const client = this.client();
    if (generation !== this.generation || !client) return;
    let r;
    try {
      r = await client.call("DescribeExportJobResult", { JobId: this.jobId });
      this.failures = 0;
    } catch (err) {
      if (generation !== this.generation) return;
      this.failures++;
      if ((err instanceof ApiError && err.isAuth) || this.failures >= MAX_POLL_FAILURES) {
        this.end("Stopped following the export", `The export result could not be read (${err.code || err.message})`, "FAILURE");
        this.onError(err);
        return;
      }
      this.timer = setTimeout(() => this.poll(generation), POLL_MS);
      return;
    }
    if (generation !== this.generation) return;
    const pct = Math.max(0, Math.min(100, Math.round(Number(r.ExportProgress) || 0)));
    const bar = $("#export-bar");
    bar.value = pct;
    bar.setAttribute("aria-valuetext", `${pct}%`);
    if (r.ExportStatus === "SUCCESS") {
      this.end("Export ready", "Export ready", "SUCCESS");
      this.offer(r.DownloadURL);
      return;
    }
    if (r.ExportStatus === "FAILURE") {
      const why = r.FailureMsg || "no reason given";
      const job = this.jobId;
      this.end("Export failed", `Export failed: ${why}`, "FAILURE");
      this.onError(new Error(`Export failed: ${why} (JobId ${job})`));
      return;
    }
    $("#export-text").textContent = `Writing the file · ${pct}%`;
    this.timer = setTimeout(() => this.poll(generation), POLL_MS);
  }

  /** The job is over (or was never started): the bar stops, the button is back. */
  end(title, text, status) {
    clearTimeout(this.timer);
    this.jobId = "";
    const box = $("#export-progress");
    box.dataset.status = status;
    box.setAttribute("aria-busy", "false");
    $("#export-title").textContent = title;
    $("#export-text").textContent = text;
    if (status !== "SUCCESS") $("#export-bar").hidden = true;
    $("#export-hide").hidden = false;
    $("#export").disabled = false;
  }

  offer(url) {
    const links = $("#export-links");
    if (!url) {
      $("#export-text").textContent = "Export ready, but the server gave no download link.";
      return;
    }
    const first = onThisOrigin(url, FORMATS[0][0]);
    for (const [format, label] of FORMATS) {
      const a = document.createElement("a");
      a.href = onThisOrigin(url, format).href;
      a.download = "";
      a.className = "download";
      a.dataset.format = format;
      a.textContent = label;
      links.append(a);
    }
    const expires = Number(first.searchParams.get("expires"));
    $("#export-text").textContent =
      Number.isInteger(expires) && expires > 0
        ? `Export ready · links valid until ${new Date(expires * 1000).toLocaleTimeString()}`
        : "Export ready";
  }

  hide() {
    $("#export-progress").hidden = true;
    $("#export").focus();
  }

  /** Forget the job (sign-out); the server finishes writing the file regardless. */
  reset() {
    this.generation++;
    clearTimeout(this.timer);
    this.jobId = "";
    $("#export-progress").hidden = true;
    $("#export-links").replaceChildren();
    $("#export").disabled = false;
  }
}
