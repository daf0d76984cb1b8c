// The review page's tabs (evidence, code, diff). Each tab is a link that works without JavaScript (the
// server draws the part it names); here a click switches in place instead, keeps the URL in step so a
// reload opens the same tab, and a hidden part's lazy pane (hx-trigger="intersect") loads once shown.
// A link to something inside a hidden tab (the rubric's links to a failure mode's evidence) opens it.
(function () {
  "use strict";

  function show(name) {
    var panels = document.querySelectorAll("[data-panel]");
    if (!document.querySelector('[data-panel="' + name + '"]')) {
      return false;
    }
    panels.forEach(function (panel) {
      panel.hidden = panel.getAttribute("data-panel") !== name;
    });
    document.querySelectorAll("a[data-tab]").forEach(function (tab) {
      if (tab.getAttribute("data-tab") === name) {
        tab.setAttribute("aria-current", "page");
      } else {
        tab.removeAttribute("aria-current");
      }
    });
    return true;
  }

  function plainClick(event) {
    return event.button === 0 && !event.metaKey && !event.ctrlKey && !event.shiftKey && !event.altKey;
  }

  document.addEventListener("click", function (event) {
    if (!plainClick(event) || !event.target.closest) {
      return;
    }
    var tab = event.target.closest("a[data-tab]");
    if (tab) {
      if (show(tab.getAttribute("data-tab"))) {
        event.preventDefault();
        history.replaceState(null, "", tab.href);
        // Read the new tab from its top, not from wherever the last one was scrolled to.
        var layout = document.querySelector(".review-layout");
        if (layout && layout.getBoundingClientRect().top < 0) {
          layout.scrollIntoView();
        }
      }
      return;
    }
    var link = event.target.closest('a[href^="#"]');
    if (link) {
      var target = document.getElementById(decodeURIComponent(link.getAttribute("href").slice(1)));
      var panel = target && target.closest("[data-panel]");
      if (panel && panel.hidden) {
        show(panel.getAttribute("data-panel"));
      }
    }
  }, true);

  // Opened at #code or #diff (a bookmark, the back button): show that tab rather than an empty page.
  document.addEventListener("DOMContentLoaded", function () {
    var target = location.hash && document.getElementById(location.hash.slice(1));
    var panel = target && target.closest("[data-panel]");
    if (panel && panel.hidden) {
      show(panel.getAttribute("data-panel"));
      target.scrollIntoView();
    }
  });
})();
