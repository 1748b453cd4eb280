// The annotate page: claims faces ahead of time, shows one, sends answers in the background.
//
// The next faces are claimed and their images decoded before they are needed, so Enter swaps in an
// image that is already in memory; the answer travels to the server afterwards (retried with the
// same client key, which the server uses to store it only once).
//
// The point has three states besides "none": the model's (drawn hollow and orange), "not placed
// yet" (after a category other than the model's, it waits at that category's usual region, drawn
// grey with "?"; Enter will not submit it until it is dragged, clicked, nudged or accepted with A),
// and the annotator's own. A point outside the category's region is kept with K, never with Enter,
// so pressing Enter twice cannot store it.
import { VaCircle } from "./va-circle.js";
import { showNote } from "./annotate-note.js";
import { showFeedback } from "./annotate-feedback.js";

const cfg = JSON.parse(document.getElementById("annotate-config").textContent);
const csrfToken = document.querySelector("meta[name=csrf-token]").content;
const categories = cfg.categories;
const byKey = new Map(categories.map((c) => [c.key, c]));

const $ = (sel) => document.querySelector(sel);
const stage = $("#stage");
const canvas = $("#landmarks");
const message = $("#message");
const badge = $("#suggestion-badge");
const confirmBox = $("#confirm-outside");
const helpBox = $("#help");
const introBox = $("#guidelines-intro");
const tip = $("#guideline-tip");
const buttons = new Map();
for (const button of document.querySelectorAll("button.category")) {
  const id = Number(button.dataset.category);
  buttons.set(id, button);
  button.addEventListener("click", (e) => {
    if (longPressed) {
      longPressed = false; // the long press showed the guideline; it chooses nothing
      e.preventDefault();
      return;
    }
    chooseCategory(id);
  });
  wireGuidelineTip(button, id);
}
const circle = new VaCircle($("#va"));
circle.addEventListener("change", (e) => {
  if (!current || e.detail.source === "api") return;
  current.va = [e.detail.valence, e.detail.arousal];
  current.pointFromModel = false;
  current.unplaced = false;
  current.outsideConfirmed = false;
  refresh();
});

// done: answers today; paceSeconds: seconds on screen of the recent answers (the server's, then this
// session's), from which faces/hour is computed as the server does (annotator/queue/selectors.py).
const state = { buffer: [], history: [], done: cfg.pace.done_today, paceSeconds: [...cfg.pace.recent_seconds], fetching: false, exhausted: false, saving: 0 };
let current = null;
let showLandmarks = false;
// Enter -> next image painted, in milliseconds (read by the browser benchmark).
window.annotatePaintTimes = [];

function uuid4() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// Requests in flight, shown as data-busy on <body> (tests wait for 0 before they read the database).
let busy = 0;
function track(promise) {
  document.body.dataset.busy = ++busy;
  return promise.finally(() => (document.body.dataset.busy = --busy));
}

async function api(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken },
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  return { status: response.status, data };
}

// Retry network failures and server errors with the same body (the client key makes it safe).
function send(method, url, body) {
  return track(sendWithRetry(method, url, body));
}

async function sendWithRetry(method, url, body) {
  for (let attempt = 0; ; attempt++) {
    try {
      const result = await api(method, url, body);
      if (result.status < 500 || attempt >= 5) return result;
    } catch (err) {
      if (attempt >= 5) return { status: 0, data: { detail: String(err) } };
    }
    await new Promise((r) => setTimeout(r, 300 * 2 ** attempt));
  }
}

function say(text, kind = "info") {
  message.textContent = text;
  message.className = `message ${kind}`;
}

function errorText(data) {
  if (!data) return "no answer from the server";
  return Object.entries(data)
    .map(([k, v]) => (k === "detail" ? v : `${k}: ${[].concat(v).join(" ")}`))
    .join("; ");
}

// Faces answered or skipped lately: their submit or release may not have reached the server yet,
// so the server could still count them as held by us; never take them back from /next/.
const recent = [];
function forget(id) {
  recent.push(id);
  if (recent.length > 30) recent.shift();
}

function heldIds() {
  const ids = state.buffer.map((f) => f.data.id).concat(recent);
  if (current && !current.editing) ids.push(current.data.id);
  return ids;
}

