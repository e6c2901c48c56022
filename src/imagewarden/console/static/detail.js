// The detail drawer: every ImagesInfo field of one row, grouped, with its wire name.

import * as fmt from "./format.js";

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

/** Fill the dialog with `row` and open it modally; focus goes back to `opener` on close. */
export function showDetail(dialog, row, opener) {
  dialog.querySelector("#detail-title").textContent = row.ImageName;
  const body = dialog.querySelector("#detail-body");
  body.replaceChildren(...GROUPS.map(([title, fields]) => section(title, fields, row)));
  const later = document.createElement("p");
  later.className = "hint later";
  later.textContent =
    "The image's vulnerabilities, components, viruses, risks and hosts will be listed here once " +
    "the server offers the drill-down actions (DescribeAssetImageVulList and its siblings); " +
    "this server does not have them yet, so only the list's fields are shown.";
  body.append(later);
  dialog.addEventListener("close", () => opener?.focus(), { once: true });
  dialog.showModal();
  dialog.querySelector("#detail-close").focus();
}
