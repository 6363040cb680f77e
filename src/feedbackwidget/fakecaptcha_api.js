/* Placeholder stand-in for hCaptcha's api.js (replaced by the widget work). */
(function () {
  var origin = new URL(document.currentScript.src).origin;
  var widgets = {}; var next = 1;
  function mint() { return fetch(origin + "/mint", { method: "POST" }).then(function (r) { return r.json(); }); }
  window.hcaptcha = {
    render: function (el, params) { var id = next++; widgets[id] = { params: params || {}, token: "" }; return id; },
    execute: function (id, opts) {
      var w = widgets[id || 1];
      var p = mint().then(function (m) { w.token = m.token; if (w.params.callback) w.params.callback(m.token); return { response: m.token }; });
      if (opts && opts.async) return p;
    },
    reset: function (id) { var w = widgets[id || 1]; if (w) w.token = ""; },
    getResponse: function (id) { var w = widgets[id || 1]; return w ? w.token : ""; },
    remove: function (id) { delete widgets[id]; }
  };
  var onload = new URL(document.currentScript.src).searchParams.get("onload");
  if (onload && typeof window[onload] === "function") window[onload]();
})();
