const { setTimeout } = ChromeUtils.importESModule("resource://gre/modules/Timer.sys.mjs");
const { MailServices } = ChromeUtils.importESModule("resource:///modules/MailServices.sys.mjs");
const sleep = ms => new Promise(r => setTimeout(r, ms));
const deadline = Date.now() + limitMS;
async function until(what, f, state) {
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) {
      let s = "";
      try { s = state ? ": " + JSON.stringify(state()) : ""; } catch (e) { s = ": " + e; }
      throw new Error("timed out waiting for " + what + s);
    }
    await sleep(100);
  }
}