async function fetchMore() {
  if (state.fetching) return;
  const want = cfg.prefetch - state.buffer.length;
  if (want <= 0) return;
  state.fetching = true;
  try {
    const { status, data } = await send("POST", "/api/queue/next/", { count: want, holding: heldIds(), project: cfg.project });
    if (status !== 200) {
      say(`Could not get faces: ${errorText(data)}`, "bad");
      return;
    }
    state.exhausted = data.faces.length === 0;
    for (const face of data.faces) {
      const img = new Image();
      img.alt = `face ${face.id}`;
      img.className = "face";
      img.src = face.image_url;
      const item = { data: face, img, ready: img.decode().catch(() => null) };
      state.buffer.push(item);
    }
  } finally {
    state.fetching = false;
  }
  if (!current) showNext();
}

function markPainted() {
  // rAF runs just before the frame is painted; the timeout after it runs once the frame is out.
  requestAnimationFrame(() =>
    setTimeout(() => {
      if (performance.getEntriesByName("enter", "mark").length === 0) return;
      performance.mark("painted");
      const m = performance.measure("enter-to-paint", "enter", "painted");
      window.annotatePaintTimes.push(m.duration);
      performance.clearMarks("enter");
    }, 0)
  );
}

function show(item) {
  current = item;
  stage.dataset.faceId = item.data.id;
  const old = stage.querySelector("img.face");
  if (old) old.replaceWith(item.img);
  else stage.prepend(item.img);
  item.shownAt = performance.now();
  if (!item.editing) {
    const s = item.data.suggestion;
    item.category = s ? s.category : null;
    item.va = s && s.valence !== null ? [s.valence, s.arousal] : null;
    item.categoryFromModel = item.pointFromModel = !!s;
    item.unplaced = false;
    item.outsideConfirmed = false;
  }
  circle.setEnabled(item.category === null || categories[item.category].has_va);
  if (item.va) circle.set(item.va[0], item.va[1]);
  else circle.clear();
  drawLandmarks();
  showNote(item.data.note);
  refresh();
  markPainted();
}

function showNext() {
  const item = state.buffer.shift();
  if (!item) {
    current = null;
    stage.dataset.faceId = "";
    const old = stage.querySelector("img.face");
    if (old) old.remove();
    canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
    circle.setEnabled(false);
    showNote(null);
    refresh();
    say(state.exhausted ? "No faces need you right now. Thank you!" : "Loading faces\u2026");
    if (state.exhausted) setTimeout(fetchMore, 15000);
    return;
  }
  say("");
  show(item);
}

// The category buttons' guideline tooltip: on hover (mouse, pen) or a long press (touch).
let longPressed = false;
let pressTimer = null;

function showGuidelineTip(button, id) {
  const g = categories[id].guideline;
  if (!g) return;
  tip.querySelector(".tip-name").textContent = `${categories[id].name} (${categories[id].key.toUpperCase()})`;
  tip.querySelector(".tip-definition").textContent = g.definition;
  tip.querySelector(".tip-not-this").textContent = g.not_this;
  const examples = tip.querySelector(".tip-examples");
  examples.replaceChildren(
    ...g.examples.map((url) => Object.assign(new Image(64, 64), { src: url, alt: `example of ${categories[id].name}` }))
  );
  tip.dataset.category = id;
  tip.hidden = false;
  // Below the button, kept on screen (CSSOM styles are allowed by the CSP; style attributes are not).
  const box = button.getBoundingClientRect();
  const left = Math.min(box.left, window.innerWidth - tip.offsetWidth - 8);
  const below = box.bottom + 6 + tip.offsetHeight <= window.innerHeight;
  tip.style.left = `${Math.max(8, left)}px`;
  tip.style.top = `${below ? box.bottom + 6 : Math.max(8, box.top - 6 - tip.offsetHeight)}px`;
}

function hideGuidelineTip() {
  tip.hidden = true;
  delete tip.dataset.category;
}

