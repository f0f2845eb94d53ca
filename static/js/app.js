// Zeuge Lite: drag-and-drop ordering (SortableJS + htmx) and uploads with per-file progress.
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
    row.querySelector("progress").value = 100;
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
        var result;
        try { result = JSON.parse(xhr.responseText).results[0]; }
        catch (err) { result = { status: "refused", message: xhr.status === 413 ? "The file is larger than the upload limit." : "The server answered " + xhr.status + "." }; }
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
    var added = [];
    for (var i = 0; i < rows.length; i++) {
      var result = await uploadOne(form, files[i], rows[i]);
      if (result && result.status === "added") { added.push(result.item_id); }
    }
    document.getElementById("upload-done").hidden = false;
    if (form.dataset.precheckUrl && added.length) {
      htmx.ajax("POST", form.dataset.precheckUrl, { target: "#precheck", swap: "outerHTML", values: { items: added.join(",") } });
    }
    document.getElementById("live").textContent = "Upload finished: " + files.length + " files processed.";
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("upload-form");
    if (!form) { return; }
    var input = document.getElementById("file-input");
    var zone = document.getElementById("dropzone");
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (input.files.length) { uploadAll(form, Array.from(input.files)); input.value = ""; }
    });
    input.addEventListener("change", function () { if (input.files.length) { uploadAll(form, Array.from(input.files)); input.value = ""; } });
    ["dragenter", "dragover"].forEach(function (t) { zone.addEventListener(t, function (e) { e.preventDefault(); zone.classList.add("over"); }); });
    ["dragleave", "drop"].forEach(function (t) { zone.addEventListener(t, function (e) { e.preventDefault(); zone.classList.remove("over"); }); });
    zone.addEventListener("drop", function (e) { if (e.dataTransfer.files.length) { uploadAll(form, Array.from(e.dataTransfer.files)); } });
  });
})();

// Similarity review: j/k move between group cards, Enter expands; side-by-side compare at one zoom; the
// data-action buttons of the group cards.
(function () {
  "use strict";
  document.addEventListener("keydown", function (e) {
    // Single-key shortcuts act only while the focus is in the list of groups (WCAG 2.1.4): typing elsewhere on
    // the page, or with a speech-input tool, never moves through the cards.
    if (!e.target.closest("#group-list") || e.target.closest("input, textarea, select") ||
        e.ctrlKey || e.metaKey || e.altKey) { return; }
    var cards = Array.from(document.querySelectorAll(".group-card"));
    if (!cards.length) { return; }
    var index = cards.indexOf(document.activeElement);
    if (e.key === "j" || e.key === "k") {
      var next = e.key === "j" ? Math.min(cards.length - 1, index + 1) : Math.max(0, index - 1);
      cards[next].focus();
      cards[next].scrollIntoView({ block: "nearest" });
      e.preventDefault();
    } else if (e.key === "Enter" && index >= 0 && document.activeElement === cards[index]) {
      var expand = cards[index].querySelector("button.expand");
      if (expand) { expand.click(); e.preventDefault(); }
    }
  });

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
    "close-dialog": function (button) { button.closest("[role=alertdialog]").remove(); },
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

  document.addEventListener("htmx:afterSwap", function (e) {
    var status = document.getElementById("groups-status") || e.detail.target.querySelector("[role=status]");
    if (status) { document.getElementById("live").textContent = status.textContent; }
  });
})();
