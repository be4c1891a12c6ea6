package e2e_test

import _ "embed"

// The chrome JavaScript the Thunderbird test runs through Marionette
// (marionette_test.go) lives in testdata/thunderbird, one file a step, so
// that it reads and lints as JavaScript.

// tbHelpersJS opens every script: modules, sleep, and until, which polls
// f every 100 ms until it returns something truthy or limitMS is over.
//
//go:embed testdata/thunderbird/helpers.js
var tbHelpersJS string

// tbSetupJS imports the journalist's secret key as a personal key, creates
// the IMAP account (plain connection, normal password) with an identity
// and SMTP server, and syncs INBOX until it holds want messages.
// Arguments: secret key, fingerprint, user, host, IMAP port, SMTP port,
// password, want.
//
//go:embed testdata/thunderbird/setup.js
var tbSetupJS string

// tbViewJS shows one message (by key) in the 3-pane as a click would, waits
// until Thunderbird's OpenPGP code has decrypted it (status icon, subject
// and body shown, attachments listed), then saves the named attachments
// with AttachmentInfo.saveToFile, what "Save" does after the file picker.
// Arguments: message key, subject, a line of the body, attachment names,
// folder to save to.
//
//go:embed testdata/thunderbird/view.js
var tbViewJS string

// tbAcceptKeyJS does what the journalist does with the source's key
// attached to the message shown in the 3-pane (OpenPGP_0x….asc): imports
// it and accepts it (as "unverified", "I have not verified this key"),
// which Thunderbird's key import records for every address in the key's
// user IDs. It saves the attachment to dir to read it.
// Arguments: folder to save to.
//
//go:embed testdata/thunderbird/acceptkey.js
var tbAcceptKeyJS string

// tbReplyJS answers the message shown in the 3-pane as the Reply button
// does (cmd_reply in the message pane), composing plain text. It sets
// OpenPGP encryption on or off (Thunderbird turns it on for a reply to an
// encrypted message) and signing off for this message as a click on those
// buttons would, types the text at the top of the body, sends, and waits
// until the compose window closes after the send and the copy to Sent. A
// prompt (a send or copy error) fails the script with its text.
// Arguments: the text, a line of the original (quoted once decrypted),
// whether to encrypt, whether to keep a copy in Sent.
//
//go:embed testdata/thunderbird/reply.js
var tbReplyJS string

// tbDiagJS returns recent console errors and OpenPGP messages.
//
//go:embed testdata/thunderbird/diag.js
var tbDiagJS string

// tbOfflineJS waits until every INBOX message of the account (user, host)
// has its body in Thunderbird's offline store: the end of a first sync.
//
//go:embed testdata/thunderbird/offline.js
var tbOfflineJS string
