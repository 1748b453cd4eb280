// The annotate page's note from a reviewer: a face returned to this annotator (annotator.feedback)
// comes with the reviewer's note in its claim; it is shown above the face while that face is shown.
// annotate.js calls showNote with each face it shows (null when none has a note).
const box = document.getElementById("review-note");

function fmt(v) {
  return (v >= 0 ? "+" : "\u2212") + Math.abs(v).toFixed(2);
}

function answerText(a) {
  if (!a) return "";
  return a.valence === null ? a.category_name : `${a.category_name} (${fmt(a.valence)}, ${fmt(a.arousal)})`;
}

function part(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.textContent = text;
  return node;
}

export function showNote(note) {
  if (!box) return;
  if (!note) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  // textContent only: a note is free text a reviewer typed.
  box.replaceChildren(
    part("b", "", `Returned to you by ${note.by || "a reviewer"}: `),
    part("span", "note-text", note.text),
    part("small", "muted", note.your_answer
      ? ` Your earlier answer: ${answerText(note.your_answer)}. Your answer now replaces it.`
      : " Your answer now replaces your earlier one."),
  );
  box.hidden = false;
}
