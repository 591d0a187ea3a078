// Keeps /alerts and /fleet current without a reload: every 1.5 s the page asks for itself again
// with the ETag it holds and, when the answer changed, swaps in the new <main>. It waits while
// someone is using the page (a tap, a key, a focused field in the last 3 s) or it is hidden, so a
// swap never moves a button under a finger. Without it the pages still work: forms and links.
(function () {
  "use strict";
  var etag = null, busy = false, touched = 0;
  ["pointerdown", "touchstart", "keydown", "focusin"].forEach(function (kind) {
    document.addEventListener(kind, function () { touched = Date.now(); }, true);
  });
  function inUse() {
    var a = document.activeElement;
    return Date.now() - touched < 3000 || (a && /^(INPUT|SELECT|TEXTAREA)$/.test(a.tagName));
  }
  function poll() {
    if (busy || document.hidden || inUse()) return;
    busy = true;
    var headers = etag ? { "If-None-Match": etag } : {};
    fetch(location.href, { headers: headers, credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.redirected) { location.assign(r.url); return null; }
        if (r.status !== 200) return null;
        etag = r.headers.get("ETag");
        return r.text();
      })
      .then(function (text) {
        if (!text || inUse()) return;
        var next = new DOMParser().parseFromString(text, "text/html").querySelector("main");
        var now = document.querySelector("main");
        if (next && now && next.innerHTML !== now.innerHTML) {
          now.replaceWith(document.adoptNode(next));
          document.body.dataset.updated = String(Date.now());
        }
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }
  setInterval(poll, 1500);
})();
