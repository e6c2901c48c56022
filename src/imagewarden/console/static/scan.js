// Scan tasks from the console: start one (CreateAssetImageScanTask), follow it
// (DescribeAssetImageScanStatus every POLL_MS until Status is END), stop it
// (ModifyAssetImageScanStop), then read how it ended (DescribeAssetImageScanTask's SubStatus).
// The server runs one task per account at a time, so the page follows at most one.

import { ApiError } from "./api.js";
import * as fmt from "./format.js";

const POLL_MS = 1000;
const MAX_POLL_FAILURES = 3; // consecutive failed status calls before the page stops following

const ENDINGS = {
  Success: "Scan finished",
  Cancel: "Scan stopped",
  Error: "Scan finished with errors",
  Timeout: "Scan timed out",
};

const $ = (sel) => document.querySelector(sel);

function seconds(n) {
  if (n >= 3600) return `${Math.floor(n / 3600)} h ${Math.round((n % 3600) / 60)} min`;
  if (n >= 90) return `${Math.round(n / 60)} min`;
  return `${n} s`;
}

/**
 * The scan bar under the filters.  `client()` gives the signed-in TcssClient (or null);
 * `onChange()` reloads the table while images finish; `onEnd()` reloads table and charts;
 * `onError(err)` shows an API error.
 */
export class ScanController {
  constructor({ client, onChange, onEnd, onError }) {
    this.client = client;
    this.onChange = onChange;
    this.onEnd = onEnd;
    this.onError = onError;
    this.taskId = "";
    this.timer = 0;
    this.generation = 0; // bumps on every start/reset so a stale poll never writes the bar
    this.lastCount = -1;
    this.failures = 0;
    $("#scan-stop").addEventListener("click", () => this.stop());
    $("#scan-hide").addEventListener("click", () => this.hide());
  }

  get running() {
    return this.taskId !== "";
  }

  /** The scan categories ticked in "Scan for" (ScanVul, ScanVirus, ScanRisk). */
  categories() {
    return {
      ScanVul: $("#scan-vul").checked,
      ScanVirus: $("#scan-virus").checked,
      ScanRisk: $("#scan-risk").checked,
    };
  }

  /** Start a task over `imageIds`, or over every image of the account when `imageIds` is null. */
  async start(imageIds) {
    const client = this.client();
    if (!client || this.running) return false;
    const kinds = this.categories();
    if (!kinds.ScanVul && !kinds.ScanVirus && !kinds.ScanRisk) {
      this.onError(new ApiError("ClientError.NothingToScan", "tick at least one of vulnerabilities, viruses and risks"));
      return false;
    }
    const params = imageIds === null ? { All: true, ...kinds } : { Images: [...imageIds], ...kinds };
    this.setButtons(true);
    try {
      const r = await client.call("CreateAssetImageScanTask", params);
      this.follow(r.TaskID, imageIds === null ? "all images" : `${fmt.count(imageIds.length)} selected`);
      return true;
    } catch (err) {
      this.setButtons(false);
      if (err instanceof ApiError && err.code === "FailedOperation.ErrAlreadyScanning") {
        await this.resume(); // someone (another tab, tccli) is scanning: show that task
      }
      this.onError(err);
      return false;
    }
  }

  /** Follow the account's latest task if it is still running (after sign-in or a reload). */
  async resume() {
    const client = this.client();
    if (!client || this.running) return;
    try {
      const t = await client.call("DescribeAssetImageScanTask", {});
      if (t.Status === "SCANNING" && t.TaskID) this.follow(t.TaskID, "a running task");
    } catch (err) {
      this.onError(err);
    }
  }

  follow(taskId, what) {
    this.generation++;
    this.taskId = taskId;
    this.lastCount = -1;
    this.failures = 0;
    const box = $("#scan-progress");
    box.hidden = false;
    box.dataset.status = "SCANNING";
    delete box.dataset.result;
    box.setAttribute("aria-busy", "true");
    $("#scan-title-text").textContent = `Scanning ${what}`;
    $("#scan-task").textContent = taskId;
    const bar = $("#scan-bar");
    bar.removeAttribute("value"); // indeterminate until the first status
    $("#scan-text").textContent = "Starting…";
    $("#scan-stop").hidden = false;
    $("#scan-stop").disabled = false;
    $("#scan-hide").hidden = true;
    this.setButtons(true);
    this.poll(this.generation);
  }

