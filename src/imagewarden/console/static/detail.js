// The detail drawer: an "Overview" tab with every ImagesInfo field of one row (grouped, with its
// wire name), and one tab per drill-down action, loaded when the tab is first opened.

import { ApiError } from "./api.js";
import * as fmt from "./format.js";

const SUB_LIMIT = 100; // the drill-down actions' maximum Limit
const LEVELS = { 4: "Critical", 3: "High", 2: "Medium", 1: "Low", 0: "Unknown" };

const asTime = (v) => fmt.time(v) || "–";
const asText = (v) => (v === "" || v === undefined || v === null ? "–" : String(v));
const asCount = (v) => fmt.count(v);
const asBool = (v) => fmt.yesNo(v);

const GROUPS = [
  [
    "Image",
    [
      ["ImageName", "Name", asText],
      ["ImageID", "ID", asText],
      ["OsName", "Operating system", asText],
      ["Size", "Size", (v) => `${fmt.size(v)} (${fmt.count(v)} bytes)`],
      ["CreateTime", "Created", asTime],
    ],
  ],
  [
    "Where it is",
    [
      ["HostCnt", "Hosts", asCount],
      ["SuperNodeCnt", "Super nodes", asCount],
      ["ContainerCnt", "Running containers", asCount],
      ["AgentError", "Agent error", asText],
    ],
  ],
  [
    "Scan",
    [
      ["ScanStatus", "Status", (v) => fmt.SCAN_STATUS[v] || v],
      ["ScanTime", "Scanned", asTime],
      ["ComponentCnt", "Components", asCount],
      ["VulCnt", "Vulnerabilities", asCount],
      ["CriticalLevelVulCnt", "Critical", asCount],
      ["HighLevelVulCnt", "High", asCount],
      ["MediumLevelVulCnt", "Medium", asCount],
      ["LowLevelVulCnt", "Low", asCount],
      ["VirusCnt", "Viruses", asCount],
      ["RiskCnt", "Risks", asCount],
      ["ScanError", "Scan error", asText],
      ["ScanVulError", "Vulnerability scan error", asText],
      ["ScanVirusError", "Virus scan error", asText],
      ["ScanRiskError", "Risk scan error", asText],
    ],
  ],
  [
    "Policy",
    [
      ["IsTrustImage", "Trusted", asBool],
      ["IsAuthorized", "Authorized", (v) => fmt.yesNo(v === 1)],
      ["IsSuggest", "Suggested for scan", (v) => fmt.yesNo(v === 1)],
      ["IsLatestImage", "Latest image", asBool],
      ["RecommendedFix", "Fix recommended", asBool],
      ["Solution", "Solution", asText],
      ["Reason", "Reason", asText],
    ],
  ],
];

function section(title, fields, row) {
  const s = document.createElement("section");
  const h = document.createElement("h3");
  h.textContent = title;
  const dl = document.createElement("dl");
  for (const [key, label, render] of fields) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const code = document.createElement("code");
    code.className = "wire";
    code.textContent = key;
    dt.append(" ", code);
    const dd = document.createElement("dd");
    dd.dataset.field = key;
    dd.textContent = render(row[key]);
    if (key === "ImageID") dd.classList.add("mono");
    dl.append(dt, dd);
  }
  s.append(h, dl);
  return s;
}

function level(v) {
  const span = document.createElement("span");
  span.className = `lvl lvl-${Number(v) || 0}`;
  span.textContent = LEVELS[v] ?? String(v);
  return span;
}

/** The drill-down tabs: the action, its parameters for a row, the columns of its List. */
const TABS = [
  {
    id: "vuls",
    label: "Vulnerabilities",
    count: (row) => (row.ScanStatus === "SCANNED" ? row.VulCnt : null),
    action: "DescribeAssetImageVulList",
    params: (row) => ({ ImageID: row.ImageID, Limit: SUB_LIMIT, By: "Level", Order: "desc" }),
    columns: [
      ["CVEID", "CVE", (v, item) => v || item.Name],
      ["Level", "Severity", level],
      ["Component", "Component"],
      ["Version", "Version"],
      ["FixedVersions", "Fixed in", asText],
    ],
    empty: "No vulnerabilities recorded for this image.",
  },
  {
    id: "components",
    label: "Components",
    count: (row) => (row.ScanStatus === "SCANNED" ? row.ComponentCnt : null),
    action: "DescribeImageComponentList",
    params: (row) => ({ ImageID: row.ImageID, Limit: SUB_LIMIT }),
    columns: [
      ["Name", "Name"],
      ["Version", "Version"],
      ["Type", "Type"],
      ["VulCount", "Vulnerabilities", asCount],
      ["Path", "Path", asText],
    ],
    empty: "No components recorded for this image.",
  },
  {
    id: "hosts",
    label: "Hosts",
    count: (row) => row.HostCnt,
    action: "DescribeAssetImageHostList",
    params: (row) => ({ Filters: [{ Name: "ImageID", Values: [row.ImageID] }] }),
    columns: [["HostID", "Host ID"]],
    empty: "No host reports this image.",
  },
  {
    id: "viruses",
    label: "Viruses",
    count: (row) => (row.ScanStatus === "SCANNED" ? row.VirusCnt : null),
    action: "DescribeAssetImageVirusList",
    params: (row) => ({ ImageID: row.ImageID, Limit: SUB_LIMIT }),
    columns: [
      ["VirusName", "Virus"],
      ["FileName", "File"],
      ["Path", "Path"],
      ["RiskLevel", "Level", level],
      ["Md5", "MD5", asText],
      ["LatestScanTime", "Last seen", asTime],
    ],
    empty: "No virus found in this image.",
  },
  {
    id: "risks",
    label: "Risks",
    count: (row) => (row.ScanStatus === "SCANNED" ? row.RiskCnt : null),
    action: "DescribeAssetImageRiskList",
    params: (row) => ({ ImageID: row.ImageID, Limit: SUB_LIMIT }),
    columns: [
      ["Desc", "Detail", asText],
      ["Level", "Level", level],
      ["Type", "Type", asText],
      ["Behavior", "Behaviour", asText],
      ["InstructionContent", "What to do", asText],
    ],
    empty: "No risk found in this image.",
  },
];

