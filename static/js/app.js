// Zeuge Lite: where the focus goes after an htmx swap, what the live region announces, confirmations as
// <dialog>s, and the review list's single-key shortcuts.
(function () {
  "use strict";
  var CONTROLS = "a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select:not([disabled])," +
    " textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";

  // Messages that arrive together (a swap and its out-of-band part) are said together, once each.
  var said = [], timer = null;
  /** Say text through the page's one polite live region. */
  function announce(text) {
    var live = document.getElementById("live");
    if (!live || !text) { return; }
    if (said.indexOf(text) < 0) { said.push(text); }
    live.textContent = "";  // emptied first, so that the same message twice is read twice
    window.clearTimeout(timer);
    timer = window.setTimeout(function () { live.textContent = said.join(" "); said = []; }, 100);
  }
  window.Zeuge = { announce: announce };

  function focusable(el) {
    return el && el.isConnected && el.matches(CONTROLS) && !el.closest("[hidden], [inert]") && el.getClientRects().length ? el : null;
  }
  function firstControl(root) {
    if (!root || !root.isConnected) { return null; }
    return focusable(root) || Array.from(root.querySelectorAll(CONTROLS)).filter(focusable)[0] || null;
  }
  function byId(id) { return id ? document.getElementById(id) : null; }
  function lost() {
    var el = document.activeElement;
    return !el || el === document.body || !el.isConnected;
  }

  // One focus rule for every swap. Before the request, remember what the user acted on (the focused element,
  // or the control that sent it when it already lost the focus, like a position field committed by Enter)
  // and its nearest ancestor with an id. After the swap, if the focus fell to the page, it goes to that
  // element if it survived, else to its replacement (same id), else to the first control of the ancestor's
  // replacement, else to the new content itself or its first control. `autofocus` in new content wins
  // (htmx focuses it before this runs).
  var acted = new WeakMap();
  document.addEventListener("htmx:beforeRequest", function (e) {
    var el = document.activeElement;
    if (!el || el === document.body) { el = e.detail.elt && e.detail.elt.matches(CONTROLS) ? e.detail.elt : null; }
    if (!el) { return; }
    var holder = el.parentElement && el.parentElement.closest("[id]");
    acted.set(e.detail.xhr, { el: el, id: el.id, holder: holder && holder.id });
  });
  document.addEventListener("htmx:afterSettle", function (e) {
    var before = acted.get(e.detail.xhr);
    announceFrom(e.target);
    if (!before) { return; }
    acted.delete(e.detail.xhr);
    if (!lost()) { return; }
    var next = focusable(before.el) || focusable(byId(before.id)) || firstControl(byId(before.holder)) ||
      firstControl(e.target);
    if (next) { next.focus(); }
  });

  // Swapped content says what changed in a data-announce attribute: its value, or the element's own text
  // when the attribute is empty. This is the only way the server's messages reach the live region.
  function announceFrom(root) {
    if (!root.querySelectorAll) { return; }
    var found = Array.from(root.querySelectorAll("[data-announce]"));
    if (root.matches("[data-announce]")) { found.unshift(root); }
    var text = found.map(function (el) { return (el.dataset.announce || el.textContent).trim(); }).join(" ");
    if (text) { announce(text.replace(/\s+/g, " ")); }
  }

  // A page reached by a form post (restore from the trash, a rename) reads its message first: the focus goes
  // to the flashed message unless the page put it somewhere (autofocus).
  document.addEventListener("DOMContentLoaded", function () {
    var flashes = document.querySelector(".flashes");
    if (flashes && lost() && !document.querySelector("[autofocus]")) { flashes.tabIndex = -1; flashes.focus(); }
  });

  // The metadata table saves a cell when it changes, through htmx, which is deferred: a cell edited before htmx
  // had run (a slow page) is saved once it has, so no edit is lost. The cell being typed in saves on its change.
  htmx.onLoad(function (root) {
    if (root !== document.body) { return; }
    document.querySelectorAll("table.metadata input[hx-post]").forEach(function (input) {
      if (input.value !== input.defaultValue && input !== document.activeElement) { htmx.trigger(input, "change"); }
    });
  });

  // Confirmations are <dialog class="confirm">s, opened modal as they arrive: the focus goes inside (its
  // autofocus control, else its first), Escape closes (through its data-dialog-cancel control when that has
  // more to do, as a Cancel that reloads what the dialog replaced), and closing returns the focus to the
  // control that opened it.
  var opener = null;
  document.addEventListener("htmx:beforeRequest", function () {
    if (!document.activeElement.closest("dialog")) { opener = document.activeElement; }
  });
  htmx.onLoad(function (root) {
    var dialogs = Array.from(root.querySelectorAll ? root.querySelectorAll("dialog.confirm") : []);
    if (root.matches && root.matches("dialog.confirm")) { dialogs.unshift(root); }
    dialogs.forEach(function (dialog) { openDialog(dialog, opener); });
  });
  function openDialog(dialog, from) {
    dialog.opener = from;
    if (!dialog.dataset.wired) {
      dialog.dataset.wired = "1";
      dialog.addEventListener("cancel", function (e) {
        var cancel = dialog.querySelector("[data-dialog-cancel][hx-get]");
        if (cancel) { e.preventDefault(); cancel.click(); }
      });
      dialog.addEventListener("close", function () {
        if (dialog.classList.contains("confirm")) { dialog.remove(); }
        if (lost() && focusable(dialog.opener)) { dialog.opener.focus(); }
      });
    }
    dialog.showModal();
  }
  window.Zeuge.openDialog = openDialog;

  // htmx's hx-confirm asks in the page's own <dialog> instead of the browser's confirm().
  document.addEventListener("htmx:confirm", function (e) {
    if (!e.detail.question) { return; }
    e.preventDefault();
    var template = document.getElementById("confirm-template");
    var dialog = template.content.firstElementChild.cloneNode(true);
    dialog.querySelector(".question").textContent = e.detail.question;
    dialog.querySelector(".confirm-yes").addEventListener("click", function () {
      dialog.close();
      e.detail.issueRequest(true);
    });
    document.body.appendChild(dialog);
    openDialog(dialog, document.activeElement);
  });
})();

