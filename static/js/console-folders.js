// The folder browser of the import and export forms: lists the folders under the chosen data root (the
// server refuses anything outside DATA_ROOTS) and fills the path field last focused with a relative path.
const browser = document.getElementById("folder-browser");
const rootSelect = document.querySelector("[data-browse-root]");
const fields = [...document.querySelectorAll("[data-browse]")];
let target = fields[0];
let where = "";

const join = (base, name) => (base ? `${base}/${name}` : name);
const parent = (path) => path.split("/").slice(0, -1).join("/");

function item(label, onClick, className) {
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = label;
  if (className) button.className = className;
  button.addEventListener("click", onClick);
  li.append(button);
  return li;
}

async function list(path) {
  const error = document.getElementById("browser-error");
  const url = `${browser.dataset.url}?root=${encodeURIComponent(rootSelect.value)}&path=${encodeURIComponent(path)}`;
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  const data = await response.json();
  if (!response.ok) {
    error.textContent = data.error;
    error.hidden = false;
    return;
  }
  error.hidden = true;
  where = data.path;
  document.getElementById("browser-where").textContent = `${data.root_path}/${data.path}`;
  const ul = document.getElementById("browser-list");
  ul.replaceChildren();
  for (const name of data.folders) {
    ul.append(item(`${name}/`, () => {
      if (target) target.value = join(where, name);
      list(join(where, name));
    }));
  }
  for (const name of data.files.filter((f) => f.toLowerCase().endsWith(".csv"))) {
    ul.append(item(name, () => { if (target) target.value = join(where, name); }, "file"));
  }
  if (!data.folders.length) {
    const li = document.createElement("li");
    li.textContent = `(no sub-folder; ${data.file_count} files)`;
    ul.append(li);
  }
}

if (browser && rootSelect) {
  for (const field of fields) {
    field.addEventListener("focus", () => { target = field; });
  }
  rootSelect.addEventListener("change", () => list(""));
  document.getElementById("browser-up").addEventListener("click", () => list(parent(where)));
  list("");
}
