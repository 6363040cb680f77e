"""An in-page recorder of console warnings and errors, uncaught errors and CSP violations.

Engines whose automation protocol reports the console (Chromium, Firefox) do not need it for
that; WebKitGTK's classic WebDriver does (see webkit.py). Publisher pages of the cross-engine
suite load it as their first script, in every engine, so that CSP violations are recorded
the same way everywhere (``window.__fwViolations``, kept for the page's life) besides the
policy's ``report-uri``. It wraps ``console.warn``/``console.error`` (calling the originals).
"""

from __future__ import annotations

CONSOLE_PROBE = r"""(() => {
  if (window.__fwProbe) return;
  const seen = window.__fwProbe = [], violations = window.__fwViolations = [];
  const show = (a) => {
    if (a instanceof Error) return a.message;
    if (typeof a === 'string') return a;
    try { return JSON.stringify(a); } catch (e) { return String(a); }
  };
  for (const [name, level] of [['error', 'error'], ['warn', 'warning']]) {
    const original = console[name];
    console[name] = function (...args) {
      seen.push({level, text: args.map(show).join(' ')});
      return original.apply(this, args);
    };
  }
  addEventListener('error', (e) => seen.push({level: 'error', text: 'uncaught: ' + (e.message || show(e.error))}));
  addEventListener('unhandledrejection', (e) => seen.push({level: 'error', text: 'unhandled rejection: ' + show(e.reason)}));
  document.addEventListener('securitypolicyviolation', (e) => {
    const text = 'CSP ' + e.violatedDirective + ' ' + e.blockedURI;
    violations.push(text);
    seen.push({level: 'error', text});
  }, true);
})();"""

#: Hands over (and forgets) what the probe recorded since the last call.
READ_PROBE = "return (window.__fwProbe || []).splice(0);"
