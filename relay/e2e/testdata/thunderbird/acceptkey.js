const { RNP } = ChromeUtils.importESModule("chrome://openpgp/content/modules/RNP.sys.mjs");
const { PgpSqliteDb2 } = ChromeUtils.importESModule("chrome://openpgp/content/modules/sqliteDb.sys.mjs");
const { EnigmailKeyRing } = ChromeUtils.importESModule("chrome://openpgp/content/modules/keyRing.sys.mjs");
const [dir] = arguments;
const win = Services.wm.getMostRecentWindow("mail:3pane");
const am = win.gTabmail.currentAbout3Pane.messageBrowser.contentWindow;
const att = (am.currentAttachments || []).find(a => /^OpenPGP_0x[0-9A-F]+\.asc$/i.test(a.name));
if (!att) throw new Error("no OpenPGP_0x….asc attachment: " + (am.currentAttachments || []).map(a => a.name).join(", "));
const path = PathUtils.join(dir, att.name);
await att.saveToFile(path, true);
const keyText = await IOUtils.readUTF8(path);
const res = await RNP.importPubkeyBlockAutoAcceptImpl(win, keyText, "unverified");
if (res.exitCode !== 0 || !(res.importedKeys || []).length) {
  throw new Error("public key import: " + JSON.stringify(res));
}
EnigmailKeyRing.clearCache();
const keys = [];
for (const id of res.importedKeys) {
  const k = EnigmailKeyRing.getKeyById(id);
  if (!k) throw new Error("imported key " + id + " not in the key ring");
  const emails = k.userIds.map(u => u.userId);
  const acceptance = await PgpSqliteDb2.getFingerprintAcceptance(null, k.fpr);
  keys.push({ id, fpr: k.fpr, userIds: emails, acceptance });
}
return { name: att.name, keys };
