const [text, quoted, encrypt, sentCopy] = arguments;
const win = Services.wm.getMostRecentWindow("mail:3pane");
const server = MailServices.accounts.allServers.find(s => s.type === "imap");
const identity = MailServices.accounts.getFirstIdentityForServer(server);
identity.composeHtml = false;
identity.doFcc = sentCopy;
const am = win.gTabmail.currentAbout3Pane.messageBrowser.contentWindow;
await until("Reply to be enabled", () => am.commandController?.isCommandEnabled("cmd_reply"));
const before = new Set(Services.wm.getEnumerator("msgcompose"));
am.commandController.doCommand("cmd_reply");
const prompts = () => [...Services.wm.getEnumerator(null)]
  .filter(w => w.location?.href?.includes("commonDialog"))
  .map(w => w.document.getElementById("infoBody")?.textContent || w.document.title);
const cw = await until("the compose window", () => {
  if (prompts().length) throw new Error("prompt: " + prompts().join(" | "));
  for (const w of Services.wm.getEnumerator("msgcompose")) {
    if (!before.has(w) && w.document.readyState === "complete" && w.gLoadingComplete && w.gMsgCompose?.editor) return w;
  }
});
const editor = cw.gMsgCompose.editor;
const bodyText = () => editor.outputToString("text/plain", 0);
await until("the decrypted quote in the compose body", () => bodyText().includes(quoted),
  () => ({ body: bodyText().slice(0, 500) }));
// Encryption on or off, signing off, as the user would click them.
cw.gUserTouchedSendEncrypted = true;
cw.gUserTouchedSendSigned = true;
if (cw.gSendEncrypted !== encrypt) cw.onEncryptionChoice("enc");
if (cw.gSendSigned) cw.onEncryptionChoice("sig");
if (cw.gSendEncrypted !== encrypt || cw.gSendSigned) {
  throw new Error("OpenPGP choice: encrypted " + cw.gSendEncrypted + ", signed " + cw.gSendSigned);
}
// Type at the top, above the quote.
cw.focusMsgBody();
editor.beginningOfDocument();
editor.insertText(text);
editor.insertLineBreak();
editor.insertLineBreak();
await until("the text in the compose body", () => bodyText().includes(text), () => ({ body: bodyText().slice(0, 500) }));
const out = {
  to: cw.gMsgCompose.compFields.to,
  encrypted: cw.gSendEncrypted, signed: cw.gSendSigned, html: cw.gMsgCompose.composeHTML,
  status: [],
};
cw.gMsgCompose.addMsgSendListener({
  QueryInterface: ChromeUtils.generateQI(["nsIMsgSendListener"]),
  onStartSending() {}, onSendProgress() {}, onStatus() {}, onGetDraftFolderURI() {},
  onTransportSecurityError() {},
  onStopSending(id, status) { out.status.push("sent 0x" + (status >>> 0).toString(16)); },
  onSendNotPerformed() {},
});
if (!cw.defaultController.isCommandEnabled("cmd_sendNow")) throw new Error("Send is disabled");
cw.goDoCommand("cmd_sendNow");
await until("the compose window to close after sending", () => {
  if (prompts().length) throw new Error("prompt: " + prompts().join(" | "));
  return cw.closed;
}, () => out);
if (!out.status.includes("sent 0x0")) throw new Error("send status: " + out.status.join(", "));
return out;
