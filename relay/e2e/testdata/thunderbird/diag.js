return Services.console.getMessageArray()
  .filter(m => (m instanceof Ci.nsIScriptError) ? !(m.flags & 1) : /rror|OpenPGP|IMAP/i.test(m.message))
  .slice(-40)
  .map(m => (m.errorMessage || m.message || "").slice(0, 300) + (m.sourceName ? " @" + m.sourceName.split("/").pop() + ":" + m.lineNumber : ""))
  .join("\n");
