// The console in headless Chromium against a running demo federation, as people use it: the KZ and UZ
// officers sign in (in Russian) and keep their alert lists open; the KZ officer writes an alert from a
// template (broken container, IMO and air waybill numbers are refused at their fields) and sends it; it
// appears at UZ without reloading; the UZ officer opens it, acknowledges it, reports a seizure of two
// kinds of goods written as officers write it (HS "2939.11", quantity "120,5") with a photo, and
// corrects it with a reason; the KZ officer's open list shows the outcome without reloading, and its
// open alert page the photo and both outcomes. Every page has no serious or critical accessibility
// violation (axe-core). Screenshots of each page go to $SCREENSHOTS.
//
// A focal point signs in with a TOTP code, sees the partners, opens the exchange report with its
// charts, downloads a CSV identical to `tulpar audit report --csv` for the same period, reconciles with
// UZ and verifies the ledger with a live progress bar.
//
// Every page loads in at most 300 KB and fits a tablet; the officer's pages work in Firefox too
// (Debian's firefox-esr, $FIREFOX, driven over WebDriver BiDi by firefox.mjs).
//
//   DEMO_OUT=<the demo's output> TULPAR=<the tulpar binary> SCREENSHOTS=<folder> node --test tests/browser/
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { Firefox } from "./firefox.mjs";

const require = createRequire(import.meta.url);
const photo = fileURLToPath(new URL("../fixtures/seized.png", import.meta.url));
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

/// Whether the image `selector` finds has loaded and has a size.
async function shown(page, selector) {
  const image = page.locator(selector).first();
  await image.scrollIntoViewIfNeeded();
  // Lazily loaded: wait for it to finish, either way.
  await image.evaluate((img) => img.complete || new Promise((done) => {
    img.addEventListener("load", done, { once: true });
    img.addEventListener("error", done, { once: true });
  }));
  return image.evaluate((img) => img.naturalWidth > 0);
}

