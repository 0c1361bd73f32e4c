// The console in Debian's firefox-esr, headless, driven by puppeteer-core over WebDriver BiDi
// (playwright-core's Firefox needs Playwright's own build, which cannot be had here). It plays
// one run of the console in development mode, finding controls by role and accessible name
// (puppeteer's ::-p-aria selectors), and prints what the page showed as one JSON object; the
// Go test (TestConsoleFirefox) judges it. FIREFOX overrides /usr/bin/firefox-esr.
//
//   node firefox.js http://127.0.0.1:PORT
//
// It exits on its own after 2 minutes, whatever happens.
'use strict';
const puppeteer = require('puppeteer-core');

const base = process.argv[2];
const deadline = setTimeout(() => { console.error('firefox.js: 2 minutes passed, exiting'); process.exit(2); }, 120000);
const aria = (name, role) => `::-p-aria([name=${JSON.stringify(name)}][role="${role}"])`;

(async () => {
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: process.env.FIREFOX || '/usr/bin/firefox-esr',
    headless: true,
    protocolTimeout: 30000,
    timeout: 60000,
  });
  const out = { version: await browser.version(), errors: [], dialogs: 0 };
  try {
    const page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().includes('the server responded with a status of 4')) out.errors.push(m.text());
    });
    page.on('pageerror', (e) => out.errors.push(e.message));
    page.on('dialog', (d) => { out.dialogs++; d.dismiss(); });
    await page.setViewport({ width: 1280, height: 900 });
    await page.goto(base + '/console');
    await page.waitForFunction(() => document.getElementById('status').textContent === 'Live', { timeout: 15000 });

    const region = async (name) => page.waitForSelector(aria(name, 'region'), { timeout: 5000 });
    const button = async (within, name) => within.waitForSelector(aria(name, 'button'), { timeout: 5000 });
    // partyText waits until a phone party of the region whose text holds name shows a state
    // matching re, and returns its text.
    const partyText = (topic, name, re) => page.waitForFunction((topic, name, re) => {
      const sec = [...document.querySelectorAll('section')].find((s) => s.querySelector('h2').textContent === topic);
      const li = sec && [...sec.querySelectorAll('ul[aria-label="On the phone"] > li')].find((l) => l.textContent.includes(name));
      return li && new RegExp(re).test(li.querySelector('.state').textContent) && li.innerText;
    }, { timeout: 10000 }, topic, name, re).then((h) => h.jsonValue());
    const partyIn = async (sec, name) => {
      for (const li of await sec.$$('::-p-aria([role="listitem"])')) {
        if ((await li.evaluate((l) => l.textContent)).includes(name)) return li;
      }
      throw new Error('no party ' + name);
    };

    const sync = await region('Weekly sync');
    const start = Date.now();
    await (await button(sync, 'Simulate a call')).click();
    await sync.waitForSelector('li.party', { timeout: 5000 });
    out.appearedMs = Date.now() - start;
    const name = await sync.$eval('li.party .name', (e) => e.textContent);
    out.simulated = await partyText('Weekly sync', name, '^connected$');

    await (await button(await partyIn(sync, name), 'Mute')).click();
    out.muted = await partyText('Weekly sync', name, 'muted');
    await (await button(await partyIn(sync, name), 'Hold')).click();
    out.held = await partyText('Weekly sync', name, 'on hold');

    await (await sync.waitForSelector(aria('Phone number', 'textbox'))).type('+14155550177');
    await (await sync.waitForSelector(aria('Name', 'textbox'))).type('<img src=x onerror=alert(1)>');
    await (await button(sync, 'Call')).click();
    out.ringing = await partyText('Weekly sync', '<img', '^ringing$');
    out.joined = await partyText('Weekly sync', '<img', '^connected$');
    out.images = await page.evaluate(() => document.querySelectorAll('img').length);

    await (await button(await partyIn(sync, name), 'Remove')).click();
    await page.waitForFunction((name) => document.body.innerText.includes(name + ' left: removed'), { timeout: 10000 }, name);
    out.removed = true;

    const desk = await region('Front desk');
    await (await button(desk, 'Simulate a call')).click();
    const admit = await button(desk, 'Admit');
    const waiting = await desk.$eval('ul[aria-label="Lobby"] .name', (e) => e.textContent);
    await admit.click();
    out.admitted = await partyText('Front desk', waiting, '^connected$');

    // Keyboard: Tab from the top until the Front desk party's Mute has the focus; Enter.
    await page.evaluate(() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); });
    const target = await button(await partyIn(desk, waiting), 'Mute');
    for (let i = 1; i <= 80 && !out.tabs; i++) {
      await page.keyboard.press('Tab');
      if (await target.evaluate((b) => b === document.activeElement)) out.tabs = i;
    }
    out.outline = await page.evaluate(() => { const c = getComputedStyle(document.activeElement); return c.outlineStyle + ' ' + c.outlineWidth; });
    await page.keyboard.press('Enter');
    out.keyboardMuted = await partyText('Front desk', waiting, 'muted');

    await page.setViewport({ width: 375, height: 812 });
    out.narrowWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  } catch (e) {
    out.failed = String(e && e.message || e).split('\n')[0];
  }
  console.log(JSON.stringify(out));
  clearTimeout(deadline);
  await browser.close().catch(() => {});
  process.exit(0);
})().catch((e) => { console.error('firefox.js:', e); process.exit(1); });
