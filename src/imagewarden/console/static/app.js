// The console's entry module: sign-in, state (kept in the URL hash), loading, filters, paging.

import { ApiError, TcssClient } from "./api.js";
import { barChart, stackedBar } from "./charts.js";
import { showDetail } from "./detail.js";
import { ExportController } from "./export.js";
import * as fmt from "./format.js";
import { ScanController } from "./scan.js";
import { COLUMNS, enableRowKeys, markSort, renderHead, renderRows } from "./table.js";

const STORAGE_KEY = "imagewarden.console.credentials";
const LIST = "DescribeAssetImageList";
const STATUSES = ["NOT_SCAN", "SCANNING", "SCANNED", "SCAN_ERR"];
const LIMITS = [10, 20, 50, 100];
const TYPING_DELAY_MS = 350;
const TOP_N = 5;
const SEVERITIES = [
  ["CriticalLevelVulCnt", "sev-critical", "critical"],
  ["HighLevelVulCnt", "sev-high", "high"],
  ["MediumLevelVulCnt", "sev-medium", "medium"],
  ["LowLevelVulCnt", "sev-low", "low"],
];

const $ = (sel) => document.querySelector(sel);

const DEFAULTS = { name: "", exact: false, id: "", status: "", risks: [], by: "CreateTime", order: "desc", limit: 20, offset: 0 };

let client = null;
let state = { ...DEFAULTS };
let rows = [];
let topRows = [];
let total = 0;
let listSeq = 0;
let countSeq = 0;
let countsKey = "";
let typingTimer = 0;
let scans = null;
let exports = null;
const selected = new Map(); // image ID -> name, kept across pages until a scan starts

// --- credentials (sessionStorage only) ---------------------------------------------------------

function savedCredentials() {
  try {
    const v = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
    return v && v.secretId && v.secretKey ? v : null;
  } catch {
    return null;
  }
}

function showSignIn(message) {
  client = null;
  $("#app-view").hidden = true;
  $("#account").hidden = true;
  $("#signin-view").hidden = false;
  const err = $("#signin-error");
  err.hidden = !message;
  err.textContent = message || "";
  $(message ? "#secret-key" : "#secret-id").focus();
}

function showApp() {
  $("#signin-view").hidden = true;
  $("#app-view").hidden = false;
  $("#account").hidden = false;
  $("#account-id").textContent = client.secretId;
}

function describe(err) {
  if (err instanceof ApiError) {
    return `${err.code}: ${err.detail}` + (err.requestId ? ` (RequestId ${err.requestId})` : "");
  }
  return String(err && err.message ? err.message : err);
}

async function signIn(ev) {
  ev.preventDefault();
  const secretId = $("#secret-id").value.trim();
  const secretKey = $("#secret-key").value.trim();
  if (!secretId || !secretKey) {
    showSignIn("Enter both the SecretId and the SecretKey.");
    return;
  }
  const button = $("#signin-submit");
  button.disabled = true;
  try {
    const candidate = new TcssClient({ secretId, secretKey });
    await candidate.call(LIST, { Limit: 1 }); // proves the pair before keeping it
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ secretId, secretKey }));
    client = candidate;
    $("#secret-key").value = "";
    showApp();
    refreshAll();
    scans.resume();
    $("#f-name").focus();
  } catch (err) {
    showSignIn(describe(err));
  } finally {
    button.disabled = false;
  }
}

function signOut() {
  sessionStorage.removeItem(STORAGE_KEY);
  scans.reset();
  exports.reset();
  selected.clear();
  rows = [];
  $("#rows").replaceChildren();
  hideError();
  showSignIn("");
}

// --- state <-> URL hash and form -------------------------------------------------------------------

function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  const limit = Number(p.get("limit"));
  const offset = Number(p.get("offset"));
  return {
    name: p.get("name") || "",
    exact: p.get("exact") === "1",
    id: p.get("id") || "",
    status: STATUSES.includes(p.get("status")) ? p.get("status") : "",
    risks: p.getAll("risk").filter((r) => fmt.SECURITY_RISKS.some(([v]) => v === r)),
    by: p.get("by") || DEFAULTS.by,
    order: p.get("order") === "asc" ? "asc" : "desc",
    limit: LIMITS.includes(limit) ? limit : DEFAULTS.limit,
    offset: Number.isInteger(offset) && offset > 0 ? offset : 0,
  };
}

