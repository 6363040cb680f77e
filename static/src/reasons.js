/* feedbackwidget "why not?" picker: imported by widget.js only after a counted "No", and only
   when the site sets REASONS. Readable source: static/src/reasons.js; static/widget-reasons.js
   is its terser build. The server replaces __FEEDBACKWIDGET_REASONS__ with {css, codes, text
   (free text allowed?), t: {prompt, text, send, thanks, network, labels}} in the reader's
   language. */
const R = __FEEDBACKWIDGET_REASONS__;
let sheet;

export default function ask(w, call) {
  if (w.x || !R.codes.length) return;
  const D = document, root = w.box.getRootNode(), t = R.t;
  if (!sheet) (sheet = new CSSStyleSheet()).replaceSync(R.css);
  if (!root.adoptedStyleSheets.includes(sheet)) root.adoptedStyleSheets = [...root.adoptedStyleSheets, sheet];
  const add = (tag, cls, parent, text) => {
    const e = parent.appendChild(D.createElement(tag));
    e.className = cls;
    if (text) e.textContent = text;
    return e;
  };
  const box = (w.x = add('div', 'fw-x', w.box));
  box.setAttribute('role', 'group');
  box.setAttribute('aria-label', t.prompt);
  add('p', 'fw-xq', box, t.prompt);
  const chips = add('div', 'fw-xr', box);
  let chosen = null, text = null;
  for (const code of R.codes) {
    const chip = add('button', 'fw-c', chips, t.labels[code]);
    chip.type = 'button';
    chip.setAttribute('aria-pressed', 'false');
    chip.addEventListener('click', () => {
      chosen = code;
      for (const c of chips.children) c.setAttribute('aria-pressed', c === chip);
      send.disabled = false;
    });
  }
  if (R.text) {
    text = add('textarea', 'fw-xt', box);
    text.maxLength = 500;
    text.rows = 2;
    text.placeholder = t.text;
    text.setAttribute('aria-label', t.text);
  }
  const send = add('button', 'fw-xs', box, t.send);
  send.type = 'button';
  send.disabled = true;
  const close = () => { box.remove(); w.x = null; };
  // Voting Yes or withdrawing makes the question moot.
  w.y.addEventListener('click', close, {once: true});
  w.a.addEventListener('click', close, {once: true});
  send.addEventListener('click', async () => {
    send.disabled = true;
    try {
      await call('POST', '/api/v1/reasons', {article_id: w.id, reason: chosen, text: (text && text.value.trim()) || undefined});
      close();
      w.n.focus();
      w.m.textContent = t.thanks;
    } catch (e) {
      send.disabled = false;
      w.m.textContent = t.network;
    }
  });
}
