// custos inbox: live updates for the inbox list and a conversation's
// thread, and the 24-hour window's countdown. The pages work without it
// (a reload shows the same); it is the console's only script, served
// from the server itself (CSP script-src 'self').
//
// Each live element names its events stream (data-events), the fragment
// that re-renders it (data-fragment) and the signature of what it shows
// (data-sig). The server sends one `changed` event when the signature
// moves (then the fragment is fetched and swapped in, and the stream
// reopened with the new signature) or `end` when the stream's lifetime
// is over (reopened as it is).
(function () {
  "use strict";

  function watch(el) {
    var source = null;
    function open() {
      var url = el.dataset.events + "?sig=" + encodeURIComponent(el.dataset.sig || "");
      source = new EventSource(url);
      source.addEventListener("changed", function (e) {
        source.close();
        if (e.data === "gone") {
          // Transferred out of this reader's sight: the reload says so.
          window.location.reload();
        } else {
          refresh();
        }
      });
      source.addEventListener("end", function () {
        source.close();
        open();
      });
    }
    function refresh() {
      fetch(el.dataset.fragment, { credentials: "same-origin" })
        .then(function (r) {
          if (!r.ok) {
            throw new Error("status " + r.status);
          }
          var sig = r.headers.get("x-inbox-sig");
          if (sig) {
            el.dataset.sig = sig;
          }
          return r.text();
        })
        .then(function (html) {
          el.innerHTML = html;
          el.dispatchEvent(new CustomEvent("inbox:refreshed"));
          open();
        })
        .catch(function () {
          // Out of sight now (transferred away) or the server is gone:
          // try again later; a reload shows the truth.
          setTimeout(open, 3000);
        });
    }
    open();
  }

  function tick() {
    var now = Date.now() * 1000;
    document.querySelectorAll(".countdown[data-closes]").forEach(function (c) {
      var left = Math.max(0, Math.floor((Number(c.dataset.closes) - now) / 60000000));
      c.textContent = left + " min";
    });
  }

  function start() {
    if (!window.EventSource || !window.fetch) {
      return;
    }
    document.querySelectorAll("[data-events][data-fragment]").forEach(function (el) {
      if (!el.dataset.static) {
        watch(el);
      }
    });
    tick();
    setInterval(tick, 30000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
