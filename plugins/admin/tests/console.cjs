// Loads the xtomp console in Debian's Chromium (driven by playwright-core), waits until it shows
// what the Python test expects, prints what the page shows as JSON and saves a screenshot.
// usage: node console.cjs URL SCREENSHOT EXPECT_JSON   (NODE_PATH points at tools/browser/node_modules)
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

const [url, screenshot, expectJson] = process.argv.slice(2);
const expect = JSON.parse(expectJson);

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "xtomp-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
    viewport: { width: 1280, height: 920 },
    colorScheme: "light",
  });
  const requests = [];
  const problems = [];
  try {
    const page = context.pages()[0] || (await context.newPage());
    page.on("request", (request) => requests.push(request.url()));
    page.on("console", (message) => { if (message.type() === "error") problems.push(`console: ${message.text()}`); });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    await page.goto(url, { waitUntil: "load" });
    await page.waitForFunction(
      ({ dest, accepted, points }) => {
        const row = document.querySelector(`tr[data-dest="${CSS.escape(dest)}"]`);
        const cell = row && row.querySelector('td[data-key="Σ"]');
        const chart = document.getElementById("chart");
        return cell && cell.textContent === accepted && Number(chart.dataset.points) >= points;
      },
      expect,
      { timeout: expect.timeout || 30000, polling: 100 },
    );
    const shown = await page.evaluate(() => {
      const text = (id) => document.getElementById(id).textContent.trim();
      const rows = {};
      for (const row of document.querySelectorAll("#destination-rows tr")) {
        const cells = {};
        for (const cell of row.querySelectorAll("td")) cells[cell.dataset.key] = cell.textContent.trim();
        rows[row.dataset.dest] = cells;
      }
      const headings = [...document.querySelectorAll("#destination-head th")].map((th) => th.textContent.trim());
      const other = [...document.querySelectorAll("#other dt")].map((dt) => dt.textContent.trim());
      return {
        title: document.title,
        status: text("status"),
        version: text("version"),
        connections: text("connections"),
        transports: text("transports"),
        sessions: text("sessions"),
        rateIn: text("rate-in"),
        rateOut: text("rate-out"),
        messages: text("messages"),
        memory: text("memory"),
        cpu: text("cpu"),
        uptime: text("uptime"),
        chartPoints: Number(document.getElementById("chart").dataset.points),
        headings,
        rows,
        other,
      };
    });
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(JSON.stringify({ shown, requests, problems }));
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
})().catch((error) => {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(1);
});
