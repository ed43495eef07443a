/* Forms with a data-confirm attribute ask before they submit (instead of an inline onsubmit,
   which the Content-Security-Policy does not run). */
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});