// Drag-and-drop ordering (SortableJS + htmx) and uploads with per-file progress.
(function () {
  "use strict";

  function csrfToken() {
    return document.querySelector('meta[name="csrf-token"]').content;
  }

  // Sortable grids: on drop, htmx posts the form (its hidden inputs now in the new order) via "order-changed".
  // A tile dropped on a page edge (the grid is paged) is moved to that position on the neighbouring page.
  htmx.onLoad(function (root) {
    if (typeof Sortable === "undefined") { return; }  // loaded on a batch's pages only
    root.querySelectorAll(".sortable").forEach(function (grid) {
      new Sortable(grid, {
        // forceFallback: pointer events instead of native drag and drop, which behaves the same with a mouse,
        // a pen or a finger, and lets a tile cross into the page-edge lists reliably.
        animation: 150, draggable: ".tile", ghostClass: "ghost", filter: "button, a.icon, input", preventOnFilter: false,
        group: { name: "items", pull: true, put: false }, forceFallback: true,
        onEnd: function (evt) {
          // A tile dropped on a page edge has left this grid: the edge posts its move, the grid posts nothing
          // (its order without that tile would be refused as stale, and could answer after the move).
          if (evt.to === grid && grid.contains(evt.item) && evt.oldIndex !== evt.newIndex) {
            grid.dispatchEvent(new Event("order-changed"));  // not "end": SortableJS fires that itself, always
          }
        },
      });
    });
    root.querySelectorAll(".page-edge").forEach(function (edge) {
      new Sortable(edge, {
        group: { name: "items", pull: false, put: true }, ghostClass: "ghost", forceFallback: true,
        onAdd: function (evt) {
          var id = evt.item.dataset.itemId, values = { order_version: edge.dataset.orderVersion };
          values["position-" + id] = edge.dataset.position;
          htmx.ajax("POST", edge.dataset.moveUrl.replace("{}", id), {
            target: "#grid-region", swap: "outerHTML", source: edge, headers: { "X-CSRFToken": csrfToken() },
            values: values,
          });
        },
      });
    });
  });

  // The grid is one form for the order; Enter in a tile's position field commits that field (its change
  // event posts the move) and must not submit the whole form as a page load.
  document.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && e.target.matches("#item-grid input.pos")) { e.preventDefault(); e.target.blur(); }
  });

  function addRow(list, file) {
    var row = document.createElement("li");
    row.innerHTML = '<span class="name"></span><progress max="100" value="0"></progress><span class="status">waiting</span>';
    row.querySelector(".name").textContent = file.name;
    list.appendChild(row);
    return row;
  }

  function showResult(row, result) {
    row.className = "result-" + result.status;
    var bar = row.querySelector("progress");
    // A refused file did not land: no full bar that reads as "done", only the reason beside its name.
    if (result.status === "refused") { bar.replaceWith(document.createElement("span")); } else { bar.value = 100; }
    row.querySelector(".status").textContent = result.status === "added" ? "added" : result.status + ": " + result.message;
  }

  function uploadOne(form, file, row) {
    return new Promise(function (resolve) {
      var data = new FormData();
      data.append("files", file, file.name);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) { row.querySelector("progress").value = Math.round(95 * e.loaded / e.total); }
        row.querySelector(".status").textContent = "uploading";
      };
      xhr.onload = function () {
        var result, body = null;
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = null; }
        if (body && body.results) { result = body.results[0]; }
        else if (body && body.error) {
          // Logged out or a stale page: every later file would be refused the same way, so they are not sent.
          result = { status: "refused", message: body.error, stop: xhr.status === 401 || xhr.status === 400 };
        } else { result = { status: "refused", message: xhr.status === 413 ? "The file is larger than the upload limit." : "The server answered " + xhr.status + "." }; }
        showResult(row, result);
        resolve(result);
      };
      xhr.onerror = function () { showResult(row, { status: "refused", message: "The upload failed: network error." }); resolve(null); };
      xhr.send(data);
    });
  }

  async function uploadAll(form, files) {
    // XMP sidecars go after the photos so that each finds its photo already in the batch.
    var sidecar = function (f) { return /\.xmp$/i.test(f.name) ? 1 : 0; };
    files = files.map(function (f, i) { return [sidecar(f), i, f]; })
      .sort(function (a, b) { return a[0] - b[0] || a[1] - b[1]; }).map(function (t) { return t[2]; });
    var list = document.getElementById("upload-list");
    var rows = Array.from(files).map(function (f) { return addRow(list, f); });
    // One at a time, so items land in the order they were chosen or dropped.
    var added = [], refused = 0;
    for (var i = 0; i < rows.length; i++) {
      var result = await uploadOne(form, files[i], rows[i]);
      if (result && result.status === "added") { added.push(result.item_id); }
      if (!result || result.status === "refused") { refused += 1; }
      if (result && result.stop) {
        for (var j = i + 1; j < rows.length; j++) { showResult(rows[j], { status: "refused", message: "not sent: " + result.message }); refused += 1; }
        break;
      }
    }
    document.getElementById("upload-done").hidden = false;
    if (form.dataset.precheckUrl && added.length) {
      htmx.ajax("POST", form.dataset.precheckUrl, { target: "#precheck", swap: "outerHTML", values: { items: added.join(",") } });
    }
    window.Zeuge.announce("Upload finished: " + files.length + " files processed, " + added.length + " added" +
      (refused ? ", " + refused + " refused." : "."));
  }

  // The drop zone's button is its keyboard way in (Enter and Space open the picker); uploads start as files
  // are chosen, so the form's own Upload button (for pages without scripts) goes.
  function enhanceDropzone(zone, input) {
    var choose = document.getElementById("choose-files");
    zone.classList.add("enhanced");
    input.tabIndex = -1;  // the button stands for it: one control to reach and to hear, not two
    [input, zone.querySelector("label[for=file-input]")].forEach(function (el) { el.setAttribute("aria-hidden", "true"); });
    choose.hidden = false;
    document.getElementById("upload-button").hidden = true;
    choose.addEventListener("click", function () { input.click(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("upload-form");
    if (!form) { return; }
    var input = document.getElementById("file-input");
    var zone = document.getElementById("dropzone");
    enhanceDropzone(zone, input);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (input.files.length) { uploadAll(form, Array.from(input.files)); input.value = ""; }
    });
    function uploadChosen() { if (input.files.length) { uploadAll(form, Array.from(input.files)); input.value = ""; } }
    input.addEventListener("change", uploadChosen);
    uploadChosen();  // files chosen while the page was still loading, before this listener existed
    ["dragenter", "dragover"].forEach(function (t) { zone.addEventListener(t, function (e) { e.preventDefault(); zone.classList.add("over"); }); });
    ["dragleave", "drop"].forEach(function (t) { zone.addEventListener(t, function (e) { e.preventDefault(); zone.classList.remove("over"); }); });
    zone.addEventListener("drop", function (e) { if (e.dataTransfer.files.length) { uploadAll(form, Array.from(e.dataTransfer.files)); } });
  });
})();

