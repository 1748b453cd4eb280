// Calibration and gold feedback on the annotate page (the server decides; this only shows it).
//
// A banner says where the annotator stands (calibrating, with the round's score; passed; paused).
// After a calibration answer, the submit's response carries `feedback`: showFeedback opens a dialog
// with the reference category and point beside the answer, and the V/A distance. While it is open it
// takes every key (Enter, Space or Esc closes it), so no key meant for it reaches the next face.

const cfg = JSON.parse(document.getElementById("annotate-config").textContent);
const EXTENT = 1.15; // drawn like the page's circle: -EXTENT..+EXTENT on both axes
const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

// Fixed to the bottom of the window: its text changes, and nothing on the page may move with it.
const banner = el("div", { id: "standing-banner", class: "standing", role: "status", hidden: "" });
document.body.append(banner);

const overlay = el("div", { id: "feedback", class: "overlay", hidden: "" });
const dialog = el("div", { class: "dialog feedback", role: "dialog", "aria-labelledby": "feedback-title" });
overlay.append(dialog);
document.body.append(overlay);

const pending = []; // feedback that arrived while another was open
let onCloseCurrent = null;

const pct = (x) => (x === null || x === undefined ? "\u2013" : `${Math.round(x * 100)}%`);
const num = (x) => (x === null || x === undefined ? "\u2013" : x.toFixed(2));
const signed = (x) => (x >= 0 ? "+" : "\u2212") + Math.abs(x).toFixed(2);

function describe(label) {
  const point = label.valence === null ? "no valence/arousal" : `valence ${signed(label.valence)}, arousal ${signed(label.arousal)}`;
  return [label.category_name, ` (${point})`];
}

function roundText(score) {
  if (!score) return "";
  return (
    `Your latest ${score.answers} of ${score.needed} answers: ${pct(score.accuracy)} right categories ` +
    `(need ${pct(score.min_accuracy)}), mean V/A distance ${num(score.mean_va_distance)} ` +
    `(need at most ${num(score.max_va_distance)}).`
  );
}

export function showStanding(standing) {
  if (!standing) return;
  banner.dataset.state = standing.state;
  banner.className = `standing ${standing.state}`;
  banner.replaceChildren();
  if (standing.state === "calibrating") {
    banner.append(
      el("b", {}, "Calibration round. "),
      "These are gold faces with a known answer, shown without the model's suggestion; after each answer you see the reference. ",
      el("span", { class: "score" }, roundText(standing.calibration))
    );
  } else if (standing.state === "paused") {
    banner.append(el("b", {}, "Paused. "), standing.reason, ". The lead can reinstate you from the dashboard.");
  } else if (standing.passedNow) {
    banner.append(el("b", {}, "Calibration passed. "), "The real queue starts with your next faces.");
  } else {
    banner.hidden = true;
    return;
  }
  banner.hidden = false;
}

function drawPoints(reference, answer) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `${-EXTENT} ${-EXTENT} ${2 * EXTENT} ${2 * EXTENT}`);
  svg.setAttribute("class", "feedback-circle");
  svg.setAttribute("aria-hidden", "true");
  const add = (tag, attrs) => {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    svg.append(node);
    return node;
  };
  add("circle", { cx: 0, cy: 0, r: 1, class: "rim" });
  add("line", { x1: -1, y1: 0, x2: 1, y2: 0, class: "axis" });
  add("line", { x1: 0, y1: -1, x2: 0, y2: 1, class: "axis" });
  const has = (l) => l.valence !== null && l.valence !== undefined;
  if (has(reference) && has(answer)) {
    add("line", { x1: answer.valence, y1: -answer.arousal, x2: reference.valence, y2: -reference.arousal, class: "gap" });
  }
  if (has(reference)) add("circle", { cx: reference.valence, cy: -reference.arousal, r: 0.07, class: "reference" });
  if (has(answer)) add("circle", { cx: answer.valence, cy: -answer.arousal, r: 0.06, class: "answer" });
  return svg;
}

function render(feedback) {
  const standing = feedback.standing || {};
  const title = feedback.calibration ? "Calibration" : "Gold face";
  const verdict = feedback.correct ? "the reference category" : "not the reference category";
  const distance = feedback.va_distance === null ? "no point to compare" : num(feedback.va_distance);
  const [refName, refPoint] = describe(feedback.reference);
  const [ansName, ansPoint] = describe(feedback.answer);
  dialog.replaceChildren(
    el("h2", { id: "feedback-title", class: feedback.correct ? "good" : "bad" }, `${title}: ${verdict}`),
    el("div", { class: "feedback-body" })
  );
  const body = dialog.lastChild;
  const text = el("div");
  const line = (label, id, name, rest) => {
    const p = el("p", { id }, `${label}: `);
    p.append(el("b", {}, name), rest);
    return p;
  };
  text.append(
    line("Reference", "feedback-reference", refName, refPoint),
    line("Your answer", "feedback-answer", ansName, ansPoint),
    el("p", {}, "V/A distance: "),
    el("p", { class: "legend muted" }, "\u25cf reference  \u25cb your point")
  );
  text.children[2].append(el("b", { id: "feedback-distance" }, distance));
  body.append(text, drawPoints(feedback.reference, feedback.answer));
  if (feedback.calibration && standing.state === "qualified") {
    dialog.append(el("p", { id: "feedback-passed", class: "good" }, "You passed calibration: the real queue starts now."));
  } else if (feedback.calibration && standing.calibration) {
    dialog.append(el("p", { id: "feedback-round" }, roundText(standing.calibration)));
  }
  const close = el("button", { type: "button", class: "continue" }, "Continue");
  close.addEventListener("click", hide);
  const hint = el("p", { class: "muted" });
  hint.append(el("kbd", {}, "Enter"), " continue");
  dialog.append(hint, close);
}

export function showFeedback(feedback, { onClose } = {}) {
  if (!overlay.hidden) {
    pending.push([feedback, onClose]);
    return;
  }
  render(feedback);
  onCloseCurrent = onClose || null;
  overlay.hidden = false;
  const standing = feedback.standing;
  if (feedback.calibration && standing) {
    showStanding({ ...standing, passedNow: standing.state === "qualified" });
  }
}

function hide() {
  overlay.hidden = true;
  const after = onCloseCurrent;
  onCloseCurrent = null;
  if (pending.length) {
    const [feedback, onClose] = pending.shift();
    showFeedback(feedback, { onClose });
  }
  if (after) after();
}

// Capturing, on window: runs before the page's own key handler, which never sees a key while open.
window.addEventListener(
  "keydown",
  (e) => {
    if (overlay.hidden) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    if (!e.repeat && (e.key === "Enter" || e.key === " " || e.key === "Escape")) hide();
  },
  true
);

showStanding(cfg.standing);
