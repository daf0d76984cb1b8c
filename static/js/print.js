// The scorecard's Print button: hidden in the markup (it does nothing without JavaScript), shown and
// wired here because the Content-Security-Policy refuses inline scripts and onclick attributes.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { window.print(); });
    });
  });
})();