// Similarity review: side-by-side compare at one zoom; the data-action buttons of the group cards.
(function () {
  "use strict";

  // Side by side (server-rendered panes): one zoom for both panes, and panning one pans the other.
  function sideBySideZoom(button) {
    var box = button.closest("[data-sbs]");
    box.querySelectorAll("[data-action=sbs-zoom]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b === button));
    });
    box.querySelectorAll(".sbs-pane img").forEach(function (img) {
      var zoom = button.dataset.zoom;
      img.style.width = zoom === "fit" ? "100%" : (img.naturalWidth * Number(zoom)) + "px";
      img.style.maxWidth = zoom === "fit" ? "100%" : "none";
    });
  }
  document.addEventListener("scroll", function (e) {
    var pane = e.target.closest && e.target.closest(".sbs-pane");
    if (!pane) { return; }
    pane.closest("[data-sbs]").querySelectorAll(".sbs-pane").forEach(function (other) {
      if (other !== pane) { other.scrollTop = pane.scrollTop; other.scrollLeft = pane.scrollLeft; }
    });
  }, true);
  function sideBySideClose(button) {
    var opener = document.getElementById(button.dataset.opener);
    button.closest("[data-sbs]").remove();
    if (opener) { opener.focus(); }
  }

  // Single-key shortcuts (WCAG 2.1.4): only while the focus is in the list of groups, never while typing,
  // and off for good with the list's "Single-key shortcuts" box (remembered in this browser). On a card
  // (as j/k leave the focus): j/k next/previous, Enter expand. Inside an expanded card's photos and buttons,
  // the card's own keys: the buttons that carry data-shortcut, x ticks the photo in focus, Escape goes back
  // to the card. So k means "keep all" only where j/k navigation cannot have left the focus.
  var SHORTCUTS_OFF = "zeuge.shortcuts-off";
  function shortcutsOn() {
    try { return window.localStorage.getItem(SHORTCUTS_OFF) !== "1"; } catch (err) { return true; }
  }
  function typing(el) {
    return el.matches("textarea, select, [contenteditable], input:not([type=checkbox]):not([type=radio])");
  }
  function step(delta) {
    return function (card) {
      var cards = Array.from(document.querySelectorAll("#group-list .group-card"));
      var next = cards[Math.max(0, Math.min(cards.length - 1, cards.indexOf(card) + delta))];
      if (next) { next.focus(); next.scrollIntoView({ block: "nearest" }); }
    };
  }
  function expand(card, target) {
    var button = target === card && card.querySelector("button.expand");
    if (!button) { return false; }
    button.click();
  }
  function shortcut(key) {
    return function (card) {
      var button = card.querySelector("[data-shortcut='" + key + "']");
      if (!button || button.disabled) { return false; }
      button.click();
    };
  }
  function toggleFocused(card, target) {
    var box = target.closest("figure") && target.closest("figure").querySelector("input[type=checkbox]");
    if (!box) { return false; }
    box.click();
  }
  function showKeys() {
    var help = document.getElementById("keys-help");
    if (!help) { return false; }
    window.Zeuge.openDialog(help, document.activeElement);
  }
  var ON_CARD = { j: step(1), k: step(-1), Enter: expand, "?": showKeys };
  var IN_CARD = { d: shortcut("d"), k: shortcut("k"), p: shortcut("p"), x: toggleFocused, "?": showKeys,
                  Escape: function (card) { card.focus(); } };
  document.addEventListener("keydown", function (e) {
    var target = e.target;
    var card = target.closest && target.closest("#group-list .group-card");
    if (!card || target.closest("dialog") || typing(target) || e.ctrlKey || e.metaKey || e.altKey || !shortcutsOn()) {
      return;
    }
    var keys = target.closest(".group-card.expanded .detail") ? IN_CARD : ON_CARD;
    if (keys[e.key] && keys[e.key](card, target) !== false) { e.preventDefault(); }
  });
  document.addEventListener("change", function (e) {
    if (e.target.id !== "shortcuts-on") { return; }
    try { window.localStorage.setItem(SHORTCUTS_OFF, e.target.checked ? "0" : "1"); } catch (err) { /* private mode */ }
  });
  htmx.onLoad(function (root) {
    var box = root.querySelector && root.querySelector("#shortcuts-on");
    if (box) { box.checked = shortcutsOn(); }
  });

  // The templates carry no inline handlers (the Content-Security-Policy forbids them): buttons name their
  // action in data-action, and these delegated listeners also serve cards that htmx swaps in later.
  var actions = {
    "toggle-detail": function (button) {
      var detail = button.closest("li").querySelector(".detail");
      detail.hidden = !detail.hidden;
      button.setAttribute("aria-expanded", String(!detail.hidden));
    },
    "sbs-zoom": sideBySideZoom,
    "sbs-close": sideBySideClose,
    "show-keys": showKeys,
    "close-dialog": function (button) { button.closest("dialog").close(); },
  };
  document.addEventListener("click", function (e) {
    var button = e.target.closest("[data-action]");
    if (button && actions[button.dataset.action]) { actions[button.dataset.action](button); }
  });

  // A range input with data-output shows its value in that <output> as it moves.
  document.addEventListener("input", function (e) {
    var output = e.target.dataset && e.target.dataset.output && document.getElementById(e.target.dataset.output);
    if (output) { output.value = e.target.value + (e.target.dataset.suffix || ""); }
  });

  // An error answer that htmx does not swap in place (403, 404, 500, a lost connection) is shown at the top of
  // the page; the server sends a one-line fragment for it.
  function showPageError(text) {
    var box = document.getElementById("page-error");
    if (!box) { return; }
    box.textContent = text;
    box.hidden = false;
    box.scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("htmx:responseError", function (e) {
    var holder = document.createElement("div");
    holder.innerHTML = e.detail.xhr.responseText;
    var fragment = holder.querySelector(".error-fragment");
    showPageError(fragment ? fragment.textContent : "The server answered " + e.detail.xhr.status + ".");
  });
  document.addEventListener("htmx:sendError", function () {
    showPageError("The server could not be reached. Check the connection and try again.");
  });
  document.addEventListener("htmx:beforeRequest", function () {
    var box = document.getElementById("page-error");
    if (box) { box.hidden = true; }
  });

})();