/// A signed-in page of `name` in a context of its own (`device` overrides the laptop's screen).
async function signIn(chrome, url, name, password, device = {}) {
  // The node's certificate comes from the country's own CA, which this throwaway profile does not
  // hold; axe is injected as a script, which the console's CSP would rightly refuse.
  const context = await chrome.newContext({
    ignoreHTTPSErrors: true, bypassCSP: true, locale: "ru-RU", timezoneId: "Asia/Tashkent",
    viewport: { width: 1366, height: 768 }, ...device,
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

    // The KZ officer writes the alert from the drugs template; a container, an IMO and an air waybill
    // number with wrong check digits are each refused at their field, and the corrected form is sent.
    await kz.click("a.button");
    await kz.click("text=наркотики и прекурсоры");
    await kz.check("input[name=recipient][value=UZ]");
    await kz.selectOption("#priority", "PRIORITY_URGENT");
    await kz.selectOption("#transport_mode", "TRANSPORT_MODE_RAIL");
    await kz.fill("#containers", "csqu 305438 4");
    await kz.fill("#vessel_imo", "IMO 9074728");
    await kz.selectOption("#document_kind", "TRANSPORT_DOCUMENT_KIND_AIR_WAYBILL");
    await kz.fill("#document_number", "020-12345676");
    await kz.fill("#goods_description", "Запасные части для сельхозтехники");
    await kz.fill("#goods_hs_code", "8433.90");
    await kz.fill("#goods_weight", "18 400,5");
    await kz.fill("#narrative", "Получатель зарегистрирован три недели назад, первая поставка.");
    await kz.click("button:has-text('Подписать и отправить')");
    await kz.waitForSelector(".field.refused #containers");
    // Each broken number is refused at its own field, in Russian, in one round trip.
    for (const field of ["containers", "vessel_imo", "document_number"]) {
      assert.match(await kz.textContent(`#${field}-error`), /контрольная цифра не сходится/, field);
    }
    assert.deepEqual(await accessibilityViolations(kz), []);
    await kz.screenshot({ path: `${screenshots}/compose-refused.png`, fullPage: true });
    await kz.fill("#containers", "csqu 305438 3");
    await kz.fill("#vessel_imo", "");
    await kz.selectOption("#document_kind", "");
    await kz.fill("#document_number", "");
    await kz.click("button:has-text('Подписать и отправить')");
    await kz.waitForSelector("text=Получатели и их ответы");
    const sent = Date.now();
    assert.match(await kz.textContent("main"), /CSQU3054383/, "the container as the node normalised it");
    // The sender keeps the alert's page open in a second tab, and its list in the first.
    const kzAlert = await kz.context().newPage();
    await kzAlert.goto(kz.url());
    await kzAlert.waitForSelector("#recipients");
    await kz.click("text=Все оповещения");
    await kz.waitForSelector("#alert-list");
    await uz.waitForFunction(rows, uzBefore, { timeout: 15000 });
    console.log(`the alert appeared at UZ ${Date.now() - sent} ms after KZ's page showed it sent`);
    assert.match(await uz.textContent("#alert-list tbody tr"), /Срочный/);
    await uz.screenshot({ path: `${screenshots}/alerts.png`, fullPage: true });
    assert.ok((await kz.locator("#alert-list tbody tr").count()) > kzBefore);

    await uz.click("#alert-list tbody tr:first-child a");
    await uz.waitForSelector("text=Подтвердить: принимаем в работу");
    assert.deepEqual(await accessibilityViolations(uz), []);
    await uz.screenshot({ path: `${screenshots}/alert.png`, fullPage: true });
    await uz.click("text=Подтвердить: принимаем в работу");
    await uz.waitForSelector("input[value=seizure]");
    await uz.check("input[value=seizure]");
    const row = (name, n) => uz.locator(`input[name=${name}]`).nth(n);
    await row("seized_description", 0).fill("Героин в фальшстенке контейнера");
    await row("seized_hs_code", 0).fill("2939.11");
    await row("seized_quantity", 0).fill("120,5");
    await row("seized_unit", 0).fill("kg");
    await row("seized_description", 1).fill("Прекурсоры");
    await row("seized_quantity", 1).fill("3");
    await row("seized_unit", 1).fill("л");
    await uz.setInputFiles("#outcome-attachments", photo);
    await uz.click("button:has-text('Сообщить результат')");
    await uz.waitForSelector("text=Результат сообщён");
    const answered = await uz.textContent("main");
    assert.match(answered, /293911/, "the HS code as the node normalised it");
    assert.match(answered, /120\.5/);
    assert.match(answered, /Прекурсоры/, "the second row of seized goods");
    assert.doesNotMatch(answered, /Узел отклонил/);
    assert.ok(await shown(uz, "img[alt='seized.png']"), "the photo is shown on the timeline");
    assert.deepEqual(await accessibilityViolations(uz), []);
    await uz.screenshot({ path: `${screenshots}/alert-answered.png`, fullPage: true });

    // The unit corrects its outcome with a reason; both stay on the timeline.
    await uz.fill("#correction-reason", "Экспертиза: сахар, а не героин");
    await uz.check("input[value=nothing-found]");
    await uz.click("button:has-text('Отправить исправление')");
    await uz.waitForSelector("text=позже исправлено");
    assert.match(await uz.textContent("main"), /Экспертиза: сахар/);
    await uz.screenshot({ path: `${screenshots}/alert-corrected.png`, fullPage: true });

    await kz.waitForFunction(
      () => document.querySelector("#alert-list tbody tr")?.textContent.includes("Результат сообщён"),
      null, { timeout: 15000 },
    );
    await kz.screenshot({ path: `${screenshots}/alerts-kz.png` });
    // The sender's open alert page shows, without reloading, the seizure with its photo and the
    // correction after it.
    await kzAlert.waitForSelector("text=позже исправлено", { timeout: 15000 });
    assert.ok(await shown(kzAlert, "img[alt='seized.png']"), "the photo reached the sender");
    assert.match(await kzAlert.textContent("#recipients"), /Экспертиза: сахар/);
    await kzAlert.screenshot({ path: `${screenshots}/alert-kz.png`, fullPage: true });

    await uz.click("text=Выйти");
    await uz.waitForSelector("#name");
    assert.match(await uz.textContent(".notice"), /Вы вышли/);
  } finally {
    await chrome.close();
  }
});

/// The current TOTP code (RFC 6238: SHA-1, six digits, 30 s) of a base32 secret, as an app computes it.
function totp(secret) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const char of secret.replace(/=+$/, "")) {
    bits += alphabet.indexOf(char.toUpperCase()).toString(2).padStart(5, "0");
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((byte) => parseInt(byte, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30)));
  const tag = createHmac("sha1", key).update(counter).digest();
  const offset = tag[tag.length - 1] & 0x0f;
  return String((tag.readUInt32BE(offset) & 0x7fffffff) % 1000000).padStart(6, "0");
}

