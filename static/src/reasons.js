/* feedbackwidget "why not?" picker: imported by actions.js only after a counted "No", and only
   when the site sets REASONS. The server replaces __FEEDBACKWIDGET_REASONS__ with {css, codes,
   text (free text allowed?), t: {prompt, text, send, labels}} in the reader's language.

   The picker belongs to the binding (the article) whose "No" opened it: it sends that
   article's id, and it is removed when the element moves on, the reader votes Yes or
   withdraws. Internal names start with "_" (see widget.js). */
const CONFIG = __FEEDBACKWIDGET_REASONS__;
let sheet;

export default function ask(api, binding, call) {
  const widget = binding._widget, t = CONFIG.t, doc = document;
  if (!api._current(binding) || binding._picker || !CONFIG.codes.length) return;
  const root = widget._box.getRootNode();
  if (!sheet) (sheet = new CSSStyleSheet()).replaceSync(CONFIG.css);
  if (!root.adoptedStyleSheets.includes(sheet)) root.adoptedStyleSheets = [...root.adoptedStyleSheets, sheet];
  const add = (tag, className, parent, text) => {
    const e = parent.appendChild(doc.createElement(tag));
    e.className = className;
    if (text) e.textContent = text;
    return e;
  };
  const picker = (binding._picker = add('div', 'fw-x', widget._box));
  picker.setAttribute('role', 'group');
  picker.setAttribute('aria-label', t.prompt);
  add('p', 'fw-xq', picker, t.prompt);
  const chips = add('div', 'fw-xr', picker);
  let chosen = null, text = null;
  for (const code of CONFIG.codes) {
    const chip = add('button', 'fw-c', chips, t.labels[code]);
    chip.type = 'button';
    chip.setAttribute('aria-pressed', 'false');
    chip.addEventListener('click', () => {
      chosen = code;
      for (const c of chips.children) c.setAttribute('aria-pressed', c === chip);
      send.disabled = false;
    });
  }
  if (CONFIG.text) {
    text = add('textarea', 'fw-xt', picker);
    text.maxLength = 500;
    text.rows = 2;
    text.placeholder = t.text;
    text.setAttribute('aria-label', t.text);
  }
  const send = add('button', 'fw-xs', picker, t.send);
  send.type = 'button';
  send.disabled = true;
  send.addEventListener('click', async () => {
    send.disabled = true;
    try {
      await call(api, binding, 'POST', '/api/v1/reasons', {article_id: binding._article, reason: chosen, text: (text && text.value.trim()) || undefined});
      picker.remove();
      binding._picker = 0;
      binding._status = 'reason_thanks';
      if (api._current(binding)) widget._buttons[1].focus();
    } catch (key) {
      send.disabled = false;
      binding._status = key;
      api._emit(binding, 'error', {error: key, action: 'reason'});
    }
    api._paint(widget);
  });
}
