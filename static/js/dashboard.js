// Draws the dashboard's charts from the JSON the page carries (no requests, no CDN). A chart with
// nothing to show says so instead of drawing empty axes.
import { barChart, heatMap, vaHistogram } from "./charts.js";

const data = JSON.parse(document.getElementById("dashboard-data").textContent);
const names = data.categories.names;
const sum = (values) => values.reduce((a, b) => a + b, 0);
const shares = (counts) => { const total = sum(counts); return counts.map((c) => (total ? c / total : 0)); };
const answered = sum(data.categories.answers) > 0;
// Charts as wide as their box allows (a phone's is narrow), within limits that keep the text legible.
const fit = (box, min, max) => Math.max(min, Math.min(max, Math.floor(box.clientWidth)));
const cellFor = (box) => Math.max(16, Math.min(26, Math.floor((box.clientWidth - 130) / names.length)));

// Draw the chart into the element, or say why there is none; name the drawing for screen readers.
function chart(id, hasData, why, draw, label) {
  const box = document.getElementById(id);
  if (!answered || !hasData) {
    const p = document.createElement("p");
    p.className = "muted no-data";
    p.textContent = answered ? `No data yet: ${why}.` : "No data yet: nothing has been answered.";
    box.replaceChildren(p);
    return;
  }
  box.replaceChildren();
  const svg = draw(box);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
}

// Drawn for the boxes' widths now, and again when they change (a phone turned, a window resized).
function drawAll() {
  chart("chart-categories", true, "", (box) => barChart(box, {
    labels: names,
    series: [
      { name: "final labels", values: shares(data.categories.final), color: "#3fb950" },
      { name: "answers", values: shares(data.categories.answers), color: "#4f9cf9" },
      { name: "AffectNet", values: shares(data.categories.affectnet), color: "#9aa0a6" },
    ],
    width: fit(box, 320, 480), row: 12, labelWidth: 80, format: (v) => `${(100 * v).toFixed(1)}%`,
  }), "Share of each category among final labels, answers and AffectNet (bars; the values are printed beside them)");
  chart("chart-va", sum(data.va_histogram.counts.flat()) > 0, "no answer has a valence/arousal point",
    (box) => vaHistogram(box, { counts: data.va_histogram.counts }), "Histogram of the answers' valence and arousal on the circle");
  chart("chart-confusion-annotators", sum(data.confusion_annotators.flat()) > 0, "no face has two answers yet",
    (box) => heatMap(box, { cell: cellFor(box), matrix: data.confusion_annotators, rowLabels: names, colLabels: names, rowTitle: "one answer", colTitle: "the other" }),
    "Confusion of categories between two annotators of the same face (counts in the cells)");
  chart("chart-confusion-model", sum(data.confusion_model.flat()) > 0, "no answer has a suggestion of the active model",
    (box) => heatMap(box, { cell: cellFor(box), matrix: data.confusion_model, rowLabels: names, colLabels: names, rowTitle: "annotator", colTitle: "model" }),
    "Confusion of categories between annotators and the model (counts in the cells)");
}
drawAll();
let widths = null;
const boxWidths = () => ["chart-categories", "chart-confusion-annotators"].map((id) => document.getElementById(id).clientWidth).join();
widths = boxWidths();
let resizing = null;
window.addEventListener("resize", () => {
  clearTimeout(resizing);
  resizing = setTimeout(() => { if (boxWidths() !== widths) { widths = boxWidths(); drawAll(); } }, 60);
});
