// The image table: column definitions, sortable headers (aria-sort), rows built with textContent,
// and a checkbox per row (in the sticky row header) that selects images for a scan.

import * as fmt from "./format.js";

const SCANNED = "SCANNED";

function num(key) {
  return (row) => fmt.count(row[key]);
}

/** Findings only mean something once a scan finished; otherwise show a dash, not a zero. */
function finding(key) {
  return (row, td) => {
    if (row.ScanStatus !== SCANNED) {
      td.classList.add("na");
      td.title = "not scanned";
      return "–";
    }
    if (row[key] > 0) td.classList.add("hot");
    return fmt.count(row[key]);
  };
}

export const COLUMNS = [
  { key: "ImageName", label: "Image", sort: "ImageName", first: "asc" },
  { key: "ImageID", label: "ID" },
  { key: "OsName", label: "OS" },
  { key: "Size", label: "Size", sort: "Size", num: true },
  { key: "HostCnt", label: "Hosts", sort: "HostCnt", num: true, cell: num("HostCnt") },
  { key: "SuperNodeCnt", label: "Super nodes", sort: "SuperNodeCnt", num: true, cell: num("SuperNodeCnt") },
  { key: "ContainerCnt", label: "Containers", sort: "ContainerCnt", num: true, cell: num("ContainerCnt"), title: "Running containers" },
  { key: "ComponentCnt", label: "Components", sort: "ComponentCnt", num: true, cell: finding("ComponentCnt"), title: "Components found by the last scan" },
  { key: "CriticalLevelVulCnt", label: "Critical", sort: "CriticalLevelVulCnt", num: true, sev: "critical", cell: finding("CriticalLevelVulCnt"), title: "Critical vulnerabilities" },
  { key: "HighLevelVulCnt", label: "High", sort: "HighLevelVulCnt", num: true, sev: "high", cell: finding("HighLevelVulCnt"), title: "High vulnerabilities" },
  { key: "MediumLevelVulCnt", label: "Medium", sort: "MediumLevelVulCnt", num: true, sev: "medium", cell: finding("MediumLevelVulCnt"), title: "Medium vulnerabilities" },
  { key: "LowLevelVulCnt", label: "Low", sort: "LowLevelVulCnt", num: true, sev: "low", cell: finding("LowLevelVulCnt"), title: "Low vulnerabilities" },
  { key: "VirusCnt", label: "Viruses", sort: "VirusCnt", num: true, cell: finding("VirusCnt") },
  { key: "RiskCnt", label: "Risks", sort: "RiskCnt", num: true, cell: finding("RiskCnt") },
  { key: "IsTrustImage", label: "Trusted" },
  { key: "ScanStatus", label: "Scan status" },
  { key: "ScanTime", label: "Scanned", sort: "ScanTime" },
  { key: "CreateTime", label: "Created", sort: "CreateTime" },
];

/**
 * Header cells: a button per sortable column; `onSort(by)` is called on activation.  The first
 * header also holds the "select every row of this page" checkbox, `onSelectPage(checked)`.
 */
export function renderHead(tr, onSort, onSelectPage) {
  tr.replaceChildren();
  for (const col of COLUMNS) {
    const th = document.createElement("th");
    th.scope = "col";
    th.dataset.key = col.key;
    if (col.key === "ImageName") {
      const box = document.createElement("input");
      box.type = "checkbox";
      box.id = "select-page";
      box.className = "select";
      box.setAttribute("aria-label", "Select every image on this page");
      box.addEventListener("change", () => onSelectPage(box.checked));
      th.append(box);
    }
    if (col.num) th.classList.add("num");
    if (col.sev) th.classList.add(`sev-${col.sev}`);
    if (col.sort) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "sort";
      b.dataset.sort = col.sort;
      if (col.title) b.title = col.title;
      const text = document.createElement("span");
      text.textContent = col.label;
      const icon = document.createElement("span");
      icon.className = "sort-icon";
      icon.setAttribute("aria-hidden", "true");
      b.append(text, icon);
      b.addEventListener("click", () => onSort(col.sort, col.first || "desc"));
      th.append(b);
    } else {
      th.textContent = col.label;
      if (col.title) th.title = col.title;
    }
    tr.append(th);
  }
}

