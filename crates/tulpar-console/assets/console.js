// The console's only script. It shows times in the viewer's own zone beside the UTC the server wrote,
// keeps the alert list live (Server-Sent Events from the node, then the list fetched again), and,
// once the person turns them on, sounds and notifies on an urgent arrival. Every word it shows comes
// from the page, which took it from the catalogs.
"use strict";

function localTimes(root) {
  root.querySelectorAll("time[datetime]").forEach(function (element) {
    if (element.querySelector(".local")) { return; }
    var at = new Date(element.getAttribute("datetime"));
    if (isNaN(at.getTime())) { return; }
    var local = document.createElement("span");
    local.className = "local";
    local.textContent = at.toLocaleString(document.documentElement.lang, {
      dateStyle: "medium", timeStyle: "short"
    });
    element.insertBefore(local, element.firstChild);
  });
}

var signals = { on: false, audio: null };

function beep() {
  if (!signals.audio) { return; }
  [0, 0.35].forEach(function (start) {
    var tone = signals.audio.createOscillator();
    var gain = signals.audio.createGain();
    tone.frequency.value = 880;
    gain.gain.value = 0.2;
    tone.connect(gain).connect(signals.audio.destination);
    tone.start(signals.audio.currentTime + start);
    tone.stop(signals.audio.currentTime + start + 0.25);
  });
}

function signalUrgent(button) {
  if (!signals.on) { return; }
  beep();
  if (window.Notification && Notification.permission === "granted") {
    new Notification(button.getAttribute("data-urgent-title"));
  }
}

function setUpSignals() {
  var button = document.getElementById("enable-signals");
  if (!button) { return null; }
  button.hidden = false;
  button.addEventListener("click", function () {
    var Audio = window.AudioContext || window.webkitAudioContext;
    if (Audio) { signals.audio = new Audio(); }
    if (window.Notification && Notification.permission === "default") {
      Notification.requestPermission();
    }
    signals.on = true;
    button.textContent = button.getAttribute("data-enabled");
    button.disabled = true;
  });
  return button;
}

function setUpLiveList(button) {
  var list = document.getElementById("alert-list");
  if (!list || !window.EventSource) { return; }
  var refresh = function () {
    fetch(list.getAttribute("data-rows"), { credentials: "same-origin" })
      .then(function (answer) { return answer.ok ? answer.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        list.innerHTML = html;
        localTimes(list);
        countdowns();
      });
  };
  var source = new EventSource(list.getAttribute("data-live"));
  // Whatever happened while the stream was not open is in the list fetched on (re)opening.
  source.addEventListener("open", refresh);
  source.addEventListener("message", function (message) {
    var event = JSON.parse(message.data);
    refresh();
    if (event.kind === "ALERT_EVENT_KIND_ALERT_RECEIVED" && event.priority === "PRIORITY_URGENT" && button) {
      signalUrgent(button);
    }
  });
}

// Each awaited acknowledgement counts down to its deadline, and turns to "overdue" when it passes.
function countdowns() {
  var list = document.getElementById("alert-list");
  if (!list) { return; }
  var template = list.getAttribute("data-left");
  list.querySelectorAll(".countdown[data-deadline]").forEach(function (element) {
    var left = new Date(element.getAttribute("data-deadline")).getTime() - Date.now();
    if (isNaN(left)) { return; }
    if (left <= 0) {
      element.textContent = list.getAttribute("data-overdue");
      element.className = "overdue";
      return;
    }
    var seconds = Math.floor(left / 1000);
    var hours = Math.floor(seconds / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var two = function (n) { return String(n).padStart(2, "0"); };
    var text = (hours > 0 ? hours + ":" + two(minutes) : String(minutes)) + ":" + two(seconds % 60);
    element.textContent = template.replace("{left}", text);
  });
}

// On an alert's page, each recipient's state and timeline follow the events of that alert: the page
// is fetched again and only that part replaced, so a form being filled in is left alone.
function setUpLiveAlert() {
  var part = document.getElementById("recipients");
  if (!part || !window.EventSource) { return; }
  var alertId = part.getAttribute("data-alert");
  var refresh = function () {
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (answer) { return answer.ok ? answer.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("recipients");
        if (!fresh) { return; }
        part.innerHTML = fresh.innerHTML;
        localTimes(part);
      });
  };
  var source = new EventSource(part.getAttribute("data-live"));
  var opened = 0;
  // A reopened stream may have missed an event: the part is fetched again then too.
  source.addEventListener("open", function () { if (opened++ > 0) { refresh(); } });
  source.addEventListener("message", function (message) {
    if (JSON.parse(message.data).alertId === alertId) { refresh(); }
  });
}

// "Verify the ledger now": the node streams its progress; the stream is closed once done, or the
// browser would open it again and start another verification.
function setUpVerify() {
  var section = document.getElementById("verify");
  if (!section || !window.EventSource) { return; }
  var start = document.getElementById("verify-start");
  var bar = document.getElementById("verify-progress");
  var count = document.getElementById("verify-count");
  var result = document.getElementById("verify-result");
  start.addEventListener("click", function () {
    start.disabled = true;
    result.textContent = "";
    result.className = "";
    var source = new EventSource(section.getAttribute("data-events"));
    source.addEventListener("message", function (message) {
      var progress = JSON.parse(message.data);
      if (progress.error) {
        source.close();
        result.textContent = progress.error.message || "";
        result.className = "notice bad";
        start.disabled = false;
        return;
      }
      var total = Number(progress.total || 0);
      var checked = Number(progress.checked || 0);
      bar.max = Math.max(total, 1);
      bar.value = checked;
      count.textContent = count.getAttribute("data-template")
        .replace("{checked}", checked).replace("{total}", total);
      if (progress.done) {
        source.close();
        result.textContent = progress.message;
        result.className = progress.ok ? "notice good" : "notice bad";
        start.disabled = false;
      }
    });
    source.addEventListener("error", function (event) {
      source.close();
      start.disabled = false;
      if (event.data) {
        result.textContent = (JSON.parse(event.data).message || "");
        result.className = "notice bad";
      }
    });
  });
}

localTimes(document);
countdowns();
setUpVerify();
setUpLiveAlert();
setInterval(countdowns, 1000);
setUpLiveList(setUpSignals());
