// Upload form enhancements. Without this script the form still posts normally and the server
// checks everything; with it the size and type are checked before sending and a bar shows progress.
(function () {
  "use strict";

  function mb(bytes) {
    return (bytes / 1048576).toFixed(1).replace(/\.0$/, "") + " MB";
  }

  function problemWith(input) {
    var file = input.files && input.files[0];
    if (!file) return "";
    if (!/\.zip$/i.test(file.name)) return "Choose a .zip archive; “" + file.name + "” is not one.";
    if (file.size === 0) return "This file is empty.";
    var max = Number(input.dataset.maxBytes);
    if (max && file.size > max) {
      return "This file is " + mb(file.size) + "; the limit is " + mb(max) +
        ". Leave out virtual environments, caches and data files, then zip again.";
    }
    return "";
  }

  function check(input) {
    var message = problemWith(input);
    input.setCustomValidity(message);
    if (message) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
    var out = document.getElementById("archive-check");
    if (out) out.textContent = message;
    return message;
  }

  function uploadForm(el) {
    return el && el.closest ? el.closest("#upload-form") : null;
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("input[type=file][data-max-bytes]")) check(event.target);
  });

  // Before htmx (or the browser) sends anything: a refused file never leaves the machine.
  document.addEventListener("submit", function (event) {
    var form = uploadForm(event.target);
    if (!form) return;
    var input = form.querySelector("input[type=file][data-max-bytes]");
    if (input && check(input)) {
      event.preventDefault();
      event.stopImmediatePropagation();
      input.focus();
    }
  }, true);

  var uploaded = false;

  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = uploadForm(event.target);
    if (!form) return;
    uploaded = false;
    var box = form.querySelector(".upload-progress");
    if (box) {
      box.hidden = false;
      box.querySelector("progress").value = 0;
      box.querySelector(".progress-label").textContent = "Uploading… 0%";
    }
  });

  document.addEventListener("htmx:xhr:progress", function (event) {
    var form = uploadForm(event.target);
    if (!form || uploaded || !event.detail.lengthComputable) return;
    var box = form.querySelector(".upload-progress");
    if (!box) return;
    var percent = Math.round((100 * event.detail.loaded) / event.detail.total);
    box.querySelector("progress").value = percent;
    if (event.detail.loaded >= event.detail.total) {
      // Sent; the server now unpacks and checks the archive before storing it.
      uploaded = true;
      box.querySelector(".progress-label").textContent = "Uploaded. Checking the archive…";
    } else {
      box.querySelector(".progress-label").textContent =
        "Uploading… " + percent + "% of " + mb(event.detail.total);
    }
  });

  function failed(event) {
    var form = uploadForm(event.target);
    if (!form) return;
    var box = form.querySelector(".upload-progress");
    if (box) box.hidden = true;
    var out = document.getElementById("archive-check");
    if (out) out.textContent = "The upload did not reach us (a network or server problem). Nothing was stored; please try again.";
  }

  // A refused upload comes back as the form with its errors: move focus there, as a page load would.
  document.addEventListener("htmx:afterSettle", function (event) {
    var errors = document.getElementById("upload-errors");
    var config = event.detail && event.detail.requestConfig;
    if (errors && config && config.verb === "post") errors.focus();
  });

  document.addEventListener("htmx:sendError", failed);
  document.addEventListener("htmx:responseError", failed);
})();
