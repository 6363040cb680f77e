// Drives Firefox over WebDriver BiDi (puppeteer-core) for the Python tests: one JSON request
// per line on stdin, one JSON answer per line on stdout ({id, ok, value} or {id, ok: false,
// error}). Readers are BiDi user contexts (separate cookie jars and storage), one tab each.
// When stdin closes (the test run ended or died) the browser is closed and the bridge exits.
import puppeteer from 'puppeteer-core';
import {createInterface} from 'node:readline';

let browser;
const readers = new Map();
let next = 1;

const reader = (id) => {
  const r = readers.get(id);
  if (!r) throw new Error(`no reader ${id}`);
  return r;
};

const frameOf = (r, prefix) => {
  if (!prefix) return r.page.mainFrame();
  const frame = r.page.frames().find((f) => f.url().startsWith(prefix));
  if (!frame) throw new Error(`no frame at ${prefix} (frames: ${r.page.frames().map((f) => f.url()).join(', ')})`);
  return frame;
};

const ops = {
  async launch({executablePath, prefs, timeout}) {
    browser = await puppeteer.launch({
      browser: 'firefox', executablePath, headless: true, extraPrefsFirefox: prefs, timeout,
      defaultViewport: {width: 1280, height: 720},   // Playwright's default, as for Chromium
      protocolTimeout: timeout,
    });
    return {version: await browser.version(), pid: browser.process()?.pid ?? null};
  },
  async reader({timeout}) {
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    page.setDefaultTimeout(timeout);
    const r = {context, page, console: []};
    page.on('console', (m) => {
      const level = {error: 'error', warn: 'warning'}[m.type()] ?? 'info';
      r.console.push({level, text: m.text()});
    });
    page.on('pageerror', (e) => r.console.push({level: 'error', text: String(e.message ?? e)}));
    const id = next++;
    readers.set(id, r);
    return id;
  },
  async goto({reader: id, url}) {
    await reader(id).page.goto(url, {waitUntil: 'load'});
  },
  async reload({reader: id}) {
    await reader(id).page.reload({waitUntil: 'load'});
  },
  async evaluate({reader: id, frame, source, args}) {
    const value = await frameOf(reader(id), frame).evaluate(`(${source})(...${JSON.stringify(args)})`);
    return value === undefined ? null : value;
  },
  async click({reader: id, x, y}) {
    await reader(id).page.mouse.click(x, y);
  },
  async press({reader: id, key}) {
    const keyboard = reader(id).page.keyboard, parts = key.split('+'), name = parts.pop();
    const last = name === 'Space' ? ' ' : name;   // puppeteer knows the space bar by its key value
    for (const m of parts) await keyboard.down(m);
    await keyboard.press(last);
    for (const m of parts.reverse()) await keyboard.up(m);
  },
  async screenshot({reader: id, clip}) {
    return await reader(id).page.screenshot({clip, encoding: 'base64'});
  },
  async cookies({reader: id}) {
    return (await reader(id).context.cookies()).map((c) => ({
      name: c.name, domain: c.domain, partitioned: !!c.partitionKey,
    }));
  },
  async console({reader: id}) {
    return reader(id).console;
  },
  async closeReader({reader: id}) {
    const r = reader(id);
    readers.delete(id);
    await r.context.close();
  },
};

async function shutdown() {
  try { if (browser) await browser.close(); } finally { process.exit(0); }
}

const lines = createInterface({input: process.stdin});
let queue = Promise.resolve();
lines.on('line', (line) => {
  // One request at a time, in order: the Python side waits for each answer anyway.
  queue = queue.then(async () => {
    const {id, op, ...params} = JSON.parse(line);
    let answer;
    try {
      if (!ops[op]) throw new Error(`unknown op ${op}`);
      answer = {id, ok: true, value: (await ops[op](params)) ?? null};
    } catch (e) {
      answer = {id, ok: false, error: String(e?.stack ?? e)};
    }
    process.stdout.write(JSON.stringify(answer) + '\n');
  });
});
lines.on('close', () => { queue.then(shutdown, shutdown); });
