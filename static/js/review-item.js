// The review item page: renders one face's answers, suggestion, flags and history from JSON, lets
// the reviewer pick or set the final label by keyboard or mouse, posts the decision (or returns the
// face to the picked answer's annotator with a note, or asks one more annotator), and shows the
// next flagged face at once (its data and image are fetched while the reviewer works on this one).
import { VaCircle } from "./va-circle.js";
import { barChart, svgEl } from "./charts.js";

const COLORS = ["#4f9cf9", "#f5a623", "#3fb950", "#d2a8ff", "#39c5cf", "#db61a2", "#e3b341", "#a5d6ff"];
const MODEL_COLOR = "#ff6b6b";
const LETTERS = "abcdefgh";
const config = JSON.parse(document.getElementById("review-config").textContent);
const root = document.getElementById("review-item");
const csrf = root.dataset.csrf;
const $ = (id) => document.getElementById(id);

let item = JSON.parse(document.getElementById("item-data").textContent);
let pending = null; // {category, valence, arousal, source, annotation_id, suggestion_id}
let prefetched = null; // {id, promise}
let busy = false;

const circle = new VaCircle($("circle"), { label: "Final valence and arousal", crosshair: true });
circle.addEventListener("change", (e) => {
  if (!pending || !hasVa(pending.category)) return;
  pending = { ...pending, valence: e.detail.valence, arousal: e.detail.arousal, source: "manual", annotation_id: null, suggestion_id: null };
  showPending();
});
// The circle shows the pending label's point; it takes one only once a label with valence/arousal
// is picked.
function showFinalPoint() {
  const withPoint = pending !== null && hasVa(pending.category);
  circle.setEnabled(withPoint, { disabledText: pending === null ? "pick a label to set its point" : undefined });
  circle.show(withPoint ? pending : null);
}

// Which categories carry a point comes from the server (domain.categories.has_va), never a copy here.
const withVa = new Set(config.categoriesWithVa);
const hasVa = (c) => withVa.has(c);
const fmt = (v) => (v === null || v === undefined ? "–" : (v >= 0 ? "+" : "") + v.toFixed(2));
const labelText = (l) => `${l.category} ${config.categories[l.category]}` + (hasVa(l.category) ? ` (${fmt(l.valence)}, ${fmt(l.arousal)})` : "");
const query = (extra = {}) => {
  const params = new URLSearchParams(config.filterQuery);
  for (const [k, v] of Object.entries(extra)) params.set(k, v);
  const s = params.toString();
  return s ? `?${s}` : "";
};

function li(parent, html, attrs = {}) {
  const node = document.createElement("li");
  node.innerHTML = html;
  paintSwatches(node);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  parent.appendChild(node);
  return node;
}

