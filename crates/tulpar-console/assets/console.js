// Shows each time in the viewer's own time zone, with the UTC time the server wrote kept beside it.
"use strict";
document.querySelectorAll("time[datetime]").forEach(function (element) {
  var at = new Date(element.getAttribute("datetime"));
  if (isNaN(at.getTime())) { return; }
  var local = document.createElement("span");
  local.className = "local";
  local.textContent = at.toLocaleString(document.documentElement.lang, {
    dateStyle: "medium", timeStyle: "short"
  });
  element.insertBefore(local, element.firstChild);
});
