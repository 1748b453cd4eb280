// Small SVG charts for the review pages: horizontal bars, grouped bars, a heat map (confusion
// matrices, the valence/arousal histogram). No dependencies; each returns the <svg> it drew.
const NS = "http://www.w3.org/2000/svg";

export function svgEl(name, attrs = {}, parent = null, text = null) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

// labels: names; series: [{values, color, name}] (values as shares or counts); one row per label.
export function barChart(container, { labels, series, width = 360, row = 18, labelWidth = 90, format = (v) => v.toFixed(2), max = null }) {
  const barArea = width - labelWidth - 50;
  const groupHeight = row * series.length + 4;
  const pad = 4;
  const height = labels.length * groupHeight + (series.length > 1 ? 20 : 0) + pad;
  const svg = svgEl("svg", { viewBox: `0 ${-pad} ${width} ${height}`, width, height, class: "chart bar-chart" }, container);
  const top = Math.max(max ?? 0, ...series.flatMap((s) => s.values), 1e-9);
  labels.forEach((label, i) => {
    const y0 = i * groupHeight;
    svgEl("text", { x: labelWidth - 6, y: y0 + groupHeight / 2 + 4, "text-anchor": "end", class: "chart-label" }, svg, label);
    series.forEach((s, k) => {
      const v = s.values[i] ?? 0;
      const y = y0 + k * row + 2;
      const w = Math.max(0, (v / top) * barArea);
      const bar = svgEl("rect", { x: labelWidth, y, width: w, height: row - 4, fill: s.color, class: "bar" }, svg);
      svgEl("title", {}, bar, `${s.name || ""} ${label}: ${format(v)}`);
      svgEl("text", { x: labelWidth + w + 4, y: y + row - 7, class: "chart-value" }, svg, format(v));
    });
  });
  if (series.length > 1) {
    let x = labelWidth;
    const y = height - 6;
    for (const s of series) {
      svgEl("rect", { x, y: y - 9, width: 10, height: 10, fill: s.color }, svg);
      const t = svgEl("text", { x: x + 14, y, class: "chart-label" }, svg, s.name);
      x += 24 + 7 * s.name.length;
      void t;
    }
  }
  return svg;
}

// A heat map of counts: matrix[row][col]; rowLabels down the side, colLabels along the top.
export function heatMap(container, { matrix, rowLabels, colLabels, cell = 26, labelWidth = 80, title = "", showCounts = true, rowTitle = "", colTitle = "" }) {
  const rows = matrix.length, cols = matrix[0]?.length ?? 0;
  const top = 74;
  const width = labelWidth + cols * cell + 50, height = top + rows * cell + 24;
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "chart heat-map" }, container);
  if (title) svgEl("text", { x: 0, y: 12, class: "chart-title" }, svg, title);
  const max = Math.max(1, ...matrix.flat());
  colLabels.forEach((label, j) => {
    svgEl("text", { x: labelWidth + j * cell + cell / 2, y: top - 6, transform: `rotate(-50 ${labelWidth + j * cell + cell / 2} ${top - 6})`, class: "chart-label" }, svg, label);
  });
  rowLabels.forEach((label, i) => {
    svgEl("text", { x: labelWidth - 4, y: top + i * cell + cell / 2 + 4, "text-anchor": "end", class: "chart-label" }, svg, label);
  });
  matrix.forEach((r, i) => r.forEach((v, j) => {
    const shade = v / max;
    const rect = svgEl("rect", { x: labelWidth + j * cell, y: top + i * cell, width: cell - 1, height: cell - 1,
      fill: `rgba(79, 156, 249, ${v ? 0.12 + 0.88 * shade : 0.04})`, class: "cell" }, svg);
    svgEl("title", {}, rect, `${rowLabels[i]} / ${colLabels[j]}: ${v}`);
    if (showCounts && v) svgEl("text", { x: labelWidth + j * cell + cell / 2, y: top + i * cell + cell / 2 + 4, "text-anchor": "middle", class: "cell-count" }, svg, String(v));
  }));
  if (rowTitle || colTitle) svgEl("text", { x: labelWidth, y: height - 6, class: "chart-label" }, svg, `rows: ${rowTitle} · columns: ${colTitle}`);
  return svg;
}

// counts[i][j]: arousal bin i (from -1 up), valence bin j (from -1 right); drawn on the circle.
export function vaHistogram(container, { counts, size = 320 }) {
  const bins = counts.length;
  const R = size / 2 - 10;
  const svg = svgEl("svg", { viewBox: `${-size / 2} ${-size / 2} ${size} ${size}`, width: size, height: size, class: "chart va-histogram" }, container);
  const max = Math.max(1, ...counts.flat());
  const step = (2 * R) / bins;
  counts.forEach((row, i) => row.forEach((v, j) => {
    if (!v) return;
    const x = -R + j * step, y = R - (i + 1) * step;
    const rect = svgEl("rect", { x, y, width: step, height: step, fill: `rgba(245, 166, 35, ${0.15 + 0.85 * v / max})` }, svg);
    svgEl("title", {}, rect, `valence ${(-1 + (2 * j) / bins).toFixed(1)}…${(-1 + (2 * (j + 1)) / bins).toFixed(1)}, arousal ${(-1 + (2 * i) / bins).toFixed(1)}…${(-1 + (2 * (i + 1)) / bins).toFixed(1)}: ${v}`);
  }));
  svgEl("circle", { cx: 0, cy: 0, r: R, class: "va-disc-outline" }, svg);
  svgEl("line", { x1: -R, y1: 0, x2: R, y2: 0, class: "va-axis" }, svg);
  svgEl("line", { x1: 0, y1: -R, x2: 0, y2: R, class: "va-axis" }, svg);
  svgEl("text", { x: R - 2, y: -4, "text-anchor": "end", class: "chart-label" }, svg, "valence +");
  svgEl("text", { x: 4, y: -R + 12, class: "chart-label" }, svg, "arousal +");
  return svg;
}
