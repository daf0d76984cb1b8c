// The scorecard's "Download PDF" link: WeasyPrint takes seconds to draw it, and a plain download shows
// nothing meanwhile. With JavaScript the link fetches the file itself, says "Preparing the PDF…" until
// it arrives, then saves it; without JavaScript it stays a plain link. (A script file, not inline: the
// Content-Security-Policy refuses inline scripts and handlers.)
(function () {
  "use strict";

  function filenameOf(response, fallback) {
    var header = response.headers.get("Content-Disposition") || "";
    var match = /filename="?([^";]+)"?/.exec(header);
    return match ? match[1] : fallback;
  }

  function save(blob, name) {
    var url = URL.createObjectURL(blob);
    var link = document.createElement("a");
    link.href = url;
    link.download = name;
    link.hidden = true;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
  }

  function prepare(event) {
    var link = event.currentTarget;
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return; // a new tab or window: the browser's own download
    }
    event.preventDefault();
    if (link.getAttribute("aria-busy") === "true") {
      return;
    }
    var label = link.textContent;
    var status = document.querySelector(link.getAttribute("data-pdf-status") || "#pdf-status");
    function say(text) {
      if (status) { status.textContent = text; }
    }
    link.setAttribute("aria-busy", "true");
    link.textContent = "Preparing the PDF…";
    say("Preparing the PDF; this takes a few seconds.");
    fetch(link.href, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        var name = filenameOf(response, "scorecard.pdf");
        return response.blob().then(function (blob) { save(blob, name); });
      })
      .then(function () {
        link.textContent = label;
        say("The PDF is downloaded.");
      })
      .catch(function () {
        link.textContent = label;
        say("The PDF could not be prepared. Try again, or reload the page.");
      })
      .finally(function () {
        link.removeAttribute("aria-busy");
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("a[data-pdf-download]").forEach(function (link) {
      link.addEventListener("click", prepare);
    });
  });
})();