function wireGuidelineTip(button, id) {
  button.addEventListener("pointerenter", (e) => {
    if (e.pointerType !== "touch") showGuidelineTip(button, id);
  });
  button.addEventListener("pointerleave", (e) => {
    clearTimeout(pressTimer);
    if (e.pointerType !== "touch") hideGuidelineTip();
  });
  button.addEventListener("pointerdown", (e) => {
    if (e.pointerType !== "touch") return;
    longPressed = false;
    clearTimeout(pressTimer);
    pressTimer = setTimeout(() => {
      longPressed = true;
      showGuidelineTip(button, id);
    }, 500);
  });
  for (const type of ["pointerup", "pointercancel"]) button.addEventListener(type, () => clearTimeout(pressTimer));
  button.addEventListener("contextmenu", (e) => e.preventDefault()); // a long press is ours, not the menu's
}
// A touch elsewhere hides a tooltip a long press opened.
document.addEventListener("pointerdown", (e) => {
  if (e.pointerType === "touch" && !(e.target.closest && e.target.closest("button.category"))) hideGuidelineTip();
});

function chooseCategory(id) {
  if (!current) return;
  if (current.category !== id) current.outsideConfirmed = false;
  current.category = id;
  current.categoryFromModel = false;
  const hasVa = categories[id].has_va;
  circle.setEnabled(hasVa);
  if (!hasVa) current.va = null;
  else if (current.pointFromModel || current.unplaced) {
    // The point is nobody's choice yet: it follows the category. The suggestion's own category gets
    // the model's point back; any other waits, unplaced, at the centre of its usual region (never on
    // the point the model gave another category).
    const s = current.data.suggestion;
    if (s && s.category === id && s.valence !== null) {
      current.va = [s.valence, s.arousal];
      current.pointFromModel = true;
      current.unplaced = false;
    } else {
      const r = cfg.regions[String(id)];
      current.va = r ? [r.valence, r.arousal] : [0, 0];
      current.pointFromModel = false;
      current.unplaced = true;
    }
    circle.set(current.va[0], current.va[1]);
  } else if (current.va) circle.set(current.va[0], current.va[1]);
  refresh();
}

// A: the annotator accepts a point that is not placed yet where it stands.
function acceptPoint() {
  if (!current || !current.unplaced || !current.va) return;
  current.unplaced = false;
  refresh();
}

function inRegion(category, va) {
  const r = cfg.regions[String(category)];
  if (!r || !va) return true;
  return Math.hypot(va[0] - r.valence, va[1] - r.arousal) <= r.radius;
}

function refresh() {
  for (const [id, button] of buttons) {
    const chosen = current && current.category === id;
    button.classList.toggle("chosen", chosen);
    button.classList.toggle("model", chosen && current.categoryFromModel);
    button.setAttribute("aria-pressed", String(!!chosen));
  }
  circle.setTentative(!!(current && current.pointFromModel));
  circle.setUnplaced(!!(current && current.unplaced), { hint: "\u00b7 not placed yet" });
  circle.setRegion(current && current.category !== null ? cfg.regions[String(current.category)] : null);
  const s = current && current.data.suggestion;
  const name = current && current.category !== null ? categories[current.category].name : "";
  if (current && current.editing) {
    badge.textContent = "Changing your earlier answer (Enter saves)";
    badge.className = "badge editing";
  } else if (s && current.category === s.category && current.pointFromModel) {
    badge.textContent = `Model's suggestion: ${categories[s.category].name} (${Math.round(s.confidence * 100)}%) \u2014 Enter accepts`;
    badge.className = "badge model";
  } else if (s && current.category === s.category) {
    badge.textContent = `Model's category ${name} (${Math.round(s.confidence * 100)}%), your point`;
    badge.className = "badge model";
  } else if (current && current.unplaced) {
    badge.textContent = `Your choice: ${name} \u00b7 point not placed (A accepts)`;
    badge.className = "badge unplaced";
  } else if (s) {
    badge.textContent = `Your choice: ${name} (the model said ${categories[s.category].name})`;
    badge.className = "badge";
  } else {
    badge.textContent = "";
    badge.className = "badge hidden";
  }
  badge.title = badge.textContent;
  $("#accept-point-button").hidden = !(current && current.unplaced);
  $("#submit-button").disabled = !current;
  $("#skip-button").disabled = !current;
  $("#count-done").textContent = state.done;
  const seconds = state.paceSeconds.reduce((a, b) => a + b, 0);
  const enough = state.paceSeconds.length >= cfg.pace.min_answers && seconds > 0;
  $("#count-rate").textContent = enough ? Math.round((3600 * state.paceSeconds.length) / seconds) : "\u2013";
}

