const { RNP } = ChromeUtils.importESModule("chrome://openpgp/content/modules/RNP.sys.mjs");
const { PgpSqliteDb2 } = ChromeUtils.importESModule("chrome://openpgp/content/modules/sqliteDb.sys.mjs");
const { EnigmailCore } = ChromeUtils.importESModule("chrome://openpgp/content/modules/core.sys.mjs");
const { OpenPGPMasterpass } = ChromeUtils.importESModule("chrome://openpgp/content/modules/masterpass.sys.mjs");
const { EnigmailKeyRing } = ChromeUtils.importESModule("chrome://openpgp/content/modules/keyRing.sys.mjs");
const { BondOpenPGP } = ChromeUtils.importESModule("chrome://openpgp/content/BondOpenPGP.sys.mjs");
const [keyText, fpr, user, host, port, smtpPort, pass, want] = arguments;
const win = await until("the 3-pane window", () => {
  const w = Services.wm.getMostRecentWindow("mail:3pane");
  return w && w.document.readyState === "complete" && w;
});
// The window's delayed start-up initialises OpenPGP; starting it here too
// is harmless (it runs once).
BondOpenPGP.init().catch(() => {});
await until("OpenPGP to initialise",
  () => RNP.libLoaded && EnigmailCore._initialized && OpenPGPMasterpass.cachedPassword,
  () => ({ lib: RNP.libLoaded, core: EnigmailCore._initialized, pass: !!OpenPGPMasterpass.cachedPassword }));
const passCB = (w, prompt, resultFlags) => { resultFlags.canceled = false; return ""; };
const res = await RNP.importSecKeyBlockImpl(win, passCB, false, keyText, []);
const keyID = "0x" + fpr.slice(-16);
if (res.exitCode !== 0 || !(res.importedKeys || []).includes(keyID)) {
  throw new Error("secret key import: " + JSON.stringify(res));
}
await PgpSqliteDb2.acceptAsPersonalKey(fpr);
EnigmailKeyRing.clearCache();

const server = MailServices.accounts.createIncomingServer(user, host, "imap");
server.port = port;
server.socketType = Ci.nsMsgSocketType.plain;
server.authMethod = Ci.nsMsgAuthMethod.passwordCleartext;
server.password = pass;
const identity = MailServices.accounts.createIdentity();
identity.email = user + "@newsroom.example";
identity.fullName = "Jane";
if (smtpPort) {
  const smtp = MailServices.outgoingServer.createServer("smtp");
  smtp.QueryInterface(Ci.nsISmtpServer);
  smtp.hostname = host;
  smtp.port = smtpPort;
  smtp.socketType = Ci.nsMsgSocketType.plain;
  smtp.authMethod = Ci.nsMsgAuthMethod.passwordCleartext;
  smtp.username = user;
  smtp.password = pass;
  identity.smtpServerKey = smtp.key;
}
identity.setUnicharAttribute("openpgp_key_id", fpr.slice(-16));
identity.setBoolAttribute("sign_mail", false);
identity.setIntAttribute("encryptionpolicy", 0);
const account = MailServices.accounts.createAccount();
account.incomingServer = server;
account.addIdentity(identity);

const inbox = await until("INBOX to exist",
  () => server.rootFolder.getFolderWithFlags(Ci.nsMsgFolderFlags.Inbox));
let asked = 0, asks = 0;
await until("INBOX to hold " + want + " message(s)", () => {
  if (Date.now() - asked > 10000) { // ask again now and then
    asked = Date.now();
    asks++;
    inbox.updateFolder(null);
  }
  return inbox.getTotalMessages(false) >= want;
}, () => ({ total: inbox.getTotalMessages(false), serverBusy: server.serverBusy }));
return {
  imported: res.importedKeys,
  asks,
  total: inbox.getTotalMessages(false),
  hdrs: [...inbox.messages].map(h => ({ key: h.messageKey, subject: h.mime2DecodedSubject, size: h.messageSize })),
};
