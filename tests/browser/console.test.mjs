// The console in headless Chromium against a running demo federation, as people use it: the UZ
// officer signs in (in Russian), keeps the alert list open, and sees an alert KZ raises appear without
// reloading; the sign-in and alert pages have no serious or critical accessibility violation
// (axe-core). Screenshots of each page go to $SCREENSHOTS.
//
//   DEMO_OUT=<the demo's output> TULPAR=<the tulpar binary> SCREENSHOTS=<folder> node --test tests/browser/
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const demo = readFileSync(process.env.DEMO_OUT, "utf8");
const screenshots = process.env.SCREENSHOTS ?? "target/console-screenshots";
mkdirSync(screenshots, { recursive: true });

const found = (pattern, what) => {
  const match = demo.match(pattern);
  assert.ok(match, `the demo's output names ${what}`);
  return match;
};
const uzConsole = found(/UZ console (\S+)/, "the UZ console")[1];
const uzPassword = found(/tashkent\.officer \/ (\S+)/, "the UZ officer's password")[1];
const [, kzNode, kzCa, kzToken] = found(
  /KZ-AKTAU-PCU officer, raising[\s\S]*?export TULPAR_NODE=(\S+)[\s\S]*?export TULPAR_CA=(\S+)[\s\S]*?export TULPAR_TOKEN=(\S+)/,
  "how the KZ officer connects",
);
const alertFile = found(/tulpar alert send (\S+)/, "an alert to send")[1];

async function browser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
}

/// Serious or critical accessibility violations on the page.
async function accessibilityViolations(page) {
  await page.addScriptTag({ path: require.resolve("axe-core/axe.min.js") });
  const result = await page.evaluate(() => window.axe.run());
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.help} (${v.nodes.length})`);
}

test("an officer signs in in Russian and sees an alert arrive without reloading", async () => {
  const chrome = await browser();
  try {
    // The node's certificate comes from the country's own CA, which this throwaway profile does not
    // hold; axe is injected as a script, which the console's CSP would rightly refuse.
    const context = await chrome.newContext({
      ignoreHTTPSErrors: true, bypassCSP: true, locale: "ru-RU", timezoneId: "Asia/Tashkent",
      viewport: { width: 1366, height: 768 },
    });
    const page = await context.newPage();
    await page.goto(uzConsole);
    assert.equal(await page.getAttribute("html", "lang"), "ru");
    assert.equal(await page.textContent("h1"), "Вход");
    await page.screenshot({ path: `${screenshots}/sign-in.png` });
    assert.deepEqual(await accessibilityViolations(page), []);

    await page.fill("#name", "tashkent.officer");
    await page.fill("#password", uzPassword);
    await page.click("button[type=submit]");
    await page.waitForSelector("#alert-list");
    assert.equal(await page.textContent("h1"), "Оповещения");
    const before = await page.locator("#alert-list tbody tr").count();
    assert.deepEqual(await accessibilityViolations(page), []);

    execFileSync(process.env.TULPAR ?? "target/debug/tulpar", ["alert", "send", alertFile], {
      env: { ...process.env, TULPAR_NODE: kzNode, TULPAR_CA: kzCa, TULPAR_TOKEN: kzToken },
    });
    const sent = Date.now();
    await page.waitForFunction(
      (n) => document.querySelectorAll("#alert-list tbody tr").length > n, before, { timeout: 15000 },
    );
    console.log(`the alert appeared ${Date.now() - sent} ms after tulpar alert send returned`);
    assert.match(await page.textContent("#alert-list tbody tr"), /Срочный/);
    await page.screenshot({ path: `${screenshots}/alerts.png`, fullPage: true });

    await page.click("text=Выйти");
    await page.waitForSelector("#name");
    assert.match(await page.textContent(".notice"), /Вы вышли/);
  } finally {
    await chrome.close();
  }
});
