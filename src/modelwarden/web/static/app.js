// modelwarden dashboard: progressive enhancement only; every page works without this script.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Filters apply as soon as a choice changes (the Filter button stays for keyboards and no-JS).
  const filters = document.getElementById("filters");
  if (filters) {
    for (const select of filters.querySelectorAll("select")) {
      select.addEventListener("change", () => filters.requestSubmit());
    }
    // Empty fields are left out of the URL, so shared links stay short.
    filters.addEventListener("formdata", (event) => {
      for (const [key, value] of [...event.formData.entries()]) {
        if (value === "") event.formData.delete(key);
      }
    });
  }
  // Comparing an assessment with itself shows nothing: keep the two choices apart.
  for (const form of document.querySelectorAll("form.compare")) {
    const [a, b] = [form.elements.namedItem("a"), form.elements.namedItem("b")];
    if (!a || !b) continue;
    const check = () => { form.querySelector("button").disabled = a.value === b.value; };
    a.addEventListener("change", check);
    b.addEventListener("change", check);
    check();
  }
});
