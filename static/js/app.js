// Zeuge Lite: drag-and-drop ordering (SortableJS + htmx) and uploads with per-file progress.
(function () {
  "use strict";

  function csrfToken() {
    return document.querySelector('meta[name="csrf-token"]').content;
  }

  // Sortable grids: on drop, htmx posts the form (its hidden inputs now in the new order) via the "end" trigger.
  htmx.onLoad(function (root) {
    root.querySelectorAll(".sortable").forEach(function (grid) {
      new Sortable(grid, {
        animation: 150, draggable: ".tile", ghostClass: "ghost", filter: "button, a.icon", preventOnFilter: false,
        onEnd: function (evt) { if (evt.oldIndex !== evt.newIndex) { grid.dispatchEvent(new Event("end")); } },
      });
    });
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
    var list = document.getElementById("upload-list");
    var rows = Array.from(files).map(function (f) { return addRow(list, f); });
    // One at a time, so items land in the order they were chosen or dropped.
    for (var i = 0; i < rows.length; i++) { await uploadOne(form, files[i], rows[i]); }
    document.getElementById("upload-done").hidden = false;
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