  async poll(generation) {
    const client = this.client();
    if (generation !== this.generation || !client) return;
    let st;
    try {
      st = await client.call("DescribeAssetImageScanStatus", { TaskID: this.taskId });
      this.failures = 0;
    } catch (err) {
      if (generation !== this.generation) return;
      this.failures++;
      if ((err instanceof ApiError && err.isAuth) || this.failures >= MAX_POLL_FAILURES) {
        this.onError(err);
        this.finish(generation, null, err);
        return;
      }
      this.timer = setTimeout(() => this.poll(generation), POLL_MS);
      return;
    }
    if (generation !== this.generation) return;
    this.show(st);
    if (st.ImageScanCnt !== this.lastCount) {
      if (this.lastCount !== -1) this.onChange();
      this.lastCount = st.ImageScanCnt;
    }
    if (st.Status === "END") {
      let summary = null;
      try {
        const t = await client.call("DescribeAssetImageScanTask", {});
        if (t.TaskID === this.taskId) summary = t;
      } catch (err) {
        this.onError(err);
      }
      this.finish(generation, st, null, summary);
      return;
    }
    this.timer = setTimeout(() => this.poll(generation), POLL_MS);
  }

  show(st) {
    const bar = $("#scan-bar");
    bar.value = st.Schedule;
    bar.setAttribute("aria-valuetext", `${st.Schedule}%`);
    const parts = [`${fmt.count(st.ImageScanCnt)} of ${fmt.count(st.ImageTotal)} images`, `${st.Schedule}%`];
    if (st.Status !== "END") {
      if (st.LeftSeconds > 0) parts.push(`about ${seconds(st.LeftSeconds)} left`);
    } else {
      parts.push(`${fmt.count(st.RiskCount)} with findings`);
    }
    $("#scan-text").textContent = parts.join(" · ");
  }

  finish(generation, st, err, summary = null) {
    if (generation !== this.generation) return;
    clearTimeout(this.timer);
    this.taskId = "";
    const box = $("#scan-progress");
    box.dataset.status = "END";
    box.setAttribute("aria-busy", "false");
    const sub = summary ? summary.SubStatus : "";
    box.dataset.result = sub || (err ? "Unknown" : "");
    $("#scan-title-text").textContent = err
      ? "Stopped following the scan"
      : ENDINGS[sub] || "Scan ended";
    if (err) $("#scan-text").textContent = `The status could not be read (${err.code || err.message}).`;
    $("#scan-stop").hidden = true;
    $("#scan-hide").hidden = false;
    this.setButtons(false);
    if (st) this.onEnd();
  }

  async stop() {
    const client = this.client();
    if (!client || !this.running) return;
    const button = $("#scan-stop");
    button.disabled = true;
    $("#scan-title-text").textContent = "Stopping the scan…";
    try {
      await client.call("ModifyAssetImageScanStop", { TaskID: this.taskId });
    } catch (err) {
      button.disabled = false;
      this.onError(err);
    }
    // the poll loop sees Status END and reads SubStatus Cancel
  }

  hide() {
    $("#scan-progress").hidden = true;
    $("#scan-all").focus();
  }

  /** Forget the task (sign-out); the server keeps scanning. */
  reset() {
    this.generation++;
    clearTimeout(this.timer);
    this.taskId = "";
    $("#scan-progress").hidden = true;
    this.setButtons(false);
  }

  /** Scan buttons are off while a task runs; "Scan selected" also needs a selection. */
  setButtons(busy) {
    this.busy = busy;
    $("#scan-all").disabled = busy;
    $("#scan-selected").disabled = busy || Number($("#scan-selected").dataset.count || 0) === 0;
  }
}
