// Drives Debian's Chromium (never a downloaded browser) with playwright-core for
// tests/test_ws_browser.py.
//
//   node browser-driver.mjs PAGE_URL SCREENSHOT_PATH roundtrip|refused|mixed
//
// roundtrip: waits for the page's STOMP subscription, prints {"event":"ready"}, waits for the
// two messages stomp.py publishes over TCP, publishes one from the page, takes the screenshot,
// prints {"event":"done"}. refused: waits for the page to report that the broker refused it.
// mixed: like roundtrip, but after the two messages from TCP (text and binary) the page
// publishes a text body, a binary body that is not UTF-8 and one that is to its own topic,
// waits for them to come back, and prints every message with its bytes and the WebSocket
// frame type (text or binary) it came in.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [pageUrl, screenshot, mode] = process.argv.slice(2);
const emit = (object) => process.stdout.write(JSON.stringify(object) + '\n');
const profile = mkdtempSync(join(tmpdir(), 'xtomp-chromium-'));
let context;
const finish = async (code) => {
  if (context) await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  process.exit(code);
};
setTimeout(() => { emit({ event: 'error', error: 'timed out' }); finish(1); }, 45000).unref();

try {
  // A fresh profile (--user-data-dir) per run, and nothing that talks to the Internet.
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 900, height: 420 },
  });
  const page = context.pages()[0] || await context.newPage();
  const consoleLines = [];
  page.on('console', (message) => consoleLines.push(message.text()));
  await page.goto(pageUrl);
  if (mode === 'refused') {
    await page.waitForFunction(() => window.xtompTest.failed !== null, null, { timeout: 15000 });
    const failed = await page.evaluate(() => window.xtompTest.failed);
    await page.screenshot({ path: screenshot });
    emit({ event: 'refused', failed, ready: await page.evaluate(() => window.xtompTest.ready) });
  } else {
    await page.waitForFunction(() => window.xtompTest.ready || window.xtompTest.failed, null, { timeout: 15000 });
    const first = await page.evaluate(() => ({ failed: window.xtompTest.failed, version: window.xtompTest.version,
                                               subprotocol: window.xtompTest.subprotocol }));
    if (first.failed) throw new Error(first.failed);
    emit({ event: 'ready', ...first, userAgent: await page.evaluate(() => navigator.userAgent) });
    await page.waitForFunction(() => window.xtompTest.received.length >= 2, null, { timeout: 15000 });
    if (mode === 'mixed') {
      await page.evaluate(() => Promise.all([
        window.xtompTest.publish('from Chromium ✓', '/topic/to-browser'),
        window.xtompTest.publish([0xff, 0x00, 0xc3, 0x28, 0x80, 0x41], '/topic/to-browser'),
        window.xtompTest.publish(Array.from(new TextEncoder().encode('utf-8 sent as binary ✓')), '/topic/to-browser'),
      ]));
      await page.waitForFunction(() => window.xtompTest.received.length >= 5, null, { timeout: 15000 });
    }
    const { received, kinds, failed } = await page.evaluate(
      () => ({ received: window.xtompTest.received, kinds: window.xtompTest.kinds, failed: window.xtompTest.failed }));
    if (failed) throw new Error(failed);
    received.forEach((message, index) => { message.kind = kinds[index]; });
    if (mode !== 'mixed') await page.evaluate(() => window.xtompTest.publish('from Chromium ✓'));
    await page.screenshot({ path: screenshot });
    emit({ event: 'done', received, console: consoleLines });
  }
  await finish(0);
} catch (error) {
  emit({ event: 'error', error: String(error && error.stack || error) });
  await finish(1);
}
