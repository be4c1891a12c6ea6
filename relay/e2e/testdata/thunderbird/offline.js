const [user, host] = arguments;
const server = MailServices.accounts.findServer(user, host, "imap");
if (!server) throw new Error("no account for " + user + "@" + host);
const inbox = server.rootFolder.getFolderWithFlags(Ci.nsMsgFolderFlags.Inbox);
const offline = () => [...inbox.messages].filter(h => h.flags & Ci.nsMsgMessageFlags.Offline).length;
await until("every message body in the offline store", () => {
  const n = inbox.getTotalMessages(false);
  return n > 0 && offline() === n;
}, () => ({ total: inbox.getTotalMessages(false), offline: offline() }));
return { offline: offline() };
