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
// Choices that apply at once: a column checkbox (details.columns) or a select marked
// data-autosubmit submits its form (the form's own button does it without JavaScript).
(function () {
  "use strict";
  document.querySelectorAll("details.columns, select[data-autosubmit]").forEach(function (el) {
    var form = el.closest("form");
    if (form) el.addEventListener("change", function () { form.submit(); });
  });
})();
// Kanban board: drag a card to another column to change its status (the same server
// action as the card's own menu, which is what works without JavaScript).
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board || !window.fetch) return;
  document.documentElement.classList.add("js");
  var csrf = board.getAttribute("data-csrf"), dragged = null;
  // Keeps each column's count, total and empty message right after a move of `card`
  // from column `a` to column `b` (the counts and totals are the server's, for all the
  // column's opportunities, not only the cards shown).
  var fmt = window.Intl ? new Intl.NumberFormat(document.documentElement.lang || "fr", { maximumFractionDigits: 2 }) : null;
  var shift = function (col, card, sign) {
    var count = col.querySelector(".board-count"), total = col.querySelector(".board-total");
    // A column past the lists' cap ("1000+") keeps its head: its exact count is the dashboard's.
    if (count && count.getAttribute("data-count").indexOf("+") < 0) {
      var n = parseInt(count.getAttribute("data-count"), 10) + sign;
      count.setAttribute("data-count", n);
      count.textContent = n;
      var indexed = document.querySelector('#board-index a[href="#' + col.id + '"] .board-index-count');
      if (indexed) indexed.textContent = n;
    }
    if (total && fmt) {
      var cents = parseInt(total.getAttribute("data-cents"), 10) + sign * parseInt(card.getAttribute("data-amount") || "0", 10);
      total.setAttribute("data-cents", cents);
      total.textContent = fmt.format(cents / 100) + " " + total.getAttribute("data-currency");
    }
    var empty = col.querySelector(".board-empty");
    if (empty) empty.hidden = col.querySelectorAll(".board-card").length > 0;
  };
  var recount = function (card, a, b) { shift(a, card, -1); shift(b, card, 1); };
  var error = document.getElementById("board-error");
  board.addEventListener("dragstart", function (ev) {
    var card = ev.target.closest && ev.target.closest(".board-card");
    if (!card) return;
    dragged = card;
    card.classList.add("dragging");
    ev.dataTransfer.effectAllowed = "move";
    ev.dataTransfer.setData("text/plain", card.getAttribute("data-id"));
  });
  board.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    board.querySelectorAll(".drop-target").forEach(function (c) { c.classList.remove("drop-target"); });
  });
  board.addEventListener("dragover", function (ev) {
    var col = ev.target.closest && ev.target.closest(".board-col");
    if (!col) return;
    ev.preventDefault();
    board.querySelectorAll(".drop-target").forEach(function (c) { if (c !== col) c.classList.remove("drop-target"); });
    col.classList.add("drop-target");
  });
  board.addEventListener("drop", function (ev) {
    var col = ev.target.closest && ev.target.closest(".board-col");
    if (!col) return;
    ev.preventDefault();
    col.classList.remove("drop-target");
    var id = ev.dataTransfer.getData("text/plain");
    var card = document.getElementById("card-" + id);
    var from = card && card.closest(".board-col");
    if (!card || from === col) return;
    var body = new URLSearchParams({ _csrf: csrf, status: col.getAttribute("data-status") });
    col.querySelector(".board-cards").prepend(card);
    recount(card, from, col);
    card.setAttribute("aria-busy", "true");
    fetch("/opportunities/" + id + "/status", {
      method: "POST", credentials: "same-origin", body: body,
      headers: { "X-Requested-With": "fetch", "Content-Type": "application/x-www-form-urlencoded" }
    }).then(function (r) {
      card.removeAttribute("aria-busy");
      if (r.ok) {
        error.hidden = true;
        var sel = card.querySelector("select[name=status]");
        if (sel) sel.value = col.getAttribute("data-status");
        card.setAttribute("data-moved", col.getAttribute("data-status"));
        return;
      }
      return r.json().catch(function () { return {}; }).then(function (j) {
        from.querySelector(".board-cards").prepend(card);
        recount(card, col, from);
        error.textContent = (j && j.message) || ("Error " + r.status);
        error.hidden = false;
      });
    });
  });
})();
// Dashboards: typing a date picks "custom dates" (the dates count only with it).
(function () {
  "use strict";
  document.querySelectorAll("input[data-custom-period]").forEach(function (el) {
    el.addEventListener("change", function () {
      var sel = document.getElementById("period");
      if (sel) sel.value = "custom";
    });
  });
})();
// The top bar's global search: results in a dropdown as the user types (the fragment of
// /search?part=1, 200 ms after the last key), a combobox over a listbox: arrows move, Enter
// opens the record (or the search page), Escape closes. `/` focuses the field from anywhere
// but a text field. Without this file the form submits to /search.
(function () {
  "use strict";
  var input = document.getElementById("topsearch-q");
  var pop = document.getElementById("topsearch-pop");
  if (!input || !pop) return;
  var form = input.form;
  var timer = null, seq = 0, active = -1;
  function options() { return Array.prototype.slice.call(pop.querySelectorAll("[role=option]")); }
  function close() {
    pop.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }
  function select(i) {
    var opts = options();
    if (!opts.length) return;
    active = (i + opts.length) % opts.length;
    opts.forEach(function (o, j) { o.setAttribute("aria-selected", j === active ? "true" : "false"); });
    input.setAttribute("aria-activedescendant", opts[active].id);
    opts[active].scrollIntoView({ block: "nearest" });
  }
  function fetchResults() {
    var q = input.value.trim();
    if (!q || !window.fetch) { close(); return; }
    var mine = ++seq;
    fetch(form.action + "?part=1&q=" + encodeURIComponent(q), { credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        if (mine !== seq || document.activeElement !== input) return;
        pop.innerHTML = html;
        active = -1;
        input.removeAttribute("aria-activedescendant");
        pop.hidden = false;
        input.setAttribute("aria-expanded", "true");
      })
      .catch(close);
  }
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(fetchResults, 200);
  });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      if (pop.hidden) { fetchResults(); return; }
      ev.preventDefault();
      select(active + (ev.key === "ArrowDown" ? 1 : -1));
    } else if (ev.key === "Enter") {
      var opts = options();
      // The highlighted result, else the only record found; otherwise the form submits.
      var hits = opts.filter(function (o) { return !o.classList.contains("gsearch-all"); });
      var target = active >= 0 ? opts[active] : (!pop.hidden && hits.length === 1 ? hits[0] : null);
      if (target) { ev.preventDefault(); window.location.href = target.getAttribute("href"); }
    } else if (ev.key === "Escape") {
      if (!pop.hidden) { ev.preventDefault(); close(); } else { input.value = ""; }
    }
  });
  input.addEventListener("blur", function () {
    // After a click on a result (mousedown keeps the focus, see below).
    setTimeout(function () { if (document.activeElement !== input) close(); }, 150);
  });
  pop.addEventListener("mousedown", function (ev) { ev.preventDefault(); });
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var t = ev.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    ev.preventDefault();
    input.focus();
    input.select();
  });
})();
// `n` opens the page's own "new" action (its header's primary button leading to …/new: a new
// customer, opportunity, lead), except when typing in a field.
(function () {
  "use strict";
  var link = document.querySelector(".page-header a.btn-primary[href$='/new']");
  if (!link) return;
  link.setAttribute("aria-keyshortcuts", "n");
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "n" || ev.ctrlKey || ev.metaKey || ev.altKey || ev.defaultPrevented) return;
    var t = ev.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(t.tagName))) return;
    ev.preventDefault();
    window.location.href = link.getAttribute("href");
  });
})();
// The phone menu (details.navmenu) closes on Escape and on a tap outside it.
(function () {
  "use strict";
  var menu = document.getElementById("navmenu");
  if (!menu) return;
  document.addEventListener("click", function (ev) {
    if (menu.open && !menu.contains(ev.target)) menu.open = false;
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && menu.open) { menu.open = false; menu.querySelector("summary").focus(); }
  });
})();
// The customer's signature: drawn with a finger, a pen or a mouse on canvas.sigpad (pointer
// events), sent as a PNG data URL in the form's hidden "signature" field.
(function () {
  "use strict";
  document.querySelectorAll("canvas.sigpad").forEach(function (canvas) {
    var form = canvas.closest("form");
    var field = form && form.querySelector("input[name=signature]");
    if (!field || !canvas.getContext) return;
    var ctx = canvas.getContext("2d");
    var drawn = false, last = null;
    function size() {
      var ratio = Math.min(window.devicePixelRatio || 1, 2);
      var box = canvas.getBoundingClientRect();
      canvas.width = Math.round(box.width * ratio);
      canvas.height = Math.round(box.height * ratio);
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, box.width, box.height);
      ctx.lineWidth = 2.5; ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = "#0f1b2d";
      drawn = false;
    }
    function at(ev) {
      var box = canvas.getBoundingClientRect();
      return { x: ev.clientX - box.left, y: ev.clientY - box.top };
    }
    canvas.addEventListener("pointerdown", function (ev) {
      ev.preventDefault();
      canvas.setPointerCapture(ev.pointerId);
      last = at(ev);
      ctx.beginPath(); ctx.arc(last.x, last.y, 1.2, 0, 2 * Math.PI); ctx.fillStyle = "#0f1b2d"; ctx.fill();
      drawn = true;
    });
    canvas.addEventListener("pointermove", function (ev) {
      if (!last) return;
      var p = at(ev);
      ctx.beginPath(); ctx.moveTo(last.x, last.y); ctx.lineTo(p.x, p.y); ctx.stroke();
      last = p;
    });
    ["pointerup", "pointercancel", "pointerleave"].forEach(function (t) {
      canvas.addEventListener(t, function () { last = null; });
    });
    var clear = form.querySelector("[data-sigpad-clear]");
    if (clear) { clear.hidden = false; clear.addEventListener("click", function () { size(); field.value = ""; }); }
    form.querySelectorAll("[data-sigpad-nojs]").forEach(function (el) { el.hidden = true; });
    form.addEventListener("submit", function () { field.value = drawn ? canvas.toDataURL("image/png") : ""; });
    size();
  });
})();
