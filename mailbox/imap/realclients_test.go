package imapd

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Real clients from Debian against our server: curl and mbsync.

func TestCurlListsAndFetches(t *testing.T) {
	curl := needTool(t, "curl")
	e := newEnv(t, "alice")
	msg := sampleMessage("for curl", 30<<10)
	e.deliver(t, msg)
	run := func(url string) string {
		t.Helper()
		// The password goes through a config file on stdin, not argv.
		cmd := exec.Command(curl, "-sS", "--max-time", "60", "-K", "-", url)
		cmd.Stdin = strings.NewReader(fmt.Sprintf("user = \"alice:%s\"\n", e.pass["alice"]))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("curl %s: %v", url, err)
		}
		return string(out)
	}
	list := run("imap://" + e.addr + "/")
	for _, want := range []string{"INBOX", "Sent", "Drafts", "Trash", "Archive", "Junk"} {
		if !strings.Contains(list, want) {
			t.Errorf("curl LIST lacks %s:\n%s", want, list)
		}
	}
	if got := run("imap://" + e.addr + "/INBOX;UID=1"); got != msg {
		t.Errorf("curl fetched %d bytes, want %d identical bytes", len(got), len(msg))
	}
}

func TestMbsyncSyncsInbox(t *testing.T) {
	mbsync := needTool(t, "mbsync")
	e := newEnv(t, "alice")
	const n = 25
	for i := 0; i < n; i++ {
		e.deliver(t, sampleMessage(fmt.Sprint("mbsync ", i), 2000))
	}
	maildir := mbsyncInbox(t, mbsync, e, "alice")
	files, err := os.ReadDir(filepath.Join(maildir, "INBOX", "new"))
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := os.ReadDir(filepath.Join(maildir, "INBOX", "cur"))
	if got := len(files) + len(cur); got != n {
		t.Errorf("mbsync fetched %d messages, want %d", got, n)
	}
	for _, box := range []string{"Sent", "Trash", "Drafts"} {
		if _, err := os.Stat(filepath.Join(maildir, box)); err != nil {
			t.Errorf("mailbox %s not synced: %v", box, err)
		}
	}
	if len(files) > 0 {
		b, err := os.ReadFile(filepath.Join(maildir, "INBOX", "new", files[0].Name()))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "Subject: mbsync ") {
			t.Errorf("synced message looks wrong: %.200q", b)
		}
	}
}
