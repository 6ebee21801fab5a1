// The console in headless Chromium against a running demo federation, as people use it: the KZ and UZ
// officers sign in (in Russian) and keep their alert lists open; an alert KZ raises appears at UZ
// without reloading; the UZ officer opens it, acknowledges it and reports a seizure written as officers
// write it (HS "2939.11", quantity "120,5"), and the KZ officer's open list shows the outcome without
// reloading. Every page has no serious or critical accessibility violation (axe-core). Screenshots of
// each page go to $SCREENSHOTS.
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
const kzConsole = found(/^console: (\S+)/m, "the KZ console")[1];
const kzPassword = found(/aktau\.officer \/ (\S+)/, "the KZ officer's password")[1];
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

/// A signed-in page of `name` in a context of its own.
async function signIn(chrome, url, name, password) {
  // The node's certificate comes from the country's own CA, which this throwaway profile does not
  // hold; axe is injected as a script, which the console's CSP would rightly refuse.
  const context = await chrome.newContext({
    ignoreHTTPSErrors: true, bypassCSP: true, locale: "ru-RU", timezoneId: "Asia/Tashkent",
    viewport: { width: 1366, height: 768 },
  });
  const page = await context.newPage();
  await page.goto(url);
  await page.fill("#name", name);
  await page.fill("#password", password);
  await page.click("button[type=submit]");
  await page.waitForSelector("#alert-list");
  return page;
}

const rows = (n) => document.querySelectorAll("#alert-list tbody tr").length > n;

test("an alert raised at KZ is answered at UZ, each side watching live in Russian", async () => {
  const chrome = await browser();
  try {
    const signInPage = await (await chrome.newContext({ ignoreHTTPSErrors: true, bypassCSP: true,
      locale: "ru-RU" })).newPage();
    await signInPage.goto(uzConsole);
    assert.equal(await signInPage.getAttribute("html", "lang"), "ru");
    assert.equal(await signInPage.textContent("h1"), "Вход");
    await signInPage.screenshot({ path: `${screenshots}/sign-in.png` });
    assert.deepEqual(await accessibilityViolations(signInPage), []);

    const kz = await signIn(chrome, kzConsole, "aktau.officer", kzPassword);
    const uz = await signIn(chrome, uzConsole, "tashkent.officer", uzPassword);
    assert.equal(await uz.textContent("h1"), "Оповещения");
    assert.deepEqual(await accessibilityViolations(uz), []);
    const [kzBefore, uzBefore] = [
      await kz.locator("#alert-list tbody tr").count(),
      await uz.locator("#alert-list tbody tr").count(),
    ];

    execFileSync(process.env.TULPAR ?? "target/debug/tulpar", ["alert", "send", alertFile], {
      env: { ...process.env, TULPAR_NODE: kzNode, TULPAR_CA: kzCa, TULPAR_TOKEN: kzToken },
      stdio: ["ignore", "ignore", "inherit"],
    });
    const sent = Date.now();
    await uz.waitForFunction(rows, uzBefore, { timeout: 15000 });
    console.log(`the alert appeared at UZ ${Date.now() - sent} ms after tulpar alert send returned`);
    assert.match(await uz.textContent("#alert-list tbody tr"), /Срочный/);
    await uz.screenshot({ path: `${screenshots}/alerts.png`, fullPage: true });
    await kz.waitForFunction(rows, kzBefore, { timeout: 15000 });

    await uz.click("#alert-list tbody tr:first-child a");
    await uz.waitForSelector("text=Подтвердить: принимаем в работу");
    assert.deepEqual(await accessibilityViolations(uz), []);
    await uz.screenshot({ path: `${screenshots}/alert.png`, fullPage: true });
    await uz.click("text=Подтвердить: принимаем в работу");
    await uz.waitForSelector("input[value=seizure]");
    await uz.check("input[value=seizure]");
    await uz.fill("#seized-description", "Героин в фальшстенке контейнера");
    await uz.fill("#seized-hs", "2939.11");
    await uz.fill("#seized-quantity", "120,5");
    await uz.fill("#seized-unit", "kg");
    await uz.click("text=Сообщить результат");
    await uz.waitForSelector("text=Результат сообщён");
    const answered = await uz.textContent("main");
    assert.match(answered, /293911/, "the HS code as the node normalised it");
    assert.match(answered, /120\.5/);
    assert.doesNotMatch(answered, /Узел отклонил/);
    await uz.screenshot({ path: `${screenshots}/alert-answered.png`, fullPage: true });

    await kz.waitForFunction(
      () => document.querySelector("#alert-list tbody tr")?.textContent.includes("Результат сообщён"),
      null, { timeout: 15000 },
    );
    await kz.screenshot({ path: `${screenshots}/alerts-kz.png` });

    await uz.click("text=Выйти");
    await uz.waitForSelector("#name");
    assert.match(await uz.textContent(".notice"), /Вы вышли/);
  } finally {
    await chrome.close();
  }
});