// A colour swatch is written as <span class="swatch" data-color="#..."> and coloured here through
// the element's style object: the CSP refuses style="..." attributes in markup.
function paintSwatches(node) {
  for (const swatch of node.querySelectorAll(".swatch[data-color]")) swatch.style.background = swatch.dataset.color;
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

// A flag's evidence as a reviewer reads it, answers by their letter on this page:
// "A: 1 Happiness (+0.46, +0.35) · model: 6 Anger 100% (-0.50, +0.60) · points 0.99 apart".
const EVIDENCE_SHOWN = new Set(["answer", "answers", "suggestion", "gold", "va_distance", "confirmed_by_annotator", "category_differs", "cause", "spot_check"]);
// Where the face's final label (what the export writes) came from.
const FINAL_SOURCES = {
  single: "one annotator's answer",
  agreement: "the annotators agree",
  import: "imported: exported as it is until a reviewer decides",
  review: "a reviewer's decision",
  gold: "the gold reference label",
};
// What questions an imported label (flag reason "imported_label"): the label stays final meanwhile.
const IMPORTED_CAUSES = {
  annotator_vs_model: "the model disagrees with the imported label",
  outside_region: "the imported point is outside its category's region",
  gold_mismatch: "the imported label differs from the gold label",
};
function evidenceText(evidence) {
  const letter = (x) => {
    const i = item.answers.findIndex((a) => a.id === x.annotation_id);
    return i >= 0 ? LETTERS[i].toUpperCase() : "an earlier answer";
  };
  const point = (p) => labelText({ category: p.category, valence: p.point?.[0] ?? null, arousal: p.point?.[1] ?? null });
  const parts = (evidence.answers || (evidence.answer ? [evidence.answer] : [])).map((x) => `${letter(x)}: ${point(x)}`);
  if (evidence.suggestion) parts.push(`model: ${point(evidence.suggestion)}, ${Math.round(evidence.suggestion.probability * 100)}%`);
  if (evidence.gold) parts.push(`gold: ${point(evidence.gold)}`);
  if (evidence.va_distance !== null && evidence.va_distance !== undefined) parts.push(`points ${evidence.va_distance.toFixed(2)} apart`);
  if (evidence.confirmed_by_annotator) parts.push("kept outside the region by the annotator");
  if (evidence.cause) parts.unshift(IMPORTED_CAUSES[evidence.cause] || evidence.cause);
  // Flag reason "spot_check": the lead drew this agreed label for a second look (reviews/evidence_text.py says the same).
  const spot = evidence.spot_check;
  if (spot) {
    const asked = typeof spot.share === "number" ? `${+(spot.share * 100).toFixed(4)}%` : `${spot.count} faces`;
    parts.unshift(`spot check of the agreed label ${point(spot.agreed || {})}, drawn by ${spot.by} (${asked} of ${spot.of} agreed faces, seed ${spot.seed})`);
  }
  for (const [k, v] of Object.entries(evidence)) {
    if (!EVIDENCE_SHOWN.has(k)) parts.push(`${k}: ${Array.isArray(v) ? v.join(", ") : typeof v === "object" ? JSON.stringify(v) : v}`);
  }
  return parts.join(" · ");
}

function render() {
  document.title = `Review face ${item.id} · Face annotator`;
  $("face-id").textContent = item.id;
  $("face-split").textContent = item.split;
  if ($("face-project")) $("face-project").textContent = item.project.name;
  $("face-img").src = item.image_url;
  $("face-img").alt = `face ${item.id}`;
  const lm = $("landmarks");
  lm.replaceChildren();
  for (let i = 0; item.landmarks && i + 1 < item.landmarks.length; i += 2) {
    svgEl("circle", { cx: item.landmarks[i], cy: item.landmarks[i + 1], r: 1.6, class: "landmark" }, lm);
  }
  $("landmarks-toggle").disabled = !item.landmarks;
  showLandmarks($("landmarks-toggle").checked);
  zoom.reset();
  const left = item.faces_left ?? 0;
  const more = item.faces_left_capped ? "+" : "";
  $("faces-left").textContent = `${left.toLocaleString("en")}${more} face${left === 1 && !more ? "" : "s"} left to review`;

  const flags = $("flags");
  flags.replaceChildren();
  for (const f of item.flags.filter((f) => f.status === "open")) {
    li(flags, `<span class="reason reason-${escape(f.reason)}">${escape(f.reason_label)}</span> <small>severity ${f.severity.toFixed(2)}</small><div class="evidence">${escape(evidenceText(f.evidence || {}))}</div>`);
  }
  if (!flags.children.length) li(flags, '<span class="muted">no open flag</span>');
  $("gold").textContent = item.gold ? `Gold item: ${labelText(item.gold)}` : "";
  $("final-now").textContent = item.final
    ? `Now: ${labelText(item.final)}, ${FINAL_SOURCES[item.final.source] || item.final.source}`
    : "Now: no final label (not exported)";

  const answers = $("answers");
  answers.replaceChildren();
  const points = [];
  item.answers.forEach((a, i) => {
    const color = COLORS[i % COLORS.length];
    const letter = LETTERS[i] ? LETTERS[i].toUpperCase() : "";
    const node = li(answers, `<button type="button" class="pick" data-answer="${i}"><kbd>${letter}</kbd> <span class="swatch" data-color="${color}"></span>
      <b>${escape(a.annotator)}</b>: ${escape(labelText(a))}
      <small class="muted">${a.seconds_spent.toFixed(1)} s${a.shown_blind ? " · blind" : ""}${a.kept_suggestion ? " · kept suggestion" : ""}</small></button>`, { "data-answer-id": a.id });
    node.querySelector("button").addEventListener("click", () => pickAnswer(i));
    points.push({ valence: a.valence, arousal: a.arousal, color, label: letter || a.annotator });
  });
  if (!item.answers.length) li(answers, '<span class="muted">no answers</span>');

  const sug = $("suggestion");
  sug.replaceChildren();
  const chart = $("probabilities");
  chart.replaceChildren();
  if (item.suggestion) {
    const s = item.suggestion;
    const head = document.createElement("button");
    head.type = "button";
    head.className = "pick";
    head.innerHTML = `<kbd>S</kbd> <span class="swatch diamond" data-color="${MODEL_COLOR}"></span> <b>${escape(s.model)}</b>: ${escape(labelText(s))} · ${(s.confidence * 100).toFixed(0)}%`;
    paintSwatches(head);
    head.addEventListener("click", pickSuggestion);
    sug.appendChild(head);
    const svg = barChart(chart, { labels: config.categories, series: [{ values: s.probabilities, color: MODEL_COLOR, name: "probability" }], max: 1, width: 320, row: 14 });
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `The model's probability of each category: ${config.categories.map((n, c) => `${n} ${Math.round(s.probabilities[c] * 100)}%`).join(", ")}`);
    points.push({ valence: s.valence, arousal: s.arousal, color: MODEL_COLOR, label: "S", shape: "diamond" });
  } else {
    sug.innerHTML = '<span class="muted">no suggestion</span>';
  }
  circle.setMarks(points);

  const legend = $("legend");
  legend.replaceChildren();
  item.answers.forEach((a, i) => li(legend, `<span class="swatch" data-color="${COLORS[i % COLORS.length]}"></span> ${LETTERS[i]?.toUpperCase() || ""} ${escape(a.annotator)}`));
  if (item.suggestion) li(legend, `<span class="swatch diamond" data-color="${MODEL_COLOR}"></span> S model`);
  li(legend, '<span class="swatch handle"></span> final label');

  const history = $("history");
  history.replaceChildren();
  for (const e of item.history) {
    li(history, `<time>${escape(e.at.replace("T", " ").slice(0, 19))}</time> <b>${escape(e.what)}</b> ${escape(e.detail)}${e.by ? ` <span class="muted">by ${escape(e.by)}</span>` : ""}`);
  }
  if (!item.history.length) li(history, '<span class="muted">nothing yet</span>');

  const requests = $("requests");
  requests.replaceChildren();
  for (const r of item.requests || []) {
    const who = r.kind === "return" ? `Returned to ${escape(r.annotator)}` : "One more annotator asked";
    const state = r.status === "open" ? '<span class="open">waiting for the answer</span>' : escape(r.status);
    li(requests, `${who} by ${escape(r.by)}: ${state}${r.note ? ` — “${escape(r.note)}”` : ""}`, { "data-status": r.status });
  }
  $("note").value = "";
  $("one-more").textContent = `Ask one more annotator (${item.answer_count} of ${item.required_annotations} answers in)`;

  const start = item.decision || null;
  pending = start ? { category: start.category, valence: start.valence, arousal: start.arousal, source: "manual", annotation_id: null, suggestion_id: null } : null;
  showFinalPoint();
  $("status").textContent = item.decision ? `Decided by ${item.decision.reviewer}: ${labelText(item.decision)}` : "";
  showPending();
  prefetchNext();
}

