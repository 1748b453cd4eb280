// The valence-arousal circle: a self-contained widget that knows nothing of faces or the queue.
// The annotate page and the review item page both use it.
//
// Valence runs along x (unpleasant <- -> pleasant), arousal along y (calm at the bottom, excited at
// the top), both in [-1, 1], and the point always stays inside the unit circle. A click or tap places
// the point; dragging with mouse, touch or pen moves it (pointer events); the arrow keys nudge it by
// 0.05 (0.01 with Shift). It fires "change" events with {valence, arousal, source}. Other people's
// points (a reviewer sees every answer and the model's) can be drawn beside it as labelled marks.

const SVG_NS = "http://www.w3.org/2000/svg";
const EXTENT = 1.15; // the view box reaches a little past the unit circle so labels and the point fit

function svg(tag, attrs = {}, parent = null) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (parent) parent.appendChild(el);
  return el;
}

export function clampToUnitCircle(valence, arousal) {
  const r = Math.hypot(valence, arousal);
  if (r <= 1) return [valence, arousal];
  return [valence / r, arousal / r];
}

function rounded(valence, arousal) {
  const [v, a] = clampToUnitCircle(Math.max(-1, Math.min(1, valence)), Math.max(-1, Math.min(1, arousal)));
  // Towards the centre, so a point clamped onto the edge stays inside: the server refuses any outside.
  return [Math.trunc(v * 1000) / 1000, Math.trunc(a * 1000) / 1000];
}

function fmt(x) {
  return (x >= 0 ? "+" : "\u2212") + Math.abs(x).toFixed(2);
}

