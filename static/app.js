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
// Calendar and planning time grid (templates/partials/schedule.html): drag an entry to move it
// to another time, day or person, or its bottom edge to change its end. Only the new slot (and
// the person it passed from and to) is sent (POST data-api + id + "/move": the server applies it
// to the record as it is now, with the same rules, notifications and invitations as the form),
// then the page reloads; a refusal puts the entry back and says why. Without this file the
// entries are links, and their form moves them.
(function () {
  "use strict";
  var grid = document.getElementById("sched");
  if (!grid || !window.fetch || !grid.hasAttribute("data-movable")) return;
  var api = grid.getAttribute("data-api"), csrf = grid.getAttribute("data-csrf");
  var first = parseInt(grid.getAttribute("data-first"), 10) * 60;
  var step = parseInt(grid.getAttribute("data-row-minutes"), 10);
  var box = document.getElementById("sched-error");
  var drag = null, swallowClick = false;
  function two(n) { return (n < 10 ? "0" : "") + n; }
  function hhmm(m) { return m >= 24 * 60 ? "23:59" : two(Math.floor(m / 60)) + ":" + two(m % 60); }
  function place(ev, row, span, lane) {
    ev.className = ev.className.replace(/\bgr-\d+\b/, "gr-" + row).replace(/\bgs-\d+\b/, "gs-" + span).replace(/\blane-\d+\b/, lane);
  }
  function colAt(x, y) {
    var els = document.elementsFromPoint(x, y);
    for (var i = 0; i < els.length; i++) if (els[i].classList && els[i].classList.contains("sched-col")) return els[i];
    return null;
  }
  function lastRow(cells) { return cells.querySelectorAll(".sched-slot").length * 2; }
  function restore(d) {
    d.home.appendChild(d.ev);
    place(d.ev, d.row, d.span, d.lane);
    d.ev.removeAttribute("aria-busy");
  }
  function fail(msg) {
    box.textContent = msg;
    box.hidden = false;
    box.scrollIntoView({ block: "nearest" });
  }
  grid.addEventListener("pointerdown", function (e) {
    if (e.button !== 0) return;
    var ev = e.target.closest(".sched-ev[data-move]");
    if (!ev) return;
    var slot = ev.parentNode.querySelector(".sched-slot");
    drag = {
      ev: ev, home: ev.parentNode, col: ev.closest(".sched-col"), target: ev.closest(".sched-col"),
      resize: !!e.target.closest(".sched-resize"), x: e.clientX, y: e.clientY,
      row: parseInt(ev.getAttribute("data-row"), 10), span: parseInt(ev.getAttribute("data-span"), 10),
      lane: (ev.className.match(/\blane-\d+\b/) || ["lane-11"])[0],
      h: slot ? slot.getBoundingClientRect().height / 2 : 13, moved: false
    };
    drag.newRow = drag.row;
    drag.newSpan = drag.span;
  });
  // Links are natively draggable: that would cancel the pointer's moves.
  grid.addEventListener("dragstart", function (e) { e.preventDefault(); });
  grid.addEventListener("pointermove", function (e) {
    var d = drag;
    if (!d) return;
    var dx = e.clientX - d.x, dy = e.clientY - d.y;
    if (!d.moved && Math.abs(dx) + Math.abs(dy) < 6) return;
    // Captured once it is a drag (a plain click stays the link's).
    if (!d.moved) grid.setPointerCapture(e.pointerId);
    d.moved = true;
    d.ev.classList.add("dragging");
    var rows = Math.round(dy / d.h), max = lastRow(d.home);
    if (d.resize) {
      d.newSpan = Math.max(1, Math.min(d.span + rows, max + 1 - d.row));
    } else {
      d.newRow = Math.max(1, Math.min(d.row + rows, max + 1 - d.span));
      var col = colAt(e.clientX, e.clientY);
      if (col && col !== d.target) {
        if (d.target) d.target.classList.remove("drop-target");
        d.target = col;
        col.classList.add("drop-target");
        col.querySelector(".sched-cells").appendChild(d.ev);
      }
    }
    place(d.ev, d.newRow, d.newSpan, "lane-11");
  });
  function end(e, cancelled) {
    var d = drag;
    drag = null;
    if (!d) return;
    if (grid.hasPointerCapture && grid.hasPointerCapture(e.pointerId)) grid.releasePointerCapture(e.pointerId);
    d.ev.classList.remove("dragging");
    if (d.target) d.target.classList.remove("drop-target");
    if (!d.moved) return;
    swallowClick = true;
    setTimeout(function () { swallowClick = false; }, 0);
    if (cancelled || (d.newRow === d.row && d.newSpan === d.span && d.target === d.col)) { restore(d); return; }
    var start = first + (d.newRow - 1) * step;
    var slot = { date: d.target.getAttribute("data-date"), start_time: hhmm(start), end_time: hhmm(start + d.newSpan * step) };
    // Another person's column: the server passes the entry from that person to this one.
    var from = d.col.getAttribute("data-person"), to = d.target.getAttribute("data-person");
    if (from && to && from !== to) slot.person = [+from, +to];
    d.ev.setAttribute("aria-busy", "true");
    box.hidden = true;
    fetch(api + d.ev.getAttribute("data-id") + "/move", {
      method: "POST", credentials: "same-origin", body: JSON.stringify(slot),
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "X-Requested-With": "fetch" }
    }).then(function (r) {
      if (r.ok) { window.location.reload(); return; }
      return r.json().catch(function () { return {}; }).then(function (j) {
        restore(d);
        var err = (j && j.error) || {};
        var why = Object.keys(err.fields || {}).map(function (k) { return err.fields[k]; });
        fail([err.message || grid.getAttribute("data-failed")].concat(why).join(" — "));
      });
    }).catch(function () { restore(d); fail(grid.getAttribute("data-failed")); });
  }
  grid.addEventListener("pointerup", function (e) { end(e, false); });
  grid.addEventListener("pointercancel", function (e) { end(e, true); });
  grid.addEventListener("click", function (e) {
    if (swallowClick) { e.preventDefault(); e.stopPropagation(); swallowClick = false; }
  }, true);
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && drag) { var d = drag; drag = null; d.ev.classList.remove("dragging"); if (d.target) d.target.classList.remove("drop-target"); restore(d); }
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
