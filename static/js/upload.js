// The upload page's drop zone: files dropped on it go into the form's file input (as if chosen), and
// the chosen files are named under it.
const zone = document.getElementById("drop-zone");
const input = zone.querySelector("input[type=file]");
const chosen = document.getElementById("drop-chosen");

function showChosen() {
  const files = [...input.files];
  chosen.textContent = files.length === 0 ? "No file chosen"
    : files.length === 1 ? files[0].name
      : `${files.length} files: ${files.slice(0, 3).map((f) => f.name).join(", ")}${files.length > 3 ? ", …" : ""}`;
}

for (const type of ["dragenter", "dragover"]) {
  zone.addEventListener(type, (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
}
for (const type of ["dragleave", "drop"]) zone.addEventListener(type, () => zone.classList.remove("over"));
zone.addEventListener("drop", (e) => {
  e.preventDefault();
  if (!e.dataTransfer || e.dataTransfer.files.length === 0) return;
  input.files = e.dataTransfer.files;
  showChosen();
});
input.addEventListener("change", showChosen);
showChosen();
