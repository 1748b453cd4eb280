// Draws the dashboard's charts from the JSON the page carries (no requests, no CDN).
import { barChart, heatMap, vaHistogram } from "./charts.js";

const data = JSON.parse(document.getElementById("dashboard-data").textContent);
const names = data.categories.names;
const shares = (counts) => { const total = counts.reduce((a, b) => a + b, 0); return counts.map((c) => (total ? c / total : 0)); };

barChart(document.getElementById("chart-categories"), {
  labels: names,
  series: [
    { name: "final labels", values: shares(data.categories.final), color: "#3fb950" },
    { name: "answers", values: shares(data.categories.answers), color: "#4f9cf9" },
    { name: "AffectNet", values: shares(data.categories.affectnet), color: "#9aa0a6" },
  ],
  width: 440, row: 10, format: (v) => `${(100 * v).toFixed(1)}%`,
});
vaHistogram(document.getElementById("chart-va"), { counts: data.va_histogram.counts });
heatMap(document.getElementById("chart-confusion-annotators"), {
  matrix: data.confusion_annotators, rowLabels: names, colLabels: names, rowTitle: "one answer", colTitle: "the other",
});
heatMap(document.getElementById("chart-confusion-model"), {
  matrix: data.confusion_model, rowLabels: names, colLabels: names, rowTitle: "annotator", colTitle: "model",
});