function toggleLandmarks() {
  showLandmarks = !showLandmarks;
  $("#landmarks-button").setAttribute("aria-pressed", String(showLandmarks));
  drawLandmarks();
}

function drawLandmarks() {
  const ctx = canvas.getContext("2d");
  const size = stage.clientWidth;
  canvas.width = canvas.height = size;
  ctx.clearRect(0, 0, size, size);
  const pts = current && current.data.landmarks;
  canvas.hidden = !showLandmarks;
  if (!showLandmarks || !pts || pts.length !== 136) return;
  const k = size / 224; // landmarks are in crop pixels of the 224x224 crop
  // The 68-point scheme's contours: jaw, brows, nose bridge, nostrils, eyes, outer and inner lips.
  const runs = [[0, 16], [17, 21], [22, 26], [27, 30], [31, 35], [36, 41, true], [42, 47, true], [48, 59, true], [60, 67, true]];
  ctx.strokeStyle = "rgba(80, 220, 255, 0.8)";
  ctx.fillStyle = "rgba(255, 230, 80, 0.95)";
  ctx.lineWidth = 1.5;
  for (const [a, b, closed] of runs) {
    ctx.beginPath();
    for (let i = a; i <= b; i++) ctx[i === a ? "moveTo" : "lineTo"](pts[2 * i] * k, pts[2 * i + 1] * k);
    if (closed) ctx.closePath();
    ctx.stroke();
  }
  for (let i = 0; i < 68; i++) {
    ctx.beginPath();
    ctx.arc(pts[2 * i] * k, pts[2 * i + 1] * k, 2.2, 0, 2 * Math.PI);
    ctx.fill();
  }
}

function submit() {
  if (!current) return;
  const c = current.category;
  if (c === null) return say("Pick a category first (its key is on the button).", "warn");
  const hasVa = categories[c].has_va;
  const va = hasVa ? current.va : null;
  if (hasVa && !va) return say("Place the valence/arousal point (click the circle or use the arrow keys).", "warn");
  if (hasVa && current.unplaced) {
    return say(`The point is not placed yet: drag or click it, nudge it with the arrow keys, or press A to accept it at ${categories[c].name}'s usual place.`, "warn");
  }
  // A project may turn the region check off: then nothing asks to confirm (the server agrees).
  if (hasVa && cfg.region_check && !current.outsideConfirmed && !inRegion(c, va)) {
    $("#confirm-category").textContent = categories[c].name;
    $("#confirm-not-enter").hidden = true;
    confirmBox.hidden = false;
    return;
  }
  performance.mark("enter");
  const item = current;
  const body = {
    category: c,
    valence: va ? va[0] : null,
    arousal: va ? va[1] : null,
    outside_region_confirmed: !!item.outsideConfirmed && !inRegion(c, va),
    // The server counts at most an hour on one face (longer, the annotator was away).
    seconds_spent: Math.min(3600, (performance.now() - item.shownAt) / 1000),
  };
  if (item.editing) {
    item.promise = item.promise.then((prev) =>
      prev && prev.id ? send("PATCH", `/api/annotations/${prev.id}/`, body).then((r) => report(item, r, prev)) : prev
    );
  } else {
    item.clientKey = item.clientKey || uuid4();
    Object.assign(body, {
      face: item.data.id,
      client_key: item.clientKey,
      suggestion: item.data.suggestion ? item.data.suggestion.id : null,
    });
    item.promise = send("POST", "/api/annotations/", body).then((r) => report(item, r, null));
    state.done += 1;
    state.paceSeconds.push(body.seconds_spent);
    if (state.paceSeconds.length > cfg.pace.window) state.paceSeconds.shift();
    forget(item.data.id);
  }
  item.answer = { category: c, va };
  item.editing = false;
  state.history.push(item);
  if (state.history.length > 20) state.history.shift();
  showNext();
  fetchMore();
}

function report(item, { status, data }, previous) {
  // Calibration (and, if the lab wants it, gold) feedback; closing it asks for faces again.
  if ((status === 200 || status === 201) && data.feedback) showFeedback(data.feedback, { onClose: fetchMore });
  if (status === 200 || status === 201) return data;
  say(`Face ${item.data.id}: not saved \u2014 ${errorText(data)}`, "bad");
  return previous;
}

