/* feedbackwidget actions: what only a reader who presses something needs: the captcha, votes,
   withdrawals, and the strings for their results and errors. widget.js imports this module on
   the first press as /widget-actions.js?lang=…; the server replaces __FEEDBACKWIDGET_ACTIONS__
   with {sitekey, captcha (script URL), why (REASONS set), css (static/widget-actions.css),
   m (that language's strings)}. With several sites on one server it is imported once per
   site as well (…&site=, widget.js): the first one loaded does the work for all (one captcha
   script, one write queue), and each binding uses the captcha key and reasons of its own
   site's module.

   Every operation belongs to the binding it started on (widget.js, bind()): its request
   carries that binding's article, title and version, its result updates that article's
   tally wherever it is shown, and its message or "Try again" appears only while the element
   still shows that binding. Internal names start with "_" (see widget.js). */
const CONFIG = __FEEDBACKWIDGET_ACTIONS__;
const doc = document, win = window;
const queues = new Map();   // article id, or "" while the reader has no token -> last write
let captchaLoaded, consented;

// One HTTP call to the widget server for a binding (its site), with the reader's voter token;
// rejects with a catalogue key.
async function call(api, binding, method, path, body) {
  const headers = {...api._frame}, token = api._voter();
  if (body) headers['Content-Type'] = 'application/json';
  if (token) headers['X-Feedback-Voter'] = token;
  let response, answer = {};
  try {
    response = await fetch(api._at(binding, path), {method, headers, body: body && JSON.stringify(body)});
    answer = await response.json();
  } catch (e) {
    if (!response) throw 'network';
  }
  if (!response.ok) throw response.status > 499 ? 'unavailable' : response.status === 404 ? 'not_found' : answer.error || 'error';
  if (answer.voter) api._voter(answer.voter);
  if (answer.site && !binding._attrs.site) api._named = answer.site;   // widget.js, site()
  return answer;
}

// Writes to one article go out one at a time, so the server applies them in the order their
// answers arrive. Until the reader has a voter token every write waits for the one before:
// two first votes sent together would make two identities.
function queue(api, id, send) {
  const key = api._voter() ? id : '';
  const sent = Promise.all([queues.get(key), queues.get('')]).then(send);
  queues.set(key, sent.catch(() => 0));
  return sent;
}

// hCaptcha: nothing is fetched before the first press, and the publisher's consent hook
// (window.feedbackWidgetConsent) is asked first. Each binding renders its own invisible
// widget, so a challenge in progress stays with the article it was started for.
async function captcha(binding) {
  if (!consented) {
    const hook = win.feedbackWidgetConsent;
    try { consented = !hook || !!(await hook()); } catch (e) { consented = false; }
    if (!consented) throw 'consent';
  }
  captchaLoaded = captchaLoaded || new Promise((resolve, reject) => {
    const callback = 'feedbackWidgetCaptcha' + Date.now(), tag = doc.createElement('script');
    win[callback] = resolve;
    tag.onerror = () => reject('network');
    tag.async = true;
    tag.src = CONFIG.captcha + (CONFIG.captcha.includes('?') ? '&' : '?') + 'render=explicit&recaptchacompat=off&onload=' + callback;
    doc.head.append(tag);
  }).catch((e) => { captchaLoaded = null; throw e; });
  await captchaLoaded;
  const hcaptcha = win.hcaptcha;
  if (!binding._slot) {
    const slot = (binding._slot = binding._widget._host.appendChild(doc.createElement('div')));
    slot.slot = 'captcha';
    binding._captcha = hcaptcha.render(slot, {sitekey: binding._own._sitekey, size: 'invisible', 'expired-callback': () => { binding._expired = 1; }});
  }
  binding._expired = 0;
  let answer;
  try { answer = await hcaptcha.execute(binding._captcha, {async: true}); } catch (e) {
    throw /expired/.test(e) ? 'expired' : 'captcha_failed';
  } finally { binding._used = 1; }
  if (binding._expired || !answer || !answer.response) throw 'expired';
  return answer.response;
}

const close = (binding) => {
  if (binding._picker) binding._picker.remove();
  binding._picker = 0;
};

// What a binding leaves behind when its element moves on; an operation still running for it
// calls this again when it ends.
function release(binding) {
  close(binding);
  if (!binding._busy && binding._slot) {
    try { win.hcaptcha.remove(binding._captcha); } catch (e) { /* already gone */ }
    binding._slot.remove();
    binding._slot = 0;
  }
}

// Clean up after an operation: a used captcha is reset, and a binding the element has left
// gives back what it held.
function done(api, binding) {
  if (binding._used) {
    binding._used = 0;
    try { win.hcaptcha.reset(binding._captcha); } catch (e) { /* already gone */ }
  }
  if (!api._current(binding)) release(binding);
}

