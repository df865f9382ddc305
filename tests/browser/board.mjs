// The browser half of tests/test_web_browser.py: headless Chromium (Debian's) loads the board that
// `taskboard web` serves, waits until the task named on the command line is on the screen, presses a
// key and prints a JSON line of what it saw; when the test closes its stdin (it has seen the key's
// effect on the server), it prints a last line and closes the browser. Each line holds every URL the
// page requested (so the test can assert none left the web server), the websockets it opened, and the
// console's errors. Usage: node board.mjs URL TITLE KEY USER_DATA_DIR
import { chromium } from 'playwright-core';

const [url, title, key, userDataDir] = process.argv.slice(2);
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const DEADLINE_MS = 30000;

const requests = [];
const websockets = [];
const consoleErrors = [];
let screen = '';  // the text the board sent the page, escape sequences removed

// xterm.js draws on a canvas: the text is read from the websocket frames the page receives.
const ANSI = /\x1b\[[0-9;?<=>]*[ -\/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]/g;
const decoder = new TextDecoder();
const report = (extra = {}) => console.log(JSON.stringify({ requests, websockets, consoleErrors, ...extra }));

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: '/usr/bin/chromium', headless: true, args: FLAGS, viewport: { width: 1280, height: 800 },
});
try {
  context.on('request', (request) => requests.push(request.url()));
  const page = context.pages()[0] ?? await context.newPage();
  page.on('console', (message) => { if (message.type() === 'error') consoleErrors.push(message.text()); });
  page.on('websocket', (ws) => {
    websockets.push(ws.url());
    ws.on('framereceived', ({ payload }) => {
      if (typeof payload !== 'string') screen += decoder.decode(payload, { stream: true }).replace(ANSI, '');
    });
  });
  await page.goto(url);
  await page.waitForSelector('body.-first-byte', { timeout: DEADLINE_MS });  // the board's first bytes
  const deadline = Date.now() + DEADLINE_MS;
  while (!screen.includes(title)) {
    if (Date.now() > deadline) throw new Error(`the task never appeared on the page: ${JSON.stringify(title)}`);
    await page.waitForTimeout(50);
  }
  await page.focus('.xterm-helper-textarea');  // where xterm.js takes the keyboard
  await page.keyboard.press(key);
  report({ pressed: key });
  // The page stays open until the test has seen the key's effect on the server (it closes our stdin).
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.on('end', resolve));
  report({ done: true });
} finally {
  await context.close();
}