test("a focal point signs in with a code, sees the partners, and downloads the report's CSV", async () => {
  const focalPassword = found(/kz\.focal \/ (\S+)/, "the focal point's password")[1];
  const secret = found(/kz%2Efocal\?secret=([A-Z2-7]+)/, "the focal point's TOTP secret")[1];
  const focalToken = found(/As KZ's focal point, in the KZ shell:\s*export TULPAR_TOKEN=(\S+)/,
    "the focal point's token")[1];
  const [, cliFrom, cliTo] = found(/tulpar audit report --from (\S+) --to (\S+)/, "the report period");
  const [, kzNode, kzCa] = found(/export TULPAR_NODE=(\S+)\s+export TULPAR_CA=(\S+kz\S+)/, "KZ's node");
  const chrome = await browser();
  try {
    const context = await chrome.newContext({
      ignoreHTTPSErrors: true, bypassCSP: true, locale: "ru-RU", acceptDownloads: true,
      viewport: { width: 1366, height: 768 },
    });
    const page = await context.newPage();
    await page.goto(kzConsole);
    await page.fill("#name", "kz.focal");
    await page.fill("#password", focalPassword);
    await page.click("button[type=submit]");
    assert.match(await page.textContent(".notice"), /нужен код/);
    await page.fill("#password", focalPassword);
    await page.fill("#code", totp(secret));
    await page.click("button[type=submit]");
    await page.waitForSelector("text=Партнёры");
    assert.match(await page.textContent("main"), /UZ/);
    assert.deepEqual(await accessibilityViolations(page), []);
    await page.screenshot({ path: `${screenshots}/focal-home.png`, fullPage: true });

    await page.click("text=Отчёт об обмене");
    await page.fill("#from", cliFrom.split("-").reverse().join("."));
    await page.fill("#to", cliFrom);
    await page.click("button:has-text('Показать')");
    await page.waitForSelector("svg.chart.months");
    // The month's bars hold the demo's exchange, and the times chart one row per partner and direction.
    const month = cliFrom.slice(0, 7);
    assert.match(await page.textContent("table.months"), new RegExp(month));
    assert.ok(await page.locator("svg.chart.months rect").count() > 0, "bars of alerts per month");
    assert.ok(await page.locator("svg.chart.times rect").count() >= 4, "median and 90% bars");
    assert.deepEqual(await accessibilityViolations(page), []);
    await page.screenshot({ path: `${screenshots}/report.png`, fullPage: true });
    const [download] = await Promise.all([
      page.waitForEvent("download"), page.click("text=Скачать CSV"),
    ]);
    const downloaded = readFileSync(await download.path(), "utf8");
    const cli = execFileSync(process.env.TULPAR ?? "target/debug/tulpar",
      ["audit", "report", "--from", cliFrom, "--to", cliTo, "--csv"],
      { env: { ...process.env, TULPAR_NODE: kzNode, TULPAR_CA: kzCa, TULPAR_TOKEN: focalToken } });
    assert.equal(downloaded, cli.toString(), "the console's CSV is tulpar audit report --csv");

    // Reconciliation with UZ over the same days, then the ledger verified now with a live progress bar.
    await page.goto(`${kzConsole}reconcile?partner=UZ&from=${cliFrom}&to=${cliFrom}`);
    await page.waitForSelector("dl.summary");
    assert.deepEqual(await accessibilityViolations(page), []);
    await page.screenshot({ path: `${screenshots}/reconcile.png`, fullPage: true });
    await page.goto(`${kzConsole}verify`);
    await page.click("#verify-start");
    await page.waitForSelector("#verify-result.notice", { timeout: 60000 });
    assert.match(await page.textContent("#verify-result"), /Все записи проверены/);
    const [value, max] = await page.evaluate(() => {
      const bar = document.getElementById("verify-progress");
      return [bar.value, bar.max];
    });
    assert.ok(max > 1 && value === max, `the bar is full: ${value} of ${max}`);
    assert.deepEqual(await accessibilityViolations(page), []);
    await page.screenshot({ path: `${screenshots}/verify.png`, fullPage: true });
  } finally {
    await chrome.close();
  }
});