/** Mark the active sort column (aria-sort on exactly one header, "none" on other sortable ones). */
export function markSort(tr, by, order) {
  for (const th of tr.children) {
    const button = th.querySelector("button.sort");
    if (!button) continue;
    const active = button.dataset.sort.toLowerCase() === String(by).toLowerCase();
    th.setAttribute("aria-sort", active ? (order === "asc" ? "ascending" : "descending") : "none");
    button.querySelector(".sort-icon").textContent = active ? (order === "asc" ? "▲" : "▼") : "↕";
  }
}

function cell(col, row, td) {
  if (col.cell) return col.cell(row, td);
  switch (col.key) {
    case "ImageID":
      td.title = row.ImageID;
      td.classList.add("mono");
      return fmt.shortId(row.ImageID);
    case "Size":
      td.title = `${fmt.count(row.Size)} bytes`;
      return fmt.size(row.Size);
    case "IsTrustImage":
      return row.IsTrustImage ? "Yes" : "No";
    case "ScanTime":
    case "CreateTime": {
      const t = document.createElement("time");
      t.dateTime = row[col.key];
      t.textContent = fmt.time(row[col.key]) || "–";
      td.append(t);
      return null;
    }
    case "ScanStatus": {
      const badge = document.createElement("span");
      badge.className = `badge status-${row.ScanStatus.toLowerCase()}`;
      badge.textContent = fmt.SCAN_STATUS[row.ScanStatus] || row.ScanStatus;
      td.append(badge);
      return null;
    }
    default:
      return row[col.key] ?? "";
  }
}

/**
 * Replace the body with `rows`; `onOpen(index, button)` opens a row's details.  `selected` is
 * the set of selected image IDs; `onSelect(row, checked)` is called when a row's box changes.
 */
export function renderRows(tbody, rows, onOpen, emptyText, selected = new Set(), onSelect = () => {}) {
  tbody.replaceChildren();
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = COLUMNS.length;
    td.className = "empty";
    td.textContent = emptyText;
    tr.append(td);
    tbody.append(tr);
    return;
  }
  rows.forEach((row, index) => {
    const tr = document.createElement("tr");
    tr.dataset.index = String(index);
    for (const col of COLUMNS) {
      const td = document.createElement(col.key === "ImageName" ? "th" : "td");
      if (col.num) td.classList.add("num");
      if (col.key === "ImageName") {
        td.scope = "row";
        const box = document.createElement("input");
        box.type = "checkbox";
        box.className = "select";
        box.checked = selected.has(row.ImageID);
        box.setAttribute("aria-label", `Select ${row.ImageName}`);
        box.addEventListener("click", (ev) => ev.stopPropagation()); // not a click on the row
        box.addEventListener("change", () => {
          tr.classList.toggle("selected", box.checked);
          onSelect(row, box.checked);
        });
        tr.classList.toggle("selected", box.checked);
        const head = document.createElement("span");
        head.className = "row-head";
        td.append(head);
        head.append(box);
        const b = document.createElement("button");
        b.type = "button";
        b.className = "open";
        b.textContent = row.ImageName;
        b.title = `Show details of ${row.ImageName}`;
        b.addEventListener("click", (ev) => {
          ev.stopPropagation();
          onOpen(index, b);
        });
        head.append(b);
      } else {
        const text = cell(col, row, td);
        if (text !== null) td.append(String(text));
      }
      tr.append(td);
    }
    // A click anywhere on the row opens it too (the name button is the keyboard path).
    tr.addEventListener("click", (ev) => {
      if (window.getSelection()?.toString()) return; // selecting text is not a click
      const b = tr.querySelector("button.open");
      if (ev.target !== b) onOpen(index, b);
    });
    tbody.append(tr);
  });
}

/**
 * Arrow keys move between the rows' name buttons (or their checkboxes, from a checkbox);
 * Home/End jump to the first/last row.
 */
export function enableRowKeys(tbody) {
  tbody.addEventListener("keydown", (ev) => {
    const kind = ev.target.matches("button.open") ? "button.open" : ev.target.matches("input.select") ? "input.select" : "";
    if (!kind) return;
    const buttons = [...tbody.querySelectorAll(kind)];
    const i = buttons.indexOf(ev.target);
    const target = {
      ArrowDown: buttons[i + 1],
      ArrowUp: buttons[i - 1],
      Home: buttons[0],
      End: buttons[buttons.length - 1],
    }[ev.key];
    if (target) {
      ev.preventDefault();
      target.focus();
    }
  });
}
