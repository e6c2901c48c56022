// Small inline-SVG charts.  Colours come from CSS classes, so the page's CSP needs no inline style.

const SVG = "http://www.w3.org/2000/svg";
let uid = 0;

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * A horizontal bar chart: one row per item ({label, value, cls}), bars scaled to the largest.
 * The SVG is role="img" with a title and a description that lists every value, so a screen
 * reader hears the numbers, not the shapes.
 */
export function barChart({ title, items, format = String, width = 340 }) {
  const rowH = 24;
  const labelW = 104;
  const valueW = 64;
  const barMax = width - labelW - valueW;
  const height = items.length * rowH + 4;
  const max = Math.max(0, ...items.map((i) => i.value));
  const id = `chart-${++uid}`;
  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    "aria-labelledby": `${id}-t ${id}-d`,
    class: "chart",
  });
  svg.append(el("title", { id: `${id}-t` }, title));
  svg.append(
    el("desc", { id: `${id}-d` }, items.map((i) => `${i.label}: ${format(i.value)}`).join("; ")),
  );
  items.forEach((item, n) => {
    const y = n * rowH + 2;
    const w = max > 0 ? Math.max(item.value > 0 ? 2 : 0, (item.value / max) * barMax) : 0;
    const g = el("g", { class: `bar ${item.cls || ""}`.trim(), "aria-hidden": "true" });
    g.append(el("text", { x: labelW - 8, y: y + rowH / 2, class: "label" }, item.label));
    g.append(el("rect", { x: labelW, y: y + 3, width: barMax, height: rowH - 6, class: "track", rx: 3 }));
    g.append(el("rect", { x: labelW, y: y + 3, width: w, height: rowH - 6, class: "fill", rx: 3 }));
    g.append(el("text", { x: labelW + barMax + 8, y: y + rowH / 2, class: "value" }, format(item.value)));
    svg.append(g);
  });
  return svg;
}

/**
 * A thin stacked bar (one segment per {value, cls}) scaled against `max`; decorative, so it is
 * aria-hidden: the caller prints the numbers as text next to it.
 */
export function stackedBar(parts, max, { width = 160, height = 10 } = {}) {
  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`,
    height,
    preserveAspectRatio: "none",
    "aria-hidden": "true",
    class: "chart stacked",
  });
  svg.append(el("rect", { x: 0, y: 0, width, height, class: "track", rx: 2 }));
  let x = 0;
  for (const part of parts) {
    const w = max > 0 ? (part.value / max) * width : 0;
    if (w <= 0) continue;
    const g = el("g", { class: `bar ${part.cls}` });
    g.append(el("rect", { x, y: 0, width: w, height, class: "fill" }));
    svg.append(g);
    x += w;
  }
  return svg;
}
