// Progressive enhancement only: every page works without it.
document.addEventListener("DOMContentLoaded", () => {
  // "Copy table": the figure's table as tab-separated text, ready to paste in a spreadsheet.
  // A text cell a spreadsheet would read as a formula gets a leading ' (the rule of the CSV
  // exports, pacte_common/csv_export.py); numbers stay numbers.
  const safe = (text) => (/^[=+\-@\t\r]/.test(text) && !/^[+-]?\d+(\.\d+)?$/.test(text) ? "'" + text : text);
  for (const button of document.querySelectorAll(".copy-table")) {
    if (!navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      const table = button.closest(".figure").querySelector("table");
      const text = [...table.rows].map((row) => [...row.cells].map((c) => safe(c.innerText.trim())).join("\t")).join("\n");
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
      setTimeout(() => (button.textContent = "Copy table"), 1500);
    });
  }
  // The room's QR code (Émargement): the page reloads when the service says the code changes
  // (a <meta refresh> would do it without script, but it is an accessibility failure).
  const reload = document.querySelector("[data-reload-after-s]");
  if (reload) setTimeout(() => location.reload(), Number(reload.dataset.reloadAfterS) * 1000);
  // Filters made of lists apply as soon as they change.
  for (const select of document.querySelectorAll("form.filters select")) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }
});
