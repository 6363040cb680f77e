/* feedbackwidget embed script: "Do you like this article?" under every
   [data-feedback-article] element. Embedding, consent hook, CSP: docs/widget.md.
   Readable source: static/src/widget.js; static/widget.js is its terser build
   (docs/widget.md, "Building"). When serving it, the server replaces
   __FEEDBACKWIDGET_CONFIG__ with {sitekey, captcha (script URL), css, html (the widget's
   markup, shared with the /embed page), m (English "error" and "retry", shown when even the
   reader's strings could not be loaded)}. Message keys are those of static/i18n.json; API
   error codes double as keys (rate_limited, captcha_failed). */
(() => {
  const C = __FEEDBACKWIDGET_CONFIG__;
  const D = document, W = window, S = D.currentScript;
  if (!S) return;
  const BASE = S.src.replace(/\/widget\.js([?#].*)?$/, '');
  const ATTR = 'data-feedback-article', TEXT = 'data-feedback-text-', KEY = 'feedbackwidget:' + BASE;
  if (W[KEY]) return;   // this server's script is already running on the page
  W[KEY] = 1;
  const langs = {};   // language code -> {m: strings, dir}, as received from the server
  const widgets = new WeakMap(), loading = new Map();
  let sheet, captchaReady, consented, memo;

  // The signed voter token: localStorage when the page may use it, memory at least (a
  // cross-site iframe without storage access still keeps one identity while it is open).
  const voter = (v) => {
    if (v) memo = v;
    try {
      if (v) localStorage.setItem(KEY, v); else memo = localStorage.getItem(KEY) || memo;
    } catch (e) { /* storage blocked */ }
    return memo;
  };
  const all = () => [...D.querySelectorAll('[' + ATTR + ']')].map((el) => widgets.get(el)).filter(Boolean);

  // One HTTP call to the widget server; rejects with a catalogue key.
  async function call(method, path, body, simple) {
    const headers = {}, token = voter();
    if (body) headers['Content-Type'] = simple ? 'text/plain;charset=UTF-8' : 'application/json';
    if (token && !simple) headers['X-Feedback-Voter'] = token;
    let r, j = {};
    try {
      r = await fetch(BASE + path, {method, headers, body: body && JSON.stringify(body)});
      j = await r.json();
    } catch (e) {
      if (!r) throw 'network';
    }
    if (!r.ok) throw r.status > 499 ? 'unavailable' : r.status === 404 ? 'not_found' : j.error || 'error';
    if (j.voter) voter(j.voter);
    return j;
  }

  function mount(el) {
    const id = el.getAttribute(ATTR);
    let w = widgets.get(el), box = el.querySelector('form.fw');
    if (w) {   // an element reused by a single-page app for another article
      if (id && w.id !== id) { w.id = id; w.s = w.msg = w.err = null; paint(w); load(w); }
      return;
    }
    if (!id) return;
    w = {el, id, host: el, lang: (el.closest('[lang]') || D.documentElement).lang.toLowerCase().split(/[-_]/)[0] || 'en'};
    if (box) {   // the server-rendered /embed page: enhance its form in place
      w.host = box;
      try {
        langs[w.lang] = {m: JSON.parse(el.dataset.feedbackMessages), dir: box.dir};
        w.msg = el.dataset.feedbackStatus;   // why a form vote was refused, if it was
        w.s = JSON.parse(el.dataset.feedbackSentiment);
      } catch (e) { /* load them instead */ }
    } else {
      let root;
      try { root = el.attachShadow({mode: 'open'}); } catch (e) {
        root = (w.host = el.appendChild(D.createElement('div'))).attachShadow({mode: 'open'});
      }
      if (!sheet) (sheet = new CSSStyleSheet()).replaceSync(C.css);   // no <style>: strict CSP
      root.adoptedStyleSheets = [sheet];
      box = root.appendChild(D.createElement('div'));
      box.className = 'fw';
      box.innerHTML = C.html + '<slot name=captcha></slot>';   // constant markup from the server
    }
    const $ = (c) => box.querySelector('.fw-' + c);
    [w.y, w.n] = box.querySelectorAll('.fw-b');
    Object.assign(w, {box, r: $('r'), t: $('t'), m: $('m'), a: $('a')});
    for (const b of [w.y, w.n]) b.addEventListener('click', (e) => { e.preventDefault(); vote(w, b.value); });
    w.a.addEventListener('click', () => (w.err ? w.retry() : withdraw(w)));
    widgets.set(el, w);
    paint(w);
    if (!w.s || voter()) load(w);
  }

  // Render the widget from its state. Only server-confirmed sentiment is ever shown.
  function paint(w) {
    const b = langs[w.lang], s = w.s, mine = s && s.your_vote, box = w.box, m = {...C.m, ...b && b.m};
    for (const a of w.el.attributes) if (a.name.startsWith(TEXT)) m[a.name.slice(TEXT.length).replace(/-/g, '_')] = a.value;
    box.classList.toggle('fw-wait', !b);
    if (b) { box.lang = w.lang; box.dir = b.dir; }
    box.setAttribute('aria-busy', !!w.busy);
    for (const e of box.querySelectorAll('[data-t]')) e.textContent = m[e.dataset.t];
    w.r.setAttribute('aria-label', m.question);
    w.y.setAttribute('aria-pressed', mine === 'up');
    w.n.setAttribute('aria-pressed', mine === 'down');
    const tally = s ? m.tally.replace('{up}', s.up).replace('{down}', s.down) : '';
    const key = w.err || w.msg, act = w.err ? m.retry : mine && b ? m.withdraw : '';
    w.t.textContent = tally;
    if (w.said !== key + tally) {   // touch the live region only when its message changes
      w.said = key + tally;
      w.m.textContent = key ? m[key] || m.error : '';
      if (key === 'thanks' || key === 'withdrawn') w.m.append(Object.assign(D.createElement('span'), {className: 'fw-vh', textContent: ' ' + tally}));
    }
    if (!act && w.a === (w.host.shadowRoot || D).activeElement) (mine === 'down' ? w.n : w.y).focus();
    w.a.textContent = act;
    w.a.hidden = !act;
  }

  function show(id, s, w, msg) {
    for (const x of all()) {
      if (x.id !== id) continue;
      x.s = s;
      if (x === w) { x.msg = msg; x.err = null; }
      paint(x);
    }
  }

  function fail(w, key, retry) {
    w.busy = 0;
    w.err = key;
    w.retry = () => { w.err = null; retry(); };
    paint(w);
  }

  function load(w) {
    const id = w.id, token = voter(), lang = langs[w.lang] ? '' : w.lang, k = id + ' ' + lang;
    let p = loading.get(k);
    if (!p) {
      p = token
        ? call('POST', '/api/v1/sentiment', {article_id: id, voter: token, lang: lang || undefined}, 1)
        : call('GET', '/api/v1/articles/' + encodeURIComponent(id) + (lang ? '?lang=' + encodeURIComponent(lang) : ''));
      loading.set(k, p);
      p.then(() => loading.delete(k), () => loading.delete(k));
    }
    p.then((j) => {
      if (j.messages) langs[w.lang] = {m: j.messages, dir: j.dir};
      if (w.id === id) { w.s = j; w.err = null; paint(w); }
    }, (key) => fail(w, key, () => load(w)));
  }

  // hCaptcha: nothing is fetched before the first vote, and the publisher's consent hook
  // (window.feedbackWidgetConsent) is asked first.
  async function captcha(w) {
    if (!consented) {
      const hook = W.feedbackWidgetConsent;
      try { consented = !hook || !!(await hook()); } catch (e) { consented = false; }
      if (!consented) throw 'consent';
    }
    captchaReady = captchaReady || new Promise((ok, no) => {
      const cb = 'feedbackWidgetCaptcha' + Date.now(), s = D.createElement('script');
      W[cb] = ok;
      s.onerror = () => no('network');
      s.async = true;
      s.src = C.captcha + (C.captcha.includes('?') ? '&' : '?') + 'render=explicit&recaptchacompat=off&onload=' + cb;
      D.head.append(s);
    }).catch((e) => { captchaReady = null; throw e; });
    await captchaReady;
    const hc = W.hcaptcha;
    if (w.hid === undefined) {
      const slot = w.host.appendChild(D.createElement('div'));
      slot.slot = 'captcha';
      w.hid = hc.render(slot, {sitekey: C.sitekey, size: 'invisible', 'expired-callback': () => { w.expired = 1; }});
    }
    w.expired = 0;
    let r;
    try { r = await hc.execute(w.hid, {async: true}); } catch (e) {
      throw /expired/.test(e) ? 'expired' : 'captcha_failed';
    } finally { w.used = 1; }
    if (w.expired || !r || !r.response) throw 'expired';
    return r.response;
  }

  async function vote(w, value) {
    if (w.busy || (w.s && w.s.your_vote === value && !w.err)) return;
    const id = w.id, el = w.el, body = {article_id: id, vote: value};
    w.busy = 1;
    w.err = w.msg = null;
    paint(w);
    try {
      body.captcha_token = await captcha(w);
      for (const f of ['title', 'version', 'signed']) {
        const v = el.getAttribute('data-feedback-' + f);
        if (v) body[f] = v;
      }
      const j = await call('POST', '/api/v1/votes', body);
      w.busy = 0;
      show(id, j.sentiment, w, 'thanks');
      // "Why not?" (REASONS set): a separate module, fetched only now.
      if (value === 'down' && C.why) import(BASE + '/widget-reasons.js?lang=' + w.lang).then((x) => x.default(w, call), () => 0);
    } catch (key) {
      fail(w, typeof key === 'string' ? key : 'captcha_failed', () => vote(w, value));
    } finally {
      if (w.used) { w.used = 0; try { W.hcaptcha.reset(w.hid); } catch (e) { /* already gone */ } }
    }
  }

  async function withdraw(w) {
    if (w.busy) return;
    const id = w.id;
    w.busy = 1;
    paint(w);
    try {
      const j = await call('DELETE', '/api/v1/votes/' + encodeURIComponent(id));
      w.busy = 0;
      show(id, j.sentiment || j, w, 'withdrawn');
    } catch (key) {
      w.busy = 0;
      if (key === 'not_found') { w.msg = 'withdrawn'; load(w); } else fail(w, key, () => withdraw(w));
    }
  }

  const scan = () => { for (const el of D.querySelectorAll('[' + ATTR + ']')) mount(el); };
  new MutationObserver(scan).observe(D.documentElement, {childList: true, subtree: true, attributes: true, attributeFilter: [ATTR]});
  // A page restored from the back/forward cache shows fresh numbers, not the old ones.
  W.addEventListener('pageshow', (e) => { if (e.persisted) for (const w of all()) load(w); });
  scan();
})();