test("every page loads in at most 300 KB and fits a tablet held upright", async () => {
  const chrome = await browser();
  try {
    const tablet = { viewport: { width: 768, height: 1024 }, isMobile: true, hasTouch: true };
    const page = await signIn(chrome, kzConsole, "aktau.officer", kzPassword, tablet);
    const alert = await page.getAttribute("#alert-list tbody tr:first-child a", "href");
    for (const path of ["", alert.replace(/^\/console\//, ""), "compose?template=drugs"]) {
      // A fresh page with the cache off: everything the page needs is fetched and counted.
      const fresh = await page.context().newPage();
      const client = await fresh.context().newCDPSession(fresh);
      await client.send("Network.enable");
      await client.send("Network.setCacheDisabled", { cacheDisabled: true });
      let bytes = 0;
      client.on("Network.loadingFinished", (event) => { bytes += event.encodedDataLength; });
      // Not "networkidle": the list keeps its event stream open.
      await fresh.goto(`${kzConsole}${path}`, { waitUntil: "load" });
      await fresh.waitForTimeout(1000);
      console.log(`/console/${path}: ${bytes} bytes on first load`);
      assert.ok(bytes > 0 && bytes <= 300 * 1024, `/console/${path}: ${bytes} bytes`);
      const overflow = await fresh.evaluate(() =>
        document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `/console/${path} is ${overflow} px wider than the tablet`);
      await fresh.screenshot({ path: `${screenshots}/tablet-${path.split(/[/?]/)[0] || "alerts"}.png` });
      await fresh.close();
    }
  } finally {
    await chrome.close();
  }
});

test("the officer's console works in Firefox: sign-in, a live arrival, an alert, a refused form", async () => {
  const [, kzNode, kzCa] = found(/export TULPAR_NODE=(\S+)\s+export TULPAR_CA=(\S+kz\S+)/, "KZ's node");
  const kzToken = found(/export TULPAR_TOKEN=(officer-KZ-\S+)/, "the KZ officer's token")[1];
  const draft = found(/tulpar alert send (\S+)/, "an alert to send")[1];
  const firefox = await Firefox.launch(process.env.FIREFOX ?? "/usr/bin/firefox-esr",
    { width: 1366, height: 768 });
  try {
    await firefox.goto(kzConsole);
    await firefox.evaluate(`(() => {
      document.getElementById("name").value = "aktau.officer";
      document.getElementById("password").value = ${JSON.stringify(kzPassword)};
      document.querySelector("form[action$='/sign-in']").requestSubmit();
      return true;
    })()`);
    await firefox.until(`!!document.getElementById("alert-list")`);
    assert.equal(await firefox.evaluate(`document.querySelector("h1").textContent`), "Оповещения");
    // The page's script runs: times in the viewer's zone beside UTC.
    await firefox.until(`document.querySelectorAll("time .local").length > 0`);
    const before = await firefox.evaluate(`document.querySelectorAll("#alert-list tbody tr").length`);
    await firefox.until(`document.getElementById("alert-list").dataset.live !== undefined`);
    // Give the event stream a moment to open, then raise an alert from the command line.
    await new Promise((done) => setTimeout(done, 1000));
    const sent = execFileSync(process.env.TULPAR ?? "target/debug/tulpar", ["alert", "send", draft],
      { env: { ...process.env, TULPAR_NODE: kzNode, TULPAR_CA: kzCa, TULPAR_TOKEN: kzToken } })
      .toString().trim();
    await firefox.until(`document.querySelectorAll("#alert-list tbody tr").length > ${before}`);
    await firefox.screenshot(`${screenshots}/firefox-alerts.png`);

    await firefox.goto(`${kzConsole}alerts/${sent}`);
    await firefox.until(`!!document.getElementById("recipients")`);
    assert.match(await firefox.evaluate(`document.querySelector("main").textContent`), /CSQU3054383/);

    await firefox.goto(`${kzConsole}compose?template=drugs`);
    await firefox.evaluate(`(() => {
      document.querySelector("input[name=recipient][value=UZ]").checked = true;
      document.getElementById("containers").value = "csqu 305438 4";
      document.querySelector("form.compose button[type=submit]:not([name])").click();
      return true;
    })()`);
    await firefox.until(`!!document.getElementById("containers-error")`);
    assert.match(await firefox.evaluate(`document.getElementById("containers-error").textContent`),
      /контрольная цифра не сходится/);
    await firefox.screenshot(`${screenshots}/firefox-compose-refused.png`);
  } finally {
    await firefox.close();
  }
});
