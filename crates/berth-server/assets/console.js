// Berth console: small progressive enhancements. Every page works without
// this script; it only makes the copy buttons work.
"use strict";

document.addEventListener("click", (event) => {
  const copy = event.target.closest("button[data-copy]");
  if (copy) {
    const field = document.getElementById(copy.dataset.copy);
    if (field && navigator.clipboard) {
      navigator.clipboard.writeText(field.value).then(() => {
        copy.textContent = "Copied";
      }, () => {
        field.select();
      });
    } else if (field) {
      field.select();
    }
  }
});

// Without the script the copy buttons could not work; hide them until now.
document.documentElement.classList.add("js");
