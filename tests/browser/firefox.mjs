// Firefox driven over WebDriver BiDi, which Firefox serves itself: Playwright's Firefox needs a patched
// build, and Debian's firefox-esr is the stock one. Only what the console's test needs: a tab, its
// window size, navigation, and scripts run in the page.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";

// A fresh profile that asks nothing of the internet: no updates, telemetry, captive-portal checks or
// first-run pages.
const PREFERENCES = {
  "app.update.enabled": false,
  "browser.shell.checkDefaultBrowser": false,
  "browser.startup.homepage_override.mstone": "ignore",
  "datareporting.policy.dataSubmissionEnabled": false,
  "toolkit.telemetry.enabled": false,
  "network.captive-portal-service.enabled": false,
  "network.connectivity-service.enabled": false,
  "browser.safebrowsing.malware.enabled": false,
  "browser.safebrowsing.phishing.enabled": false,
  "extensions.update.enabled": false,
  "media.gmp-manager.url": "",
  "browser.newtabpage.enabled": false,
};

export class Firefox {
  static async launch(executable, { width, height }) {
    const profile = mkdtempSync(join(tmpdir(), "tulpar-firefox-"));
    writeFileSync(join(profile, "user.js"), Object.entries(PREFERENCES)
      .map(([name, value]) => `user_pref(${JSON.stringify(name)}, ${JSON.stringify(value)});`)
      .join("\n"));
    const child = spawn(executable, ["--headless", "--no-remote", "--profile", profile,
      "--remote-debugging-port", "0"], { stdio: ["ignore", "ignore", "pipe"] });
    const address = await new Promise((resolve, reject) => {
      let seen = "";
      const timer = setTimeout(() => reject(new Error(`Firefox did not start: ${seen}`)), 60000);
      child.stderr.on("data", (chunk) => {
        seen += chunk;
        const found = seen.match(/WebDriver BiDi listening on (ws:\/\/\S+)/);
        if (found) { clearTimeout(timer); resolve(found[1]); }
      });
      child.on("exit", (code) => reject(new Error(`Firefox exited (${code}): ${seen}`)));
    });
    const socket = new WebSocket(`${address}/session`);
    await new Promise((resolve, reject) => { socket.once("open", resolve); socket.once("error", reject); });
    const firefox = new Firefox(child, socket, profile);
    await firefox.send("session.new", { capabilities: { alwaysMatch: { acceptInsecureCerts: true } } });
    const tree = await firefox.send("browsingContext.getTree", {});
    firefox.context = tree.contexts[0].context;
    await firefox.send("browsingContext.setViewport",
      { context: firefox.context, viewport: { width, height } });
    return firefox;
  }

  constructor(child, socket, profile) {
    this.child = child;
    this.socket = socket;
    this.profile = profile;
    this.next = 1;
    this.waiting = new Map();
    socket.on("message", (data) => {
      const message = JSON.parse(data);
      const waiter = this.waiting.get(message.id);
      if (!waiter) { return; }
      this.waiting.delete(message.id);
      if (message.type === "error") {
        waiter.reject(new Error(`${message.error}: ${message.message}`));
      } else {
        waiter.resolve(message.result);
      }
    });
  }

  send(method, params) {
    const id = this.next++;
    this.socket.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }

  async goto(url) {
    await this.send("browsingContext.navigate", { context: this.context, url, wait: "complete" });
  }

  /// The value of `expression` (a primitive, or JSON-able through JSON.stringify) in the page.
  async evaluate(expression) {
    const answer = await this.send("script.evaluate", {
      expression: `JSON.stringify(${expression})`,
      target: { context: this.context },
      awaitPromise: true,
    });
    if (answer.type === "exception") {
      throw new Error(`${expression}: ${answer.exceptionDetails.text}`);
    }
    return JSON.parse(answer.result.value ?? "null");
  }

  /// Waits, at most `ms`, until `expression` is true in the page; navigations in between are fine.
  async until(expression, ms = 15000) {
    const deadline = Date.now() + ms;
    for (;;) {
      try {
        if (await this.evaluate(expression)) { return; }
      } catch (error) {
        if (Date.now() > deadline) { throw error; }
      }
      if (Date.now() > deadline) { throw new Error(`not in time: ${expression}`); }
      await new Promise((done) => setTimeout(done, 200));
    }
  }

  async screenshot(path) {
    const shot = await this.send("browsingContext.captureScreenshot", { context: this.context });
    writeFileSync(path, Buffer.from(shot.data, "base64"));
  }

  async close() {
    try { await this.send("session.end", {}); } catch { /* already gone */ }
    this.socket.close();
    if (this.child.exitCode === null) {
      const exited = new Promise((done) => this.child.once("exit", done));
      this.child.kill();
      await exited;
    }
    rmSync(this.profile, { recursive: true, force: true });
  }
}
