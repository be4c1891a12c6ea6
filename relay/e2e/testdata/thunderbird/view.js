const [key, subject, line, names, saveDir] = arguments;
const win = Services.wm.getMostRecentWindow("mail:3pane");
const server = MailServices.accounts.allServers.find(s => s.type === "imap");
const inbox = server.rootFolder.getFolderWithFlags(Ci.nsMsgFolderFlags.Inbox);
const hdr = inbox.GetMessageHeader(key);
const about3Pane = await until("the 3-pane tab", () => {
  const a = win.gTabmail?.currentAbout3Pane;
  return a && a.document.readyState === "complete" && a.threadTree && a;
});
about3Pane.displayFolder(inbox);
// Opening the folder updates it from the server; once that is done the
// 3-pane restores its saved selection and resets the thread tree, which
// can leave a message being shown by then with an empty header pane.
// Select only after it, as a user would click a list that has settled.
await until("INBOX to be shown and loaded", () => about3Pane.gFolder === inbox &&
    about3Pane.dbViewWrapperListener?.allMessagesLoaded && about3Pane.gDBView?.rowCount >= 1,
  () => ({ folder: about3Pane.gFolder?.URI, loaded: about3Pane.dbViewWrapperListener?.allMessagesLoaded, rows: about3Pane.gDBView?.rowCount }));
about3Pane.selectMessage(hdr);
const state = () => {
  const am = about3Pane.messageBrowser.contentWindow;
  const ad = am?.document;
  const s = {
    uri: am?.gMessageURI,
    subject: ad?.getElementById("expandedsubjectBox")?.textContent,
    encIcon: ad?.getElementById("encryptedHdrIcon")?.hidden === false ? ad.getElementById("encryptedHdrIcon").getAttribute("src") : "(hidden)",
    shown: [...(ad?.getElementById("attachmentList")?.children || [])].map(e => e.getAttribute("name")),
    attachments: (am?.currentAttachments || []).map(a => a.name),
  };
  try { s.body = am.getMessagePaneBrowser().contentDocument?.body?.innerText; } catch (e) { s.body = String(e); }
  try { s.encState = { enc: am.Enigmail?.hdrView?.msgEncryptionState, sig: am.Enigmail?.hdrView?.msgSignatureState }; } catch (e) {}
  return s;
};
await until("the message to show decrypted", () => {
  const s = state();
  return s.uri === inbox.getUriForMsg(hdr) && s.encIcon.includes("encrypted-ok") &&
    s.subject?.includes(subject) && s.body?.includes(line) && names.every(n => s.attachments.includes(n));
}, state);
const out = state();
const am = about3Pane.messageBrowser.contentWindow;
out.attachments = [];
for (const a of am.currentAttachments) {
  const rec = { name: a.name, contentType: a.contentType, size: a.size };
  if (names.includes(a.name)) {
    rec.savedTo = PathUtils.join(saveDir, a.name);
    await a.saveToFile(rec.savedTo, true);
  }
  out.attachments.push(rec);
}
return out;
