// <form data-confirm="Question?">: the browser asks before the form is sent, and nothing is sent on
// Cancel. An inline onsubmit would be refused by the Content-Security-Policy. It listens in the capture
// phase so that it also runs before htmx sends a form that has hx-post.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopPropagation();
    }
  }, true);
})();
