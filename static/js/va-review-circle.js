// The valence/arousal circle for reviewers: several coloured points (the answers, the model's
// suggestion) and one draggable point (the final label). SVG, no dependencies. It knows nothing of
// the review queue: the page gives it points and listens to onChange.
const NS = "http://www.w3.org/2000/svg";
const R = 150; // circle radius in SVG units; the SVG's viewBox is centred on the circle

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

export function clampToDisc(valence, arousal) {
  const r = Math.hypot(valence, arousal);
  return r > 1 ? [valence / r, arousal / r] : [valence, arousal];
}

export class ReviewCircle {
  constructor(container, { onChange = () => {} } = {}) {
    this.onChange = onChange;
    this.value = null; // {valence, arousal} of the draggable point, or null when the label has none
    this.svg = el("svg", { viewBox: `${-R - 22} ${-R - 24} ${2 * R + 44} ${2 * R + 48}`, class: "va-circle",
      role: "img", "aria-label": "valence-arousal circle" }, container);
    el("circle", { cx: 0, cy: 0, r: R, class: "va-disc" }, this.svg);
    el("line", { x1: -R, y1: 0, x2: R, y2: 0, class: "va-axis" }, this.svg);
    el("line", { x1: 0, y1: -R, x2: 0, y2: R, class: "va-axis" }, this.svg);
    el("circle", { cx: 0, cy: 0, r: R / 2, class: "va-ring" }, this.svg);
    // Axis names sit inside the circle's box so that they are never cut off.
    const labels = [["valence +", R - 4, -6, "end"], ["valence −", -R + 4, -6, "start"], ["arousal +", 0, -R - 8, "middle"],
      ["arousal −", 0, R + 18, "middle"]];
    for (const [text, x, y, anchor] of labels) el("text", { x, y, "text-anchor": anchor, class: "va-label" }, this.svg).textContent = text;
    this.pointsLayer = el("g", { class: "va-points" }, this.svg);
    this.handle = el("g", { class: "va-handle", visibility: "hidden" }, this.svg);
    el("circle", { r: 11, class: "va-handle-ring" }, this.handle);
    el("line", { x1: -16, y1: 0, x2: 16, y2: 0, class: "va-handle-cross" }, this.handle);
    el("line", { x1: 0, y1: -16, x2: 0, y2: 16, class: "va-handle-cross" }, this.handle);
    this._dragging = false;
    this.svg.addEventListener("pointerdown", (e) => this._pointer(e, true));
    this.svg.addEventListener("pointermove", (e) => this._dragging && this._pointer(e, false));
    const stop = () => { this._dragging = false; };
    this.svg.addEventListener("pointerup", stop);
    this.svg.addEventListener("pointercancel", stop);
  }

  // points: [{valence, arousal, color, label, shape: "dot" | "diamond"}]; those without a point are skipped.
  setPoints(points) {
    this.pointsLayer.replaceChildren();
    for (const p of points) {
      if (p.valence === null || p.valence === undefined) continue;
      const x = p.valence * R, y = -p.arousal * R;
      const g = el("g", { class: "va-point", "data-label": p.label, transform: `translate(${x} ${y})` }, this.pointsLayer);
      if (p.shape === "diamond") el("rect", { x: -7, y: -7, width: 14, height: 14, transform: "rotate(45)", fill: p.color }, g);
      else el("circle", { r: 7, fill: p.color }, g);
      const t = el("text", { x: 10, y: -8, class: "va-point-label", fill: p.color }, g);
      t.textContent = p.label;
      el("title", {}, g).textContent = `${p.label}: valence ${p.valence.toFixed(2)}, arousal ${p.arousal.toFixed(2)}`;
    }
  }

  // The draggable point; null hides it (Uncertain and No-Face have none).
  setValue(value) {
    this.value = value ? { valence: value.valence, arousal: value.arousal } : null;
    this._draw();
  }

  nudge(dv, da) {
    const v = this.value || { valence: 0, arousal: 0 };
    const [valence, arousal] = clampToDisc(v.valence + dv, v.arousal + da);
    this._set(valence, arousal);
  }

  _set(valence, arousal) {
    this.value = { valence: Math.round(valence * 1000) / 1000, arousal: Math.round(arousal * 1000) / 1000 };
    this._draw();
    this.onChange(this.value);
  }

  _draw() {
    if (!this.value) { this.handle.setAttribute("visibility", "hidden"); return; }
    this.handle.setAttribute("visibility", "visible");
    this.handle.setAttribute("transform", `translate(${this.value.valence * R} ${-this.value.arousal * R})`);
  }

  _pointer(event, starting) {
    const ctm = this.svg.getScreenCTM();
    if (!ctm) return;
    const pt = new DOMPoint(event.clientX, event.clientY).matrixTransform(ctm.inverse());
    const [valence, arousal] = clampToDisc(pt.x / R, -pt.y / R);
    if (starting) {
      if (Math.hypot(pt.x, pt.y) > R + 20) return; // a click well outside the circle is not a point
      this._dragging = true;
      this.svg.setPointerCapture?.(event.pointerId);
      event.preventDefault();
    }
    this._set(valence, arousal);
  }
}