// "Return with the note" needs a picked answer and a note; it names whom the face goes back to.
function showTalk() {
  const answer = pending?.source === "annotation" ? item.answers.find((a) => a.id === pending.annotation_id) : null;
  const button = $("return-note");
  button.textContent = answer ? `Return to ${answer.annotator} with the note` : "Return with the note (pick an answer)";
  button.disabled = !answer || !$("note").value.trim() || busy;
}

function showPending() {
  showTalk();
  const text = $("pending");
  document.querySelectorAll("#category-keys button").forEach((b) => b.classList.toggle("current", pending !== null && Number(b.dataset.category) === pending.category));
  document.querySelectorAll("#answers .pick, #suggestion .pick").forEach((b) => b.classList.remove("current"));
  if (!pending) {
    text.textContent = "Pick an answer (A, B…), the model (S), or a category (0–9, X).";
    $("decide").disabled = true;
    return;
  }
  if (pending.source === "annotation") {
    const i = item.answers.findIndex((a) => a.id === pending.annotation_id);
    document.querySelector(`#answers .pick[data-answer="${i}"]`)?.classList.add("current");
  }
  if (pending.source === "suggestion") document.querySelector("#suggestion .pick")?.classList.add("current");
  const how = { annotation: "accept the answer", suggestion: "accept the model's suggestion", manual: "set by you" }[pending.source];
  text.textContent = `${labelText(pending)} — ${how}`;
  $("decide").disabled = false;
}

function pickAnswer(i) {
  const a = item.answers[i];
  if (!a) return;
  pending = { category: a.category, valence: a.valence, arousal: a.arousal, source: "annotation", annotation_id: a.id, suggestion_id: null };
  showFinalPoint();
  showPending();
}