function writeHash() {
  const p = new URLSearchParams();
  if (state.name) p.set("name", state.name);
  if (state.exact) p.set("exact", "1");
  if (state.id) p.set("id", state.id);
  if (state.status) p.set("status", state.status);
  for (const r of state.risks) p.append("risk", r);
  if (state.by !== DEFAULTS.by || state.order !== DEFAULTS.order) {
    p.set("by", state.by);
    p.set("order", state.order);
  }
  if (state.limit !== DEFAULTS.limit) p.set("limit", String(state.limit));
  if (state.offset) p.set("offset", String(state.offset));
  const hash = p.toString();
  history.replaceState(null, "", hash ? `#${hash}` : location.pathname);
}

function stateToForm() {
  $("#f-name").value = state.name;
  $("#f-exact").checked = state.exact;
  $("#f-id").value = state.id;
  $("#f-status").value = state.status;
  for (const box of document.querySelectorAll("#f-risks input")) box.checked = state.risks.includes(box.value);
  $("#limit").value = String(state.limit);
}

function formToState() {
  state.name = $("#f-name").value.trim();
  state.exact = $("#f-exact").checked;
  state.id = $("#f-id").value.trim();
  state.status = $("#f-status").value;
  state.risks = [...document.querySelectorAll("#f-risks input:checked")].map((b) => b.value);
}

/** DescribeAssetImageList Filters for the current state (`withStatus` false drops ScanStatus). */
function filters(withStatus = true) {
  const out = [];
  if (state.name) {
    const f = { Name: "ImageName", Values: [state.name] };
    if (state.exact) f.ExactMatch = true;
    out.push(f);
  }
  if (state.id) out.push({ Name: "ImageID", Values: [state.id] });
  if (withStatus && state.status) out.push({ Name: "ScanStatus", Values: [state.status] });
  if (state.risks.length) out.push({ Name: "SecurityRisk", Values: [...state.risks] });
  return out;
}

/**
 * CreateImageExportJob for what the table shows: the same Filters, By and Order as the list
 * call, the table's columns as ExportField, and no Offset/Limit (every page, not this one).
 */
function exportRequest() {
  const params = { By: state.by, Order: state.order, ExportField: COLUMNS.map((c) => c.key) };
  const f = filters();
  if (f.length) params.Filters = f;
  return params;
}

// --- loading ---------------------------------------------------------------------------------------

function showError(err) {
  const box = $("#error");
  box.querySelector(".error-text").textContent = describe(err);
  $("#error-signin").hidden = !(err instanceof ApiError && err.isAuth);
  box.hidden = false;
}

function hideError() {
  $("#error").hidden = true;
}

async function loadList() {
  const seq = ++listSeq;
  writeHash();
  markSort($("#head-row"), state.by, state.order);
  const table = $("#images");
  table.setAttribute("aria-busy", "true");
  try {
    const params = { Limit: state.limit, Offset: state.offset, By: state.by, Order: state.order };
    const f = filters();
    if (f.length) params.Filters = f;
    const r = await client.call(LIST, params);
    if (seq !== listSeq) return;
    rows = r.List || [];
    total = r.TotalCount || 0;
    if (rows.length === 0 && total > 0 && state.offset > 0) {
      // the list shrank under us: go to the last page that exists
      state.offset = Math.floor((total - 1) / state.limit) * state.limit;
      loadList();
      return;
    }
    hideError();
    render();
  } catch (err) {
    if (seq === listSeq) showError(err);
  } finally {
    if (seq === listSeq) table.removeAttribute("aria-busy");
  }
}

/** Scan-status counts: one Limit=1 query per status, reading only TotalCount. */
async function loadStatusCounts(force = false) {
  const base = filters(false);
  const key = JSON.stringify(base);
  if (!force && key === countsKey) return;
  countsKey = key;
  const seq = ++countSeq;
  loadTop(seq);
  try {
    const totals = await Promise.all(
      STATUSES.map((s) =>
        client
          .call(LIST, { Limit: 1, Filters: [...base, { Name: "ScanStatus", Values: [s] }] })
          .then((r) => r.TotalCount || 0),
      ),
    );
    if (seq !== countSeq) return;
    const items = STATUSES.map((s, i) => ({ label: fmt.SCAN_STATUS[s], value: totals[i], cls: `status-${s.toLowerCase()}` }));
    $("#status-chart").replaceChildren(barChart({ title: "Images by scan status", items, format: fmt.count }));
  } catch (err) {
    if (seq !== countSeq) return;
    countsKey = "";
    $("#status-chart").replaceChildren(note(`Not available: ${describe(err)}`));
  }
}

