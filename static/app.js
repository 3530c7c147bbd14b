// Carnet: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";
  // Rows of data tables that carry data-href open their record on click.
  document.addEventListener("click", function (ev) {
    var row = ev.target.closest && ev.target.closest("tr[data-href]");
    if (!row || ev.target.closest("a, button, input, select, label")) return;
    window.location.href = row.getAttribute("data-href");
  });
  // Buttons with data-confirm ask before submitting.
  document.addEventListener("submit", function (ev) {
    var btn = ev.submitter;
    var msg = (btn && btn.getAttribute("data-confirm")) || ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) ev.preventDefault();
  });
  // Copy buttons: <button data-copy="text">.
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest && ev.target.closest("[data-copy]");
    if (!btn || !navigator.clipboard) return;
    ev.preventDefault();
    navigator.clipboard.writeText(btn.getAttribute("data-copy"));
    btn.classList.add("copied");
  });
})();
// Search as you type: <input data-live-search="#tbody-id"> refreshes the table rows from
// the same page (with part=rows) while the user types; the form still works without it.
(function () {
  "use strict";
  document.querySelectorAll("input[data-live-search]").forEach(function (input) {
    var target = document.querySelector(input.getAttribute("data-live-search"));
    var form = input.form;
    if (!target || !form || !window.fetch) return;
    var timer = null, seq = 0;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var params = new URLSearchParams(new FormData(form));
        params.set("part", "rows");
        var mine = ++seq;
        fetch(form.action + "?" + params.toString(), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.text() : null; })
          .then(function (html) {
            if (html !== null && mine === seq) {
              target.innerHTML = html;
              params.delete("part");
              history.replaceState(null, "", form.action + "?" + params.toString());
            }
          });
      }, 150);
    });
  });
})();
// Column choice: the checked boxes become the comma-separated `cols` field on submit.
(function () {
  "use strict";
  document.querySelectorAll("details.columns").forEach(function (d) {
    var form = d.closest("form"), out = d.querySelector("input[type=hidden]");
    if (!form || !out) return;
    var sync = function () {
      out.value = Array.prototype.map.call(d.querySelectorAll("input[data-col]:checked"), function (i) { return i.getAttribute("data-col"); }).join(",");
    };
    sync();
    form.addEventListener("submit", sync);
    d.addEventListener("change", function () { sync(); form.submit(); });
  });
})();