function pickSuggestion() {
  const s = item.suggestion;
  if (!s) return;
  pending = { category: s.category, valence: s.valence, arousal: s.arousal, source: "suggestion", annotation_id: null, suggestion_id: s.id };
  showFinalPoint();
  showPending();
}

function setCategory(category) {
  const previous = pending || circle.value || { valence: 0, arousal: 0 };
  const point = hasVa(category) ? { valence: previous.valence ?? circle.value?.valence ?? 0, arousal: previous.arousal ?? circle.value?.arousal ?? 0 } : { valence: null, arousal: null };
  pending = { category, ...point, source: "manual", annotation_id: null, suggestion_id: null };
  showFinalPoint();
  showPending();
}

function prefetchNext() {
  const next = item.next_face_id;
  if (!next || prefetched?.id === next) return;
  const promise = fetch(`/api/review/faces/${next}/${query({ exclude: item.id })}`, { headers: { Accept: "application/json" } })
    .then((r) => (r.ok ? r.json() : null)).catch(() => null);
  promise.then((data) => { if (data) new Image().src = data.image_url; }); // warm the image cache
  prefetched = { id: next, promise };
}

// The 68 landmarks over the face, on request only (the checkbox or L): they hide the eyes and mouth.
function showLandmarks(on) {
  const usable = on && !!item.landmarks;
  $("landmarks-toggle").checked = usable;
  $("landmarks").toggleAttribute("hidden", !usable); // an <svg> has no .hidden property: the attribute itself
}

// Zoom on the face: the wheel (or a pinch, which Chromium sends as a wheel with Ctrl) zooms about the
// pointer, + and − about the centre, = fits; a zoomed face is moved by dragging. The image and its
// landmarks scale together (one transformed box).
const zoom = (() => {
  const box = $("face-box");
  const inner = $("face-zoom");
  const MAX = 6;
  let scale = 1, x = 0, y = 0, drag = null;
  const clamp = () => {
    const w = box.clientWidth, h = box.clientHeight;
    x = Math.min(0, Math.max(w - w * scale, x));
    y = Math.min(0, Math.max(h - h * scale, y));
  };
  const apply = () => {
    clamp();
    inner.style.transform = `translate(${x}px, ${y}px) scale(${scale})`;
    box.classList.toggle("zoomed", scale > 1);
    $("zoom-level").textContent = `${scale.toFixed(scale < 2 ? 1 : 0).replace(/\.0$/, "")}×`;
    $("zoom-out").disabled = scale <= 1;
    $("zoom-in").disabled = scale >= MAX;
  };
  // Zoom by factor k keeping the point (px, py) of the box where it is.
  const by = (k, px = box.clientWidth / 2, py = box.clientHeight / 2) => {
    const next = Math.min(MAX, Math.max(1, scale * k));
    x = px - ((px - x) * next) / scale;
    y = py - ((py - y) * next) / scale;
    scale = next;
    apply();
  };
  box.addEventListener("wheel", (e) => {
    e.preventDefault();
    const r = box.getBoundingClientRect();
    by(Math.exp(-e.deltaY / 300), e.clientX - r.left, e.clientY - r.top);
  }, { passive: false });
  // One pointer drags a zoomed face; two (fingers) pinch.
  const pointers = new Map();
  let pinch = null;
  const spread = () => { const [a, b] = [...pointers.values()]; return Math.hypot(a.x - b.x, a.y - b.y); };
  box.addEventListener("pointerdown", (e) => {
    pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (pointers.size === 2) {
      drag = null;
      pinch = spread();
    } else if (scale > 1) {
      drag = { id: e.pointerId, x: e.clientX - x, y: e.clientY - y };
      box.setPointerCapture(e.pointerId);
    }
  });
  box.addEventListener("pointermove", (e) => {
    if (pointers.has(e.pointerId)) pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (pinch && pointers.size === 2) {
      const now = spread(), r = box.getBoundingClientRect();
      const [a, b] = [...pointers.values()];
      by(now / pinch, (a.x + b.x) / 2 - r.left, (a.y + b.y) / 2 - r.top);
      pinch = now;
      return;
    }
    if (!drag || drag.id !== e.pointerId) return;
    x = e.clientX - drag.x;
    y = e.clientY - drag.y;
    apply();
  });
  for (const type of ["pointerup", "pointercancel"]) {
    box.addEventListener(type, (e) => { pointers.delete(e.pointerId); if (pointers.size < 2) pinch = null; });
  }
  for (const type of ["pointerup", "pointercancel"]) box.addEventListener(type, () => (drag = null));
  box.addEventListener("dblclick", (e) => {
    const r = box.getBoundingClientRect();
    if (scale > 1) { scale = 1; apply(); } else by(2, e.clientX - r.left, e.clientY - r.top);
  });
  $("zoom-in").addEventListener("click", () => by(1.5));
  $("zoom-out").addEventListener("click", () => by(1 / 1.5));
  $("zoom-reset").addEventListener("click", () => { scale = 1; apply(); });
  return { by, reset: () => { scale = 1; x = y = 0; apply(); }, get scale() { return scale; } };
})();