/** The few images with the most critical (then any) vulnerabilities under the current filters. */
async function loadTop(seq) {
  const box = $("#top-list");
  try {
    const params = { Limit: TOP_N, By: "CriticalLevelVulCnt", Order: "desc" };
    const f = filters();
    if (f.length) params.Filters = f;
    const r = await client.call(LIST, params);
    if (seq !== countSeq) return;
    topRows = (r.List || []).filter((row) => row.ScanStatus === "SCANNED" && row.VulCnt > 0);
    box.replaceChildren(...topRows.map(topItem));
    if (topRows.length === 0) box.append(note("No scanned image with vulnerabilities matches."));
  } catch (err) {
    if (seq === countSeq) box.replaceChildren(note(`Not available: ${describe(err)}`));
  }
}

function topItem(row, index) {
  const li = document.createElement("li");
  const b = document.createElement("button");
  b.type = "button";
  b.className = "open";
  b.textContent = row.ImageName;
  b.title = `Show details of ${row.ImageName}`;
  b.addEventListener("click", () => showDetail($("#detail"), topRows[index], b, client));
  const parts = SEVERITIES.map(([key, cls]) => ({ value: row[key] || 0, cls }));
  const max = Math.max(...topRows.map((r) => r.VulCnt || 0));
  const counts = document.createElement("span");
  counts.className = "counts";
  counts.textContent = SEVERITIES.map(([key, , short]) => `${fmt.count(row[key])} ${short}`).join(" · ");
  const line = document.createElement("div");
  line.className = "line";
  line.append(b, counts);
  li.append(line, stackedBar(parts, max));
  return li;
}

function note(text) {
  const p = document.createElement("p");
  p.className = "hint";
  p.textContent = text;
  return p;
}

function refreshAll(force = false) {
  if (!client) return;
  loadList();
  loadStatusCounts(force);
}

// --- rendering -------------------------------------------------------------------------------------

function render() {
  const filtered = filters().length > 0;
  renderRows(
    $("#rows"),
    rows,
    openDetail,
    filtered ? "No images match these filters." : "No images yet: hosts report them with ReportHostAssets.",
    selected,
    select,
  );
  renderSelection();
  const first = rows.length ? state.offset + 1 : 0;
  const last = state.offset + rows.length;
  const pages = Math.max(1, Math.ceil(total / state.limit));
  const page = Math.floor(state.offset / state.limit) + 1;
  $("#total").textContent = `${fmt.count(total)} ${total === 1 ? "image" : "images"}${filtered ? " match the filters" : ""}`;
  $("#range").textContent = `${fmt.count(first)}–${fmt.count(last)} of ${fmt.count(total)}`;
  $("#pages").textContent = fmt.count(pages);
  const pageInput = $("#page");
  pageInput.value = String(page);
  pageInput.max = String(pages);
  $("#first").disabled = $("#prev").disabled = state.offset === 0;
  $("#next").disabled = $("#last").disabled = last >= total;
  renderSeverity();
}

function renderSeverity() {
  const scanned = rows.filter((r) => r.ScanStatus === "SCANNED");
  const sum = (k) => scanned.reduce((acc, r) => acc + (r[k] || 0), 0);
  const items = SEVERITIES.map(([key, cls, short]) => ({
    label: short[0].toUpperCase() + short.slice(1),
    value: sum(key),
    cls,
  }));
  const box = $("#severity-chart");
  box.replaceChildren(barChart({ title: "Vulnerabilities on this page by severity", items, format: fmt.count }));
  box.append(note(`${fmt.count(scanned.length)} of ${fmt.count(rows.length)} images on this page scanned`));
}

// --- selection and scans ---------------------------------------------------------------------------

function select(row, checked) {
  if (checked) selected.set(row.ImageID, row.ImageName);
  else selected.delete(row.ImageID);
  renderSelection();
}

function selectPage(checked) {
  for (const row of rows) select(row, checked);
  for (const box of document.querySelectorAll("#rows input.select")) {
    box.checked = checked;
    box.closest("tr").classList.toggle("selected", checked);
  }
}

function renderSelection() {
  const n = selected.size;
  const button = $("#scan-selected");
  button.dataset.count = String(n);
  button.disabled = n === 0 || scans.running;
  $("#selected-count").textContent = n === 0 ? "No image selected" : `${fmt.count(n)} selected`;
  $("#clear-selection").hidden = n === 0;
  const onPage = rows.filter((r) => selected.has(r.ImageID)).length;
  const pageBox = $("#select-page");
  pageBox.checked = rows.length > 0 && onPage === rows.length;
  pageBox.indeterminate = onPage > 0 && onPage < rows.length;
}

