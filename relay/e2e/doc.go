// Package e2e holds end-to-end tests that drive the real relay binary as an
// admin, a source and a journalist would: the privacy scan after every flow
// and the crash test (SIGKILL under concurrent submissions). It has no code
// of its own besides the tests.
package e2e
