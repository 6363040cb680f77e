/* An offline stand-in for hCaptcha's api.js, served by feedbackwidget.fakecaptcha at /1/api.js.
   FOR TESTS AND `feedbackwidget demo --captcha fake` ONLY: it asks no question of anyone.

   It implements the part of hCaptcha's JavaScript API that the widget uses:
     hcaptcha.render(container, params) -> widget id
       params: sitekey, size ("normal" | "compact" | "invisible"), theme, callback,
               "expired-callback", "error-callback" (functions, or names of global functions)
     hcaptcha.execute(id)                   -> runs the challenge, answers through callbacks
     hcaptcha.execute(id, {async: true})    -> Promise of {response, key}; rejects with an error code
     hcaptcha.reset(id), hcaptcha.getResponse(id), hcaptcha.remove(id)
   and the script parameters ?render=explicit&onload=NAME (without render=explicit it renders
   every .h-captcha element from its data-sitekey/data-size/data-callback attributes).

   Tokens come from the fake server's POST /mint, which also says how the "client" behaves:
   "ok" delivers the token; "error" calls error-callback (and rejects); "expire" delivers the
   token and then, before any promise continuation runs, calls expired-callback (the token is
   then void, as hCaptcha's are after their lifetime). It works under a strict CSP: no inline
   style or script, no eval; it only needs the fake's origin in script-src and connect-src. */
(function () {
  'use strict';
  var script = document.currentScript;
  var src = new URL(script.src);
  var origin = src.origin;
  var widgets = {};
  var counter = 0;

  function fn(value) {
    if (typeof value === 'function') return value;
    if (typeof value === 'string' && typeof window[value] === 'function') return window[value];
    return null;
  }

  function fire(widget, name, arg) {
    var callback = fn(widget.params[name]);
    if (callback) callback(arg);
  }

  function find(id) {
    if (id === undefined || id === null) {
      for (var key in widgets) return widgets[key];
      throw new Error('[fake hCaptcha] no widget rendered');
    }
    var widget = widgets[id];
    if (!widget) throw new Error('[fake hCaptcha] unknown widget id ' + id);
    return widget;
  }

  function challenge(widget) {
    return fetch(origin + '/mint', {method: 'POST'}).then(function (r) {
      if (!r.ok) throw 'network-error';
      return r.json();
    }, function () {
      throw 'network-error';
    }).then(function (answer) {
      if (answer.client === 'error') {
        widget.token = '';
        fire(widget, 'error-callback', 'challenge-error');
        throw 'challenge-error';
      }
      widget.token = answer.token;
      widget.box.setAttribute('data-hcaptcha-response', answer.token);
      fire(widget, 'callback', answer.token);
      if (answer.client === 'expire') {
        widget.token = '';
        widget.box.removeAttribute('data-hcaptcha-response');
        fire(widget, 'expired-callback');
      }
      return answer.token;
    });
  }

  function render(container, params) {
    var box = typeof container === 'string' ? document.getElementById(container) : container;
    if (!box) throw new Error('[fake hCaptcha] render: container not found');
    params = params || {};
    var data = box.dataset || {};
    var merged = {
      sitekey: params.sitekey || data.sitekey,
      size: params.size || data.size || 'normal',
      callback: params.callback || data.callback,
      'expired-callback': params['expired-callback'] || data.expiredCallback,
      'error-callback': params['error-callback'] || data.errorCallback
    };
    if (!merged.sitekey) throw new Error('[fake hCaptcha] render: missing sitekey');
    var id = 'fake-' + (++counter);
    var widget = {id: id, box: box, params: merged, token: ''};
    widgets[id] = widget;
    box.setAttribute('data-hcaptcha-widget-id', id);
    if (merged.size !== 'invisible') {
      // A visible checkbox stand-in (normal/compact): clicking it runs the challenge.
      var button = document.createElement('button');
      button.type = 'button';
      button.className = 'fake-hcaptcha-checkbox';
      button.textContent = 'Offline test captcha: I am human';
      button.addEventListener('click', function () { challenge(widget).catch(function () {}); });
      box.appendChild(button);
    }
    return id;
  }

  function execute(id, options) {
    var widget = find(id);
    var pending = challenge(widget).then(function (token) {
      return {response: token, key: 'fake-ekey'};
    });
    if (options && options.async) return pending;
    pending.catch(function () { /* reported through error-callback */ });
    return undefined;
  }

  window.hcaptcha = {
    render: render,
    execute: execute,
    reset: function (id) {
      var widget = find(id);
      widget.token = '';
      widget.box.removeAttribute('data-hcaptcha-response');
    },
    getResponse: function (id) { return find(id).token; },
    getRespKey: function () { return 'fake-ekey'; },
    remove: function (id) {
      var widget = find(id);
      while (widget.box.firstChild) widget.box.removeChild(widget.box.firstChild);
      widget.box.removeAttribute('data-hcaptcha-widget-id');
      delete widgets[widget.id];
    },
    close: function () {},
    setData: function () {}
  };

  if (src.searchParams.get('render') !== 'explicit') {
    var auto = document.querySelectorAll('.h-captcha');
    for (var i = 0; i < auto.length; i++) render(auto[i]);
  }
  var onload = fn(src.searchParams.get('onload'));
  if (onload) setTimeout(onload, 0);
})();
