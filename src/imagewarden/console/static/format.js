// Display helpers: sizes, counts, times and labels.  Plain functions, no DOM.

const NUMBER = new Intl.NumberFormat("en-US");

export function count(n) {
  return NUMBER.format(n ?? 0);
}

/** Bytes in decimal units, as `docker images` prints them: 187000000 → "187 MB". */
export function size(bytes) {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let value = Number(bytes) || 0;
  let i = 0;
  while (value >= 1000 && i < units.length - 1) {
    value /= 1000;
    i++;
  }
  const digits = i === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${units[i]}`;
}

/** "2024-02-14T09:12:00Z" → "2024-02-14 09:12 UTC"; "" stays "". */
export function time(rfc3339) {
  if (!rfc3339) return "";
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(rfc3339);
  return m ? `${m[1]} ${m[2]} UTC` : rfc3339;
}

/** "sha256:0123456789abcdef…" → "0123456789ab" (what `docker images` shows). */
export function shortId(imageId) {
  return String(imageId || "").replace(/^sha256:/, "").slice(0, 12);
}

export const SCAN_STATUS = {
  NOT_SCAN: "Not scanned",
  SCANNING: "Scanning",
  SCANNED: "Scanned",
  SCAN_ERR: "Scan failed",
};

export const SECURITY_RISKS = [
  ["CriticalLevelVul", "Critical vulnerabilities"],
  ["HighLevelVul", "High vulnerabilities"],
  ["MediumLevelVul", "Medium vulnerabilities"],
  ["LowLevelVul", "Low vulnerabilities"],
  ["VulCnt", "Any vulnerability"],
  ["VirusCnt", "Viruses"],
  ["RiskCnt", "Risks"],
  ["IsTrustImage", "Trusted"],
];

export function yesNo(value) {
  return value ? "Yes" : "No";
}
