// Times are rendered in UTC on the server (readable without JavaScript); here they are shown in the
// reader's own time zone, with the UTC original kept as the tooltip. <time data-local datetime="ISO">.
(function () {
  "use strict";
  var format = new Intl.DateTimeFormat("en-GB", {
    weekday: "short", day: "numeric", month: "short", year: "numeric",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short",
  });
  function localise(root) {
    var nodes = root.querySelectorAll ? root.querySelectorAll("time[data-local]:not([data-localised])") : [];
    Array.prototype.forEach.call(nodes, function (node) {
      var moment = new Date(node.getAttribute("datetime"));
      if (isNaN(moment.getTime())) return;
      node.title = node.textContent.trim();
      node.textContent = format.format(moment).replace(",", "");
      node.setAttribute("data-localised", "");
    });
  }
  document.addEventListener("DOMContentLoaded", function () { localise(document); });
  document.addEventListener("htmx:afterSwap", function (event) { localise(event.target); });
})();
