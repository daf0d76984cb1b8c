// Times are rendered on the server in the site's zone, named (readable without JavaScript); here
// they are shown in the reader's own zone, with the server's text kept as the tooltip.
// <time datetime="ISO" data-local="long|datetime|short|seconds|date">; see assessments/templatetags/local_time.py.
(function () {
  "use strict";
  var zone = { timeZoneName: "short" };
  var styles = {
    long: { weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" },
    datetime: { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" },
    short: { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" },
    seconds: { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", second: "2-digit" },
    date: { day: "numeric", month: "short", year: "numeric" },
  };
  var formats = {};
  Object.keys(styles).forEach(function (name) {
    var options = Object.assign({}, styles[name], name === "date" ? {} : zone);
    formats[name] = new Intl.DateTimeFormat("en-GB", options);
  });
  function localise(root) {
    var nodes = root.querySelectorAll ? root.querySelectorAll("time[data-local]:not([data-localised])") : [];
    Array.prototype.forEach.call(nodes, function (node) {
      var moment = new Date(node.getAttribute("datetime"));
      if (isNaN(moment.getTime())) return;
      var style = formats[node.getAttribute("data-local")] ? node.getAttribute("data-local") : "long";
      var text = formats[style].format(moment).replace(/^(\w{3}),/, "$1");
      // en-GB writes "Fri, 27 Nov 2026, 14:00 GMT+9"; the server's styles (local_time.STYLES) write
      // "Fri 27 Nov 2026, 14:00 GMT+9" (long) and "27 Nov 2026 14:00 GMT+9" (the others).
      if (style !== "long") text = text.replace(/, (?=\d{2}:)/, " ");
      node.title = node.textContent.trim();
      node.textContent = text;
      node.setAttribute("data-localised", "");
    });
  }
  document.addEventListener("DOMContentLoaded", function () { localise(document); });
  document.addEventListener("htmx:afterSwap", function (event) { localise(event.target); });
})();