async function undo() {
  const item = state.history.pop();
  if (!item) return say("Nothing to undo.", "warn");
  const saved = await item.promise;
  if (saved && saved.feedback && saved.feedback.calibration) return say("A calibration answer cannot be changed: you have seen the reference.", "warn");
  if (!saved || !saved.id) return say(`Face ${item.data.id} was not saved; nothing to change.`, "warn");
  if (current && !current.editing) state.buffer.unshift(current);
  item.editing = true;
  item.promise = Promise.resolve(saved);
  item.category = saved.category;
  item.va = saved.valence === null ? null : [saved.valence, saved.arousal];
  item.categoryFromModel = item.pointFromModel = item.unplaced = false;
  item.outsideConfirmed = saved.outside_region_confirmed;
  show(item);
}

async function skip() {
  if (!current) return;
  const item = current;
  if (item.editing) {
    showNext(); // leave the earlier answer as it was
    return;
  }
  forget(item.data.id);
  showNext();
  fetchMore();
  await send("POST", "/api/queue/release/", { face: item.data.id });
}

document.addEventListener("keydown", (e) => {
  if (e.target.closest && e.target.closest("input, textarea, select")) return;
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (introBox && !introBox.hidden) {
    if (e.key !== "Tab" && !(e.target === $("#guidelines-done") && (e.key === "Enter" || e.key === " "))) e.preventDefault();
    return; // nothing else until the guidelines are dismissed
  }
  if (!confirmBox.hidden) {
    // K keeps the point; Enter only says so: the Enter that opened this box, pressed again, must not store it.
    if (e.key.toLowerCase() === "k" && !e.repeat) keepOutside();
    else if (e.key === "Enter") $("#confirm-not-enter").hidden = false;
    else if (e.key === "Escape") confirmBox.hidden = true;
    e.preventDefault();
    return;
  }
  if (e.key === "?") {
    helpBox.hidden = !helpBox.hidden;
    e.preventDefault();
    return;
  }
  if (e.key === "Escape") {
    helpBox.hidden = true;
    return;
  }
  if (e.key === "Enter") {
    e.preventDefault();
    if (e.repeat) return;
    submit();
    return;
  }
  if (circle.handleKey(e)) {
    e.preventDefault();
    return;
  }
  const key = e.key.toLowerCase();
  if (byKey.has(key)) {
    chooseCategory(byKey.get(key).id);
  } else if (key === "a") {
    acceptPoint();
  } else if (key === "l") {
    toggleLandmarks();
  } else if (key === "s") {
    skip();
  } else if (key === "z" || e.key === "Backspace") {
    e.preventDefault();
    undo();
  } else {
    return;
  }
  e.preventDefault();
});

function keepOutside() {
  confirmBox.hidden = true;
  if (!current) return;
  current.outsideConfirmed = true;
  submit();
}

$("#confirm-keep").addEventListener("click", keepOutside);
$("#confirm-change").addEventListener("click", () => (confirmBox.hidden = true));
$("#help-button").addEventListener("click", () => (helpBox.hidden = !helpBox.hidden));
$("#help-close").addEventListener("click", () => (helpBox.hidden = true)); // a touch screen has no Esc
// The keys' buttons, for touch screens and the mouse.
$("#submit-button").addEventListener("click", submit);
$("#accept-point-button").addEventListener("click", acceptPoint);
$("#skip-button").addEventListener("click", skip);
$("#undo-button").addEventListener("click", undo);
$("#landmarks-button").addEventListener("click", toggleLandmarks);

// The guidelines before the first session: shown until dismissed once; the server remembers.
if (introBox && cfg.show_guidelines) {
  introBox.hidden = false;
  $("#guidelines-done").addEventListener("click", () => {
    introBox.hidden = true;
    if (current) current.shownAt = performance.now(); // reading the guidelines is not time on the face
    send("POST", "/api/guidelines/read/", { version: cfg.guideline_version, project: cfg.project }).then(({ status, data }) => {
      if (status !== 204) say(`Could not record that you read the guidelines: ${errorText(data)}`, "bad");
    });
  });
}
setInterval(refresh, 30000);
fetchMore();