function decide() {
  if (!pending) return;
  return ask("decision", { category: pending.category, valence: pending.valence, arousal: pending.arousal, source: pending.source,
    annotation_id: pending.annotation_id, suggestion_id: pending.suggestion_id });
}

// POST an action on the face (decision, return, one-more); on success show the next face, else say why.
async function ask(path, body) {
  if (busy) return;
  busy = true;
  $("status").textContent = "Saving…";
  try {
    const response = await fetch(`/api/review/faces/${item.id}/${path}/${query()}`, {
      method: "POST", headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
      body: JSON.stringify(body), credentials: "same-origin",
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      $("status").textContent = `Not saved: ${Object.entries(data).map(([k, v]) => `${k}: ${v}`).join("; ") || response.status}`;
      return;
    }
    await showNext(data.next_face_id);
  } catch (err) {
    $("status").textContent = `Not saved: ${err}`;
  } finally {
    busy = false;
    showTalk();
  }
}

function returnWithNote() {
  if (pending?.source !== "annotation" || !$("note").value.trim()) return;
  ask("return", { annotation_id: pending.annotation_id, note: $("note").value });
}

async function showNext(nextId) {
  if (!nextId) {
    window.location.href = `/review/${query({ done: item.id })}`;
    return;
  }
  let data = prefetched && prefetched.id === nextId ? await prefetched.promise : null;
  if (!data) {
    const r = await fetch(`/api/review/faces/${nextId}/${query()}`, { headers: { Accept: "application/json" } });
    data = r.ok ? await r.json() : null;
  }
  if (!data) { window.location.href = `/review/face/${nextId}/${query()}`; return; }
  // The prefetched item's "next" was computed before this decision; ask again when it is shown.
  prefetched = null;
  item = data;
  history.pushState({ id: item.id }, "", `/review/face/${item.id}/${query()}`);
  render();
}

async function markGold() {
  if (!pending) return;
  const r = await fetch("/api/review/gold/", {
    method: "POST", headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
    body: JSON.stringify({ face_id: item.id, category: pending.category, valence: pending.valence, arousal: pending.arousal }),
  });
  $("status").textContent = r.ok ? "Marked as gold." : `Not marked: ${await r.text()}`;
  if (r.ok) { item.gold = { ...pending }; $("gold").textContent = `Gold item: ${labelText(item.gold)}`; }
}

function buildCategoryKeys() {
  const box = $("category-keys");
  config.categories.forEach((name, c) => {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.category = c;
    b.innerHTML = `<kbd>${c === 10 ? "X" : c}</kbd> ${escape(name)}`;
    b.addEventListener("click", () => setCategory(c));
    box.appendChild(b);
  });
}

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.target instanceof HTMLInputElement && e.target.type !== "checkbox") return;
  if (e.target instanceof HTMLTextAreaElement) return; // typing a note
  const key = e.key.toLowerCase();
  if (/^[0-9]$/.test(key)) setCategory(Number(key));
  else if (key === "x") setCategory(10);
  else if (LETTERS.includes(key) && key.length === 1) pickAnswer(LETTERS.indexOf(key));
  else if (key === "s") pickSuggestion();
  else if (key === "l") showLandmarks(!$("landmarks-toggle").checked);
  else if (e.key === "+") zoom.by(1.5);
  else if (e.key === "-" || e.key === "\u2212") zoom.by(1 / 1.5);
  else if (e.key === "=") zoom.reset();
  else if (key === "enter") decide();
  else if (!circle.handleKey(e)) return; // arrows move the final point, as on the annotate page
  e.preventDefault();
});

$("landmarks-toggle").addEventListener("change", (e) => showLandmarks(e.target.checked));
$("decide").addEventListener("click", decide);
$("mark-gold")?.addEventListener("click", markGold);
$("note").addEventListener("input", showTalk);
$("return-note").addEventListener("click", returnWithNote);
$("one-more").addEventListener("click", () => ask("one-more", {}));
window.addEventListener("popstate", () => window.location.reload());
buildCategoryKeys();
render();