function clearSelection() {
  selected.clear();
  for (const box of document.querySelectorAll("#rows input.select")) box.checked = false;
  for (const tr of document.querySelectorAll("#rows tr.selected")) tr.classList.remove("selected");
  renderSelection();
}

async function scanSelected() {
  hideError();
  if (await scans.start([...selected.keys()])) clearSelection();
}

async function scanAll() {
  hideError();
  await scans.start(null);
}

function openDetail(index, opener) {
  const row = rows[index];
  if (row) showDetail($("#detail"), row, opener, client);
}

// --- wiring ----------------------------------------------------------------------------------------

function applyFilters() {
  clearTimeout(typingTimer);
  formToState();
  state.offset = 0;
  refreshAll();
}

function goTo(offset) {
  state.offset = Math.max(0, offset);
  loadList();
}

function sortBy(by, firstOrder) {
  if (state.by === by) state.order = state.order === "asc" ? "desc" : "asc";
  else {
    state.by = by;
    state.order = firstOrder;
  }
  state.offset = 0;
  loadList();
}

function buildRiskChecks() {
  const box = $("#f-risks");
  for (const [value, label] of fmt.SECURITY_RISKS) {
    const l = document.createElement("label");
    l.className = "check";
    const input = document.createElement("input");
    input.type = "checkbox";
    input.value = value;
    input.name = "risk";
    l.append(input, ` ${label}`);
    box.append(l);
  }
}

function wire() {
  buildRiskChecks();
  renderHead($("#head-row"), sortBy, selectPage);
  scans = new ScanController({
    client: () => client,
    onChange: () => refreshAll(true), // images finished: their rows and the status counts moved
    onEnd: () => refreshAll(true),
    onError: showError,
  });
  exports = new ExportController({
    client: () => client,
    request: () => {
      hideError();
      return exportRequest();
    },
    onError: showError,
  });
  $("#scan-selected").addEventListener("click", scanSelected);
  $("#scan-all").addEventListener("click", scanAll);
  $("#clear-selection").addEventListener("click", clearSelection);
  enableRowKeys($("#rows"));
  $("#signin").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", signOut);
  $("#error-signin").addEventListener("click", signOut);
  $("#error-dismiss").addEventListener("click", hideError);
  $("#filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    applyFilters();
  });
  for (const id of ["#f-name", "#f-id"]) {
    $(id).addEventListener("input", () => {
      clearTimeout(typingTimer);
      typingTimer = setTimeout(applyFilters, TYPING_DELAY_MS);
    });
  }
  for (const id of ["#f-exact", "#f-status"]) $(id).addEventListener("change", applyFilters);
  $("#f-risks").addEventListener("change", applyFilters);
  $("#clear").addEventListener("click", () => {
    Object.assign(state, { name: "", exact: false, id: "", status: "", risks: [], offset: 0 });
    stateToForm();
    refreshAll();
  });
  $("#refresh").addEventListener("click", () => refreshAll(true));
  $("#limit").addEventListener("change", () => {
    state.limit = Number($("#limit").value);
    state.offset = 0;
    loadList();
  });
  $("#first").addEventListener("click", () => goTo(0));
  $("#prev").addEventListener("click", () => goTo(state.offset - state.limit));
  $("#next").addEventListener("click", () => goTo(state.offset + state.limit));
  $("#last").addEventListener("click", () => goTo(Math.floor(Math.max(0, total - 1) / state.limit) * state.limit));
  $("#page").addEventListener("change", () => {
    const pages = Math.max(1, Math.ceil(total / state.limit));
    const page = Math.min(pages, Math.max(1, Math.floor(Number($("#page").value)) || 1));
    goTo((page - 1) * state.limit);
  });
  $("#detail-close").addEventListener("click", () => $("#detail").close());
  $("#detail").addEventListener("click", (ev) => {
    if (ev.target === $("#detail")) $("#detail").close(); // a click on the backdrop
  });
}

function start() {
  wire();
  state = readHash();
  stateToForm();
  const saved = savedCredentials();
  if (!saved) {
    showSignIn("");
    return;
  }
  client = new TcssClient(saved);
  showApp();
  refreshAll();
  scans.resume();
}

start();
