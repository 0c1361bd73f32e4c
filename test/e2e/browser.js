// One headless Debian chromium for a browser test, driven by playwright-core over stdin and
// reported on stdout, one JSON object a line. It launches no browser of its own download:
// executablePath is /usr/bin/chromium (CHROMIUM overrides it).
//
//   node browser.js
//
// stdin:  {"id":N,"op":"open","page":P,"url":U}        opens U in a new tab named P
//         {"id":N,"op":"wait","page":P,"js":E,"ms":T}  waits until expression E is truthy
//         {"id":N,"op":"eval","page":P,"js":E}         evaluates E
//         {"id":N,"op":"do","page":P,"js":B}           runs B, the body of an async function of
//                                                       (page, errors), in node: Playwright's own
//                                                       API (getByRole, keyboard, screenshot…);
//                                                       errors lists the page's errors so far
// "open" takes "width" and "height" (the viewport) too.
// stdout: {"type":"ready","version":V} once chromium runs, then for each command
//         {"id":N,"ok":true,"value":…} or {"id":N,"ok":false,"error":…}.
// Console messages and errors of the pages go to stderr. When stdin closes, chromium closes
// and the process exits; it also exits on its own after 2 minutes (or as many seconds as its
// first argument says), whatever happens.
'use strict';
const { chromium } = require('playwright-core');
const readline = require('readline');

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const limit = Number(process.argv[2]) > 0 ? Number(process.argv[2]) : 120;
const deadline = setTimeout(() => { console.error(`browser.js: ${limit} s passed, exiting`); process.exit(2); }, limit * 1000);

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    timeout: 30000,
    // Flags that keep chromium off the network this machine does not have.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext();
  const pages = new Map();
  const errors = new Map(); // page name → its errors and console errors (CSP violations included)
  const stop = async () => {
    clearTimeout(deadline);
    await browser.close().catch(() => {});
    process.exit(0);
  };
  out({ type: 'ready', version: browser.version() });

  const run = async (cmd) => {
    if (cmd.op === 'open') {
      const page = await context.newPage();
      page.on('console', (m) => console.error(`[page ${cmd.page}] ${m.type()}: ${m.text()}`));
      page.on('pageerror', (e) => console.error(`[page ${cmd.page}] error: ${e.message}`));
      const errs = [];
      errors.set(cmd.page, errs);
      page.on('pageerror', (e) => errs.push(e.message));
      page.on('console', (m) => { if (m.type() === 'error') errs.push(m.text()); });
      if (cmd.width && cmd.height) await page.setViewportSize({ width: cmd.width, height: cmd.height });
      pages.set(cmd.page, page);
      await page.goto(cmd.url, { timeout: 10000 });
      return null;
    }
    const page = pages.get(cmd.page);
    if (!page) throw new Error(`no page ${cmd.page}`);
    if (cmd.op === 'wait') {
      const h = await page.waitForFunction(cmd.js, null, { timeout: cmd.ms || 10000, polling: 50 });
      return h.jsonValue();
    }
    if (cmd.op === 'eval') return page.evaluate(cmd.js);
    if (cmd.op === 'do') {
      const body = new Function('page', 'errors', `return (async () => { ${cmd.js} })();`);
      return body(page, errors.get(cmd.page));
    }
    throw new Error(`unknown op ${cmd.op}`);
  };
  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    if (!line.trim()) return;
    const cmd = JSON.parse(line);
    run(cmd).then((value) => out({ id: cmd.id, ok: true, value: value === undefined ? null : value }),
      (e) => out({ id: cmd.id, ok: false, error: String(e && e.message || e).split('\n')[0] }));
  }).on('close', stop);
})().catch((e) => { console.error('browser.js:', e); process.exit(1); });