export class VaCircle extends EventTarget {
  // crosshair: draw the point as a ring with a cross, to tell it from filled marks beside it.
  constructor(container, { label = "Valence and arousal", crosshair = false } = {}) {
    super();
    this.container = container;
    this.enabled = true;
    this.disabledText = "";
    this.point = null; // [valence, arousal] or null
    this.tentative = false;
    this.unplaced = false;
    container.classList.add("va-circle");

    this.svg = svg("svg", {
      viewBox: `${-EXTENT} ${-EXTENT} ${2 * EXTENT} ${2 * EXTENT}`,
      role: "slider",
      tabindex: "0",
      "aria-label": label,
      "aria-valuemin": "-1",
      "aria-valuemax": "1",
      "aria-valuenow": "0",
    });
    container.appendChild(this.svg);
    // y grows downwards in SVG; this group flips it so arousal grows upwards.
    const g = svg("g", { transform: "scale(1,-1)", class: "va-base" }, this.svg);
    svg("circle", { cx: 0, cy: 0, r: 1, class: "va-disc" }, g);
    svg("circle", { cx: 0, cy: 0, r: 0.5, class: "va-ring" }, g);
    svg("line", { x1: -1, y1: 0, x2: 1, y2: 0, class: "va-axis" }, g);
    svg("line", { x1: 0, y1: -1, x2: 0, y2: 1, class: "va-axis" }, g);
    // The region is clipped to the disc: values outside the unit circle cannot be chosen.
    const clipId = `va-clip-${Math.random().toString(36).slice(2)}`;
    const clip = svg("clipPath", { id: clipId }, g);
    svg("circle", { cx: 0, cy: 0, r: 1 }, clip);
    this.regionEl = svg("circle", {
      cx: 0, cy: 0, r: 0, class: "va-region", visibility: "hidden", "clip-path": `url(#${clipId})`,
    }, g);
    // Marks are drawn upright (their labels are text), above the disc and below the point.
    this.marksEl = svg("g", { class: "va-marks" }, this.svg);
    this.pointEl = svg("g", { class: "va-handle", visibility: "hidden" }, this.svg);
    svg("circle", { cx: 0, cy: 0, r: 0.055, class: "va-point" }, this.pointEl);
    const mark = svg("text", { x: 0, y: 0.032, "text-anchor": "middle", class: "va-unplaced-mark" }, this.pointEl);
    mark.textContent = "?";
    if (crosshair) {
      container.classList.add("crosshair");
      svg("line", { x1: -0.1, y1: 0, x2: 0.1, y2: 0, class: "va-cross" }, this.pointEl);
      svg("line", { x1: 0, y1: -0.1, x2: 0, y2: 0.1, class: "va-cross" }, this.pointEl);
    }
    const labels = [
      ["pleasant \u2192", 1.1, 0.04, "end", "hanging"],
      ["\u2190 unpleasant", -1.1, 0.04, "start", "hanging"],
      ["\u2191 excited", 0, -1.07, "middle", "hanging"],
      ["\u2193 calm", 0, 1.1, "middle", "auto"],
    ];
    for (const [text, x, y, anchor, baseline] of labels) {
      const t = svg("text", { x, y, "text-anchor": anchor, "dominant-baseline": baseline, class: "va-label" }, this.svg);
      t.textContent = text;
    }

    this.readout = document.createElement("div");
    this.readout.className = "va-readout";
    container.appendChild(this.readout);

    this.svg.addEventListener("pointerdown", (e) => this.#onPointerDown(e));
    this.svg.addEventListener("pointermove", (e) => this.#onPointerMove(e));
    this.svg.addEventListener("pointerup", (e) => this.#onPointerUp(e));
    this.svg.addEventListener("pointercancel", (e) => this.#onPointerUp(e));
    this.svg.addEventListener("keydown", (e) => {
      if (!this.handleKey(e)) return;
      e.preventDefault();
      e.stopPropagation(); // handled: a page that forwards keys here must not move the point again
    });
    this.#render();
  }

  get value() {
    return this.point ? { valence: this.point[0], arousal: this.point[1] } : null;
  }

  set(valence, arousal, { source = "api" } = {}) {
    this.point = rounded(valence, arousal);
    this.#render();
    this.dispatchEvent(new CustomEvent("change", { detail: { ...this.value, source } }));
  }

  // Place the point ({valence, arousal}) without a "change" event, as the page already knows it;
  // null removes it.
  show(value) {
    this.point = value ? rounded(value.valence, value.arousal) : null;
    this.#render();
  }

  // marks: [{valence, arousal, color, label, shape: "dot" | "diamond"}]; those without a point are skipped.
  setMarks(marks) {
    this.marksEl.replaceChildren();
    for (const m of marks) {
      if (m.valence === null || m.valence === undefined) continue;
      const g = svg("g", { class: "va-mark", "data-label": m.label, transform: `translate(${m.valence} ${-m.arousal})` }, this.marksEl);
      if (m.shape === "diamond") {
        svg("rect", { x: -0.04, y: -0.04, width: 0.08, height: 0.08, transform: "rotate(45)", fill: m.color }, g);
      } else {
        svg("circle", { r: 0.045, fill: m.color }, g);
      }
      svg("text", { x: 0.06, y: -0.05, class: "va-mark-label", fill: m.color }, g).textContent = m.label;
      svg("title", {}, g).textContent = `${m.label}: valence ${m.valence.toFixed(2)}, arousal ${m.arousal.toFixed(2)}`;
    }
  }

  clear() {
    this.point = null;
    this.#render();
  }

  // disabledText: what the readout says while the point cannot be set.
  setEnabled(enabled, { disabledText = "no valence/arousal for this category" } = {}) {
    this.enabled = enabled;
    this.disabledText = disabledText;
    if (!enabled) this.point = null;
    this.svg.setAttribute("aria-disabled", String(!enabled));
    this.svg.setAttribute("tabindex", enabled ? "0" : "-1");
    this.#render();
  }

  // region: {valence, arousal, radius} drawn faintly, or null for none.
  setRegion(region) {
    if (!region) {
      this.regionEl.setAttribute("visibility", "hidden");
      return;
    }
    this.regionEl.setAttribute("cx", region.valence);
    this.regionEl.setAttribute("cy", region.arousal);
    this.regionEl.setAttribute("r", region.radius);
    this.regionEl.setAttribute("visibility", "visible");
  }

  // A tentative point is someone else's proposal (the model's): drawn hollow until changed.
  setTentative(tentative) {
    this.tentative = tentative;
    this.#render();
  }

  // An unplaced point is only a starting place (say a category's usual region) that nobody chose
  // yet: drawn as a grey ring with "?", and the readout says so, until it is placed or accepted.
  setUnplaced(unplaced, { hint = "not placed yet" } = {}) {
    this.unplaced = unplaced;
    this.unplacedHint = hint;
    this.#render();
  }

  nudge(dv, da) {
    if (!this.enabled) return;
    const [v, a] = this.point || [0, 0];
    this.set(v + dv, a + da, { source: "key" });
  }

  // Arrow keys; returns whether the key was used (the page forwards keys here too).
  handleKey(e) {
    const step = e.shiftKey ? 0.01 : 0.05;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
    const move = moves[e.key];
    if (!move || !this.enabled) return false;
    this.nudge(move[0], move[1]);
    return true;
  }

  #toValues(e) {
    const box = this.svg.getBoundingClientRect();
    const x = ((e.clientX - box.left) / box.width) * 2 * EXTENT - EXTENT;
    const y = ((e.clientY - box.top) / box.height) * 2 * EXTENT - EXTENT;
    return [x, -y];
  }

  #onPointerDown(e) {
    if (!this.enabled || e.button > 0) return;
    e.preventDefault();
    this.svg.focus({ preventScroll: true });
    this.svg.setPointerCapture(e.pointerId);
    this.dragging = e.pointerId;
    this.set(...this.#toValues(e), { source: "pointer" });
  }

  #onPointerMove(e) {
    if (this.dragging !== e.pointerId) return;
    this.set(...this.#toValues(e), { source: "pointer" });
  }

  #onPointerUp(e) {
    if (this.dragging !== e.pointerId) return;
    this.dragging = null;
    if (this.svg.hasPointerCapture(e.pointerId)) this.svg.releasePointerCapture(e.pointerId);
  }

  #render() {
    this.container.classList.toggle("disabled", !this.enabled);
    // For screen readers: a slider's one number is the valence; the text says both, or why there is none.
    this.svg.setAttribute("aria-valuenow", this.point ? String(this.point[0]) : "0");
    this.svg.setAttribute("aria-valuetext", this.point
      ? `valence ${fmt(this.point[0])}, arousal ${fmt(this.point[1])}${this.unplaced ? ", not placed yet" : ""}; arrow keys move it`
      : this.enabled ? "no point yet; click or use the arrow keys" : this.disabledText);
    const unplaced = this.unplaced && !!this.point;
    this.container.classList.toggle("tentative", this.tentative && !!this.point && !unplaced);
    this.container.classList.toggle("unplaced", unplaced);
    if (this.point) {
      this.pointEl.setAttribute("transform", `translate(${this.point[0]} ${-this.point[1]})`);
      this.pointEl.setAttribute("visibility", "visible");
      this.readout.innerHTML = `valence <b class="va-v">${fmt(this.point[0])}</b> &nbsp; arousal <b class="va-a">${fmt(this.point[1])}</b>`;
      if (unplaced) {
        const hint = document.createElement("span");
        hint.className = "muted va-unplaced-hint";
        hint.textContent = ` ${this.unplacedHint}`;
        this.readout.append(hint);
      }
    } else {
      this.pointEl.setAttribute("visibility", "hidden");
      this.readout.innerHTML = this.enabled
        ? 'valence <b class="va-v">\u2014</b> &nbsp; arousal <b class="va-a">\u2014</b> <span class="muted">click to place</span>'
        : `<span class="muted">${this.disabledText}</span>`;
    }
  }
}
