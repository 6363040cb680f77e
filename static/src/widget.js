/* feedbackwidget embed script: "Do you like this article?" under every [data-feedback-article]
   element. Embedding, binding rules, events, consent hook, CSP: docs/widget.md.

   This file is the first view: it finds the elements, binds each to its article and shows
   the question, the tally and the reader's own vote. What only a reader who presses something
   needs (captcha, votes, withdrawals, their retries and messages) is static/src/actions.js,
   imported from the widget's server on the first press.

   The build (static/build/build.mjs) makes three scripts of it: widget.js for publisher pages
   (the widget in a shadow root), widget-sites.js (the same for a server with sites: SITES)
   and embed.js for the /embed page (the server-rendered form, enhanced in place); EMBED and
   SITES are build-time constants, and the build drops the branches they rule out. Naming rule: a property whose name starts with "_" and a lowercase
   letter is internal, and the build renames it; every other property name crosses a boundary
   (the DOM, JSON from the server, the configuration literal, event details) and is kept.

   When serving it, the server replaces __FEEDBACKWIDGET_CONFIG__ with {css and html (the
   widget's stylesheet and markup; widget.js only), m (English "error" and "retry", shown when
   even the reader's strings could not be loaded)}. */
(() => {
  const CONFIG = __FEEDBACKWIDGET_CONFIG__;
  const doc = document, win = window, script = doc.currentScript;
  if (!script) return;
  const base = script.src.replace(/\/[\w-]+\.js([?#].*)?$/, '');   // …/widget.js or …/embed.js
  const PREFIX = 'data-feedback-', ARTICLE = PREFIX + 'article', storageKey = 'feedbackwidget:' + base;
  if (win[storageKey]) return;   // this server's script is already running on the page
  win[storageKey] = 1;

  const bundles = {};             // language -> {_lang, _dir, _messages}: the first view's strings
  const later = {};               // language -> the actions module's strings (results, errors)
  const modules = {};             // its URL (language, site) -> promise of the actions module
  const articles = new Map();     // "declared-site id" -> {_sentiment}: the newest the server said
  const loading = new Map();      // "declared-site id lang" -> [promise, the article's _sentiment when it was sent]
  const widgets = new WeakMap();  // element -> widget
  let sheet, remembered, logic;

  // The signed voter token: localStorage when the page may use it, memory at least (a
  // cross-site iframe without storage access still keeps one identity while it is open).
  const voter = (token) => {
    if (token) remembered = token;
    try {
      if (token) localStorage.setItem(storageKey, token); else remembered = localStorage.getItem(storageKey) || remembered;
    } catch (e) { /* storage blocked */ }
    return remembered;
  };
  // Several sites on one server (docs/widget.md): a binding's site is the one its element
  // declares (data-feedback-site), else the one the server's answers named for the page
  // (api._named; a single-site server names none). Every request to the server and every
  // event carries it when known, and nothing else changes; an article is known per declared site.
  // SITES is true in the build a server with sites serves (widget-sites.js) and in embed.js;
  // widget.js, for a server with one site, drops all of it (the first view's bytes).
  const site = (binding) => binding._attrs.site || api._named;
  const at = SITES
    ? (binding, path, url = new URL(base + path), s = site(binding)) => (s && url.searchParams.set('site', s), url)
    : (binding, path) => base + path;   // (actions.js's; the first view writes base + path itself)
  const emit = (binding, name, detail) => binding._widget._element.dispatchEvent(new CustomEvent('feedbackwidget:' + name,
    {bubbles: true, composed: true, detail: {article_id: binding._article, ...detail, ...SITES && site(binding) && {site: site(binding)}}}));
  const state = (binding, k = SITES ? [binding._attrs.site] + ' ' + binding._article : binding._article) =>
    articles.get(k) || articles.set(k, {}).get(k);
  const current = (binding) => binding._widget._binding === binding;
  // The widgets in the page that show an article (data-feedback-article="" shows none).
  const attached = () => [...doc.querySelectorAll('[' + ARTICLE + ']')].map((el) => widgets.get(el)).filter((w) => w && w._binding);

  // The /embed page inside a frame under another site: its requests are same-origin to Fetch
  // Metadata, yet the browser files their cookies as third-party and rejects all but the
  // partitioned one (Firefox says so in the console). Telling the server lets it send only that.
  let frame = {};
  if (EMBED) {
    try {
      frame = win.top === win || win.top.location.href ? {} : frame;
    } catch (e) {
      frame = {'X-Feedback-Frame': 'cross-site'};   // the top page is another origin's
    }
  }
  // A read from the widget server: a GET, or a CORS-simple POST (text/plain body, no custom
  // header on publisher pages: no preflight). Rejects with a catalogue key.
  const read = (binding, path, body) => fetch(SITES ? at(binding, path) : base + path, body && {method: 'POST', headers: frame, body: JSON.stringify(body)}).then(
    (response) => (response.ok ? response.json() : Promise.reject('unavailable')), () => Promise.reject('network'));

  // The actions module for one language. Its code is the same in every language: the first
  // one loaded does the work (one captcha, one write queue), each adds its strings.
  // Per site too (its captcha key, its reasons): the first one loaded still does the work, and
  // each press hands it the module of the binding's own site (actions.js, press()).
  const actions = SITES
    ? (binding, url = at(binding, '/widget-actions.js?lang=' + binding._lang)) => (modules[url] = modules[url] || import(url).then(
      (module) => { later[binding._lang] = module.default._strings; logic = logic || module.default; return module.default; },
      () => { delete modules[url]; throw 'network'; }))
    : (binding, lang = binding._lang) => (modules[lang] = modules[lang] || import(base + '/widget-actions.js?lang=' + lang).then(
      (module) => (later[lang] = module.default._strings, logic = logic || module.default),
      () => { delete modules[lang]; throw 'network'; }));

  // A binding is one element showing one article in one language with one set of texts; any
  // change of those makes a new binding. Operations keep the binding they started on, so
  // nothing of an old binding is ever shown on the element or acts for it (docs/widget.md).
  function bind(widget) {
    const el = widget._element, attrs = {}, old = widget._binding;
    // The language tag as written (the element's, inherited, or the page's): the server maps it
    // to a supported language (fa-IR -> fa, unknown -> en).
    const lang = (el.closest('[lang]') || doc.documentElement).lang || 'en';
    for (const a of el.attributes) if (a.name.startsWith(PREFIX)) attrs[a.name.slice(PREFIX.length)] = a.value;
    const key = JSON.stringify([lang, el.dir, attrs]), id = attrs.article;
    if (old && old._key === key) {   // unchanged; repaint only what changed while it was detached
      if (widget._seen !== state(old)._sentiment) paint(widget);
      return;
    }
    const binding = (widget._binding = id
      ? {_widget: widget, _key: key, _article: id, _lang: lang, _dir: el.dir, _attrs: attrs, _shown: old && old._article === id && old._shown}
      : null);
    if (old && logic) logic._release(old);   // its reasons picker and captcha, if it had any
    if (binding && (!bundles[lang] || (old ? old._article !== id : !state(binding)._sentiment || voter()))) load(binding);
    paint(widget);
  }

  // Render a widget from its current binding. Only server-confirmed sentiment is ever shown.
  function paint(widget) {
    const binding = widget._binding, box = widget._box;
    box.hidden = !binding;
    if (!binding) return;
    const bundle = bundles[binding._lang], sentiment = state(binding)._sentiment;
    const mine = sentiment && sentiment.your_vote, attrs = binding._attrs;
    const m = {...CONFIG.m, ...bundle && bundle._messages, ...later[binding._lang]};
    for (const name in attrs) if (name.startsWith('text-')) m[name.slice(5).replace(/-/g, '_')] = attrs[name];
    widget._seen = sentiment;
    box.classList.toggle('fw-wait', !bundle);
    if (bundle) { box.lang = bundle._lang; box.dir = binding._dir || bundle._dir; }
    if (EMBED) box.setAttribute('aria-busy', !!binding._busy);   // also tells embed.css that the script runs
    for (const e of box.querySelectorAll('[data-t]')) e.textContent = m[e.dataset.t];
    for (const button of widget._buttons) button.setAttribute('aria-pressed', mine === button.value);
    const tally = sentiment && bundle ? m.tally.replace('{up}', sentiment.up).replace('{down}', sentiment.down) : '';
    const key = binding._error || binding._status, act = binding._error ? m.retry : mine && bundle ? m.withdraw : '';
    const said = widget._said !== key + tally;   // touch the live region only when its message changes
    widget._tally.textContent = tally;
    if (said) widget._message.textContent = key ? m[key] || m.error : '';
    widget._said = key + tally;
    if (logic) logic._painted(widget, said && key, tally, act, mine);   // what only follows a press
    widget._action.textContent = act;
    widget._action.hidden = !act;
    if (tally && !binding._shown) {
      binding._shown = 1;
      emit(binding, 'shown', {vote: mine});
    }
  }

  // After news from the server (a tally, a language's strings): paint every widget in the page,
  // and the binding's own even if it is detached. Painting a widget nothing changed for is cheap.
  function repaint(binding) {
    for (const widget of attached()) paint(widget);
    paint(binding._widget);
  }

  // Show a failure with its "Try again" (retry), and say so to the page.
  function fail(binding, key, retry, action, value) {
    binding._busy = 0;
    binding._error = key;
    binding._retry = retry;
    emit(binding, 'error', {error: key, action, vote: value});
    paint(binding._widget);
    actions(binding).then(() => paint(binding._widget), () => 0);   // the message in the reader's language
  }

  function load(binding) {
    // Always with the language: one cacheable URL per article and language, and the strings
    // come along at no extra request.
    const id = binding._article, article = state(binding), lang = binding._lang, k = (SITES ? [binding._attrs.site] + ' ' : '') + id + ' ' + lang;
    let entry = loading.get(k);
    if (!entry || entry[1] !== article._sentiment) {   // never join a read older than what is known
      const token = voter();
      entry = [token
        ? read(binding, '/api/v1/sentiment', {article_id: id, voter: token, lang})
        : read(binding, '/api/v1/articles/' + encodeURIComponent(id) + '?lang=' + lang), article._sentiment];
      loading.set(k, entry);
      entry[0].catch(() => loading.delete(k));   // a retry must not join a failed read
    }
    const [request, before] = entry;
    request.then((answer) => {
      if (answer.voter) voter(answer.voter);   // re-issued: past half its life, or signed by an older key
      if (SITES) binding._attrs.site || (api._named = answer.site);
      bundles[lang] = {_lang: answer.lang, _dir: answer.dir, _messages: answer.messages};
      if (article._sentiment === before) article._sentiment = answer;   // else something newer came first
      repaint(binding);
    }, (key) => current(binding) && fail(binding, key, () => load(binding), 'load'));
  }

  // Yes, No (value) or the action button (no value): the actions module decides. (An element
  // without an article hides its widget, so there is always a binding to press.)
  const press = (binding, value) => actions(binding).then(
    (module) => logic._press(api, binding, value, module),
    (key) => fail(binding, key, () => press(binding, value), value ? 'vote' : 'withdraw', value));

  const api = {_voter: voter, _state: state, _current: current, _paint: paint, _repaint: repaint,
    _emit: emit, _fail: fail, _load: load, _at: at, _frame: frame};

  function mount(el) {
    let widget = widgets.get(el), box, host = el, root;
    if (widget) return bind(widget);
    if (EMBED) {   // embed.js on the server-rendered /embed page: enhance its form in place
      host = box = el.querySelector('form.fw');
      try {
        bundles[box.lang] = {_lang: box.lang, _dir: box.dir, _messages: JSON.parse(el.dataset.feedbackMessages)};
        state({_attrs: {site: el.dataset.feedbackSite}, _article: el.getAttribute(ARTICLE)})._sentiment = JSON.parse(el.dataset.feedbackSentiment);
      } catch (e) { /* load them instead */ }
    } else {
      try { root = el.attachShadow({mode: 'open'}); } catch (e) {
        root = (host = el.appendChild(doc.createElement('div'))).attachShadow({mode: 'open'});
      }
      if (!sheet) (sheet = new CSSStyleSheet()).replaceSync(CONFIG.css);   // no <style>: strict CSP
      root.adoptedStyleSheets = [sheet];
      box = root.appendChild(doc.createElement('div'));
      box.className = 'fw';
      box.innerHTML = CONFIG.html + '<slot name=captcha></slot>';   // constant markup from the server
    }
    const part = (name) => box.querySelector('.fw-' + name), buttons = [...box.querySelectorAll('.fw-b')];   // Yes, No
    widget = {_element: el, _host: host, _box: box, _buttons: buttons, _tally: part('t'), _message: part('m'), _action: part('a')};
    for (const button of buttons) {
      button.addEventListener('click', (e) => {
        if (EMBED) e.preventDefault();   // the script votes, not the form
        press(widget._binding, button.value);
      });
    }
    widget._action.addEventListener('click', () => press(widget._binding));
    // The module is fetched as the press begins, so the click rarely waits for it.
    box.addEventListener('pointerdown', () => actions(widget._binding).catch(() => 0));
    widgets.set(el, widget);
    observer.observe(el, {attributes: true});
    bind(widget);
    if (EMBED && widget._binding) {   // why a form vote was refused, if it was
      widget._binding._status = el.dataset.feedbackStatus;
      paint(widget);
    }
  }

  const scan = () => { for (const el of doc.querySelectorAll('[' + ARTICLE + ']')) mount(el); };
  const observer = new MutationObserver((records) => {
    for (const record of records) {   // an element that lost its article attribute is no longer found by scan()
      const widget = widgets.get(record.target);
      if (widget) bind(widget);
    }
    scan();
  });
  observer.observe(doc.documentElement, {childList: true, subtree: true, attributes: true, attributeFilter: [ARTICLE, 'lang']});
  // A page restored from the back/forward cache shows fresh numbers, not the old ones.
  win.addEventListener('pageshow', (e) => { if (e.persisted) for (const widget of attached()) load(widget._binding); });
  scan();
})();
