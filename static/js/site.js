// On every page: the top bar's links fold behind a "Menu" button on a narrow screen
// (static/css/base.css); "Go back" on the error pages; boxes that scroll sideways (a wide table on a
// phone) can be scrolled from the keyboard.
const toggle = document.querySelector(".topbar .nav-toggle");
const bar = document.querySelector(".topbar");
if (toggle && bar) {
  toggle.addEventListener("click", () => {
    const open = !bar.classList.contains("open");
    bar.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", String(open));
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && bar.classList.contains("open")) {
      bar.classList.remove("open");
      toggle.setAttribute("aria-expanded", "false");
      toggle.focus();
    }
  });
}
// "Go back" on the error pages (the CSP allows no javascript: links).
for (const back of document.querySelectorAll("[data-back]")) {
  back.addEventListener("click", () => (history.length > 1 ? history.back() : window.location.assign("/")));
}
function scrollBoxesFocusable() {
  for (const box of document.querySelectorAll(".overflow, .dashboard section")) {
    const scrolls = box.scrollWidth > box.clientWidth;
    if (scrolls && !box.hasAttribute("tabindex") && !box.querySelector("a, button, input, select, textarea, [tabindex]")) {
      box.tabIndex = 0;
      box.dataset.scrollFocus = "";
      if (!box.hasAttribute("aria-label")) box.setAttribute("aria-label", (box.closest("section") || box).querySelector("h2")?.textContent || "scrolling table");
    } else if (!scrolls && "scrollFocus" in box.dataset) {
      box.removeAttribute("tabindex");
      delete box.dataset.scrollFocus;
    }
  }
}
// After the page's own scripts drew their charts, and again when the window changes size.
window.addEventListener("load", scrollBoxesFocusable);
let resizing = null;
window.addEventListener("resize", () => { clearTimeout(resizing); resizing = setTimeout(scrollBoxesFocusable, 100); });