/** An action the server does not offer answers InvalidAction (or UnsupportedOperation.*). */
export function isUnavailable(err) {
  return err instanceof ApiError && (err.code === "InvalidAction" || err.code.startsWith("UnsupportedOperation"));
}

function table(tab, items) {
  const t = document.createElement("table");
  t.className = "sub";
  const head = document.createElement("tr");
  for (const [, label] of tab.columns) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = label;
    head.append(th);
  }
  const thead = document.createElement("thead");
  thead.append(head);
  const tbody = document.createElement("tbody");
  for (const item of items) {
    const tr = document.createElement("tr");
    tab.columns.forEach(([key, , render], i) => {
      const td = document.createElement(i === 0 ? "th" : "td");
      if (i === 0) td.scope = "row";
      td.dataset.field = key;
      const value = render ? render(item[key], item) : item[key] ?? "";
      td.append(value instanceof Node ? value : String(value));
      tr.append(td);
    });
    tbody.append(tr);
  }
  t.append(thead, tbody);
  return t;
}

async function loadTab(tab, row, panel, client) {
  panel.setAttribute("aria-busy", "true");
  panel.replaceChildren(note("Loading…"));
  try {
    const r = await client.call(tab.action, tab.params(row));
    const items = r.List || [];
    const total = r.TotalCount ?? items.length;
    panel.dataset.state = "loaded";
    if (items.length === 0) {
      panel.replaceChildren(note(tab.empty, "empty"));
    } else {
      const summary = note(
        total > items.length ? `The first ${fmt.count(items.length)} of ${fmt.count(total)}.` : `${fmt.count(total)} in all.`,
        "total",
      );
      panel.replaceChildren(summary, table(tab, items));
    }
  } catch (err) {
    delete panel.dataset.state; // opening the tab again retries
    if (isUnavailable(err)) {
      panel.dataset.state = "unavailable";
      const p = note(
        `Not available: this server does not offer ${tab.action} yet (${err.code}). ` +
          "The image's summary counts are on the Overview tab.",
        "unavailable",
      );
      panel.replaceChildren(p);
    } else {
      const p = note(`${tab.label} could not be loaded: ${err.code ? `${err.code}: ${err.detail}` : err}`, "error");
      p.setAttribute("role", "alert");
      panel.replaceChildren(p);
    }
  } finally {
    panel.setAttribute("aria-busy", "false");
  }
}

function note(text, cls = "") {
  const p = document.createElement("p");
  p.className = `hint ${cls}`.trim();
  p.textContent = text;
  return p;
}

/** A tab list (arrow keys, Home/End; automatic activation) over an overview and the drill-downs. */
function tabs(row, client) {
  const list = document.createElement("div");
  list.className = "tabs";
  list.setAttribute("role", "tablist");
  list.setAttribute("aria-label", "Image details");
  const overview = document.createElement("div");
  overview.append(...GROUPS.map(([title, fields]) => section(title, fields, row)));
  const all = [{ id: "overview", label: "Overview", count: () => null }, ...TABS];
  const buttons = [];
  const panels = [];
  all.forEach((tab, i) => {
    const b = document.createElement("button");
    b.type = "button";
    b.id = `tab-${tab.id}`;
    b.setAttribute("role", "tab");
    b.setAttribute("aria-controls", `panel-${tab.id}`);
    b.append(tab.label);
    const n = tab.count(row);
    if (n !== null && n !== undefined) {
      const c = document.createElement("span");
      c.className = "tab-count";
      c.textContent = fmt.count(n);
      c.setAttribute("aria-label", `(${fmt.count(n)})`);
      b.append(" ", c);
    }
    const panel = i === 0 ? overview : document.createElement("div");
    panel.id = `panel-${tab.id}`;
    panel.setAttribute("role", "tabpanel");
    panel.setAttribute("aria-labelledby", b.id);
    panel.tabIndex = 0;
    b.addEventListener("click", () => activate(i));
    buttons.push(b);
    panels.push(panel);
  });
  function activate(i, focus = false) {
    buttons.forEach((b, j) => {
      b.setAttribute("aria-selected", String(i === j));
      b.tabIndex = i === j ? 0 : -1;
      panels[j].hidden = i !== j;
    });
    if (focus) buttons[i].focus();
    const tab = all[i];
    if (i > 0 && !panels[i].dataset.state) {
      panels[i].dataset.state = "loading";
      loadTab(tab, row, panels[i], client);
    }
  }
  list.addEventListener("keydown", (ev) => {
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: buttons.length - 1 }[ev.key];
    if (next === undefined) return;
    ev.preventDefault();
    activate((next + buttons.length) % buttons.length, true);
  });
  list.append(...buttons);
  activate(0);
  return [list, ...panels];
}

/**
 * Fill the dialog with `row` and open it modally; focus goes back to `opener` on close.
 * `client` signs the drill-down calls.
 */
export function showDetail(dialog, row, opener, client) {
  dialog.querySelector("#detail-title").textContent = row.ImageName;
  const body = dialog.querySelector("#detail-body");
  body.replaceChildren(...tabs(row, client));
  dialog.addEventListener("close", () => opener?.focus(), { once: true });
  dialog.showModal();
  dialog.querySelector("#detail-close").focus();
}