// A write the server acknowledged: it is the article's truth until the next one, and a read
// sent before it can no longer overwrite it (widget.js, load()).
function acknowledge(api, binding, sentiment) {
  api._state(binding)._sentiment = sentiment;
  api._repaint(binding);
}

const fail = (api, binding, key, action, value) => api._fail(binding, key, () => press(api, binding, value), action, value);

// Yes, No (value) or the action button (no value: "Try again" after a failure, else withdraw);
// own: the actions module of the binding's site (its captcha key and reasons).
function press(api, binding, value, own) {
  if (binding._busy) return;
  binding._own = own || binding._own;
  if (!value && binding._error) {
    binding._error = 0;
    api._paint(binding._widget);
    return binding._retry();
  }
  const sentiment = api._state(binding)._sentiment;
  if (value && sentiment && sentiment.your_vote === value && !binding._error) return;
  binding._busy = 1;
  binding._error = binding._status = 0;
  api._paint(binding._widget);
  (value ? vote : withdraw)(api, binding, value);
}

async function vote(api, binding, value) {
  const id = binding._article, attrs = binding._attrs, body = {article_id: id, vote: value};
  for (const field of ['title', 'version', 'signed', 'url']) if (attrs[field]) body[field] = attrs[field];
  // The page the vote was cast on, where the server may read the article's JSON-LD (its
  // section, authors …); without the query string, which may carry a reader's tokens.
  if (!body.url && /^https?:$/.test(location.protocol)) body.url = location.origin + location.pathname;
  close(binding);
  try {
    body.captcha_token = await captcha(binding);
    const answer = await queue(api, id, () => call(api, binding, 'POST', '/api/v1/votes', body));
    const before = api._state(binding)._sentiment, previous = before && before.your_vote;
    binding._busy = 0;
    binding._status = 'thanks';
    acknowledge(api, binding, answer.sentiment);
    api._emit(binding, 'vote', {vote: value, changed: !!previous && previous !== value});
    // "Why not?" (REASONS set): a separate module, fetched only now.
    if (value === 'down' && binding._own._why && api._current(binding)) {
      import(api._at(binding, '/widget-reasons.js?lang=' + binding._lang)).then((module) => module.default(api, binding, call), () => 0);
    }
  } catch (key) {
    fail(api, binding, typeof key === 'string' ? key : 'captcha_failed', 'vote', value);
  } finally {
    done(api, binding);
  }
}

async function withdraw(api, binding) {
  const id = binding._article, article = api._state(binding);
  close(binding);
  try {
    const answer = await queue(api, id, () => call(api, binding, 'DELETE', '/api/v1/votes/' + encodeURIComponent(id)));
    const previous = article._sentiment && article._sentiment.your_vote;
    binding._busy = 0;
    binding._status = 'withdrawn';
    acknowledge(api, binding, answer.sentiment);
    api._emit(binding, 'withdraw', {vote: previous || null});
  } catch (key) {
    if (key !== 'not_found') return fail(api, binding, key, 'withdraw');
    binding._busy = 0;   // already gone (another tab, another device): say so, then read the truth
    binding._status = 'withdrawn';
    acknowledge(api, binding, {...article._sentiment, your_vote: null});
    api._load(binding);
  } finally {
    done(api, binding);
  }
}

// After widget.js has painted a widget: what only follows a press. A thank-you or withdrawn
// message (key, when just shown) is read out with the new tally; focus on a "Withdraw vote" or
// "Try again" that goes away moves to the reader's vote. The rules for these (CONFIG.css,
// static/widget-actions.css) join the widget's own stylesheet in its shadow root; the /embed
// page gets them with /widget.css.
let sheet;
function painted(widget, key, tally, act, mine) {
  const root = widget._box.getRootNode();
  widget._box.setAttribute('aria-busy', !!widget._binding._busy);
  if (!sheet) (sheet = new CSSStyleSheet()).replaceSync(CONFIG.css);
  if (root.host && !root.adoptedStyleSheets.includes(sheet)) root.adoptedStyleSheets = [...root.adoptedStyleSheets, sheet];
  if (key === 'thanks' || key === 'withdrawn') {
    widget._message.append(Object.assign(doc.createElement('span'), {className: 'fw-vh', textContent: ' ' + tally}));
  }
  if (!act && widget._action === root.activeElement) widget._buttons[mine === 'down' ? 1 : 0].focus();
}

export default {_strings: CONFIG.m, _sitekey: CONFIG.sitekey, _why: CONFIG.why, _press: press, _release: release, _painted: painted};
