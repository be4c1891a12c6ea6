package store

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
)

// mappedKiB is how much of path is mapped into this process and resident
// (the Rss of its mappings in /proc/self/smaps).
func mappedKiB(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	total, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if fields := strings.Fields(l); len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = strings.HasSuffix(l, " "+path)
			continue
		}
		if v, ok := strings.CutPrefix(l, "Rss:"); ok && in {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			total += n
		}
	}
	return total
}

// A pass over a mailbox's records (SELECT's index, STATUS, retention, the
// daily report's counts) leaves the database out of the relay's memory:
// Linux maps the neighbours of every page read (fault-around), which kept
// most of the file, message structures included, in the relay's RSS.
func TestScansLeaveDatabaseUnmapped(t *testing.T) {
	s, _ := newTestStore(t)
	addJournalist(t, s, "alice")
	meta := bytes.Repeat([]byte("structure "), 200)
	for range 400 {
		if err := s.Deliver(Delivery{Blob: putBlob(t, s, randomBytes(t, 64)), Meta: meta}); err != nil {
			t.Fatal(err)
		}
	}
	path := s.dbPath()
	for name, scan := range map[string]func() error{
		"MessageIndex": func() error { _, err := s.MessageIndex("alice", "INBOX"); return err },
		"Messages":     func() error { _, err := s.Messages("alice", "INBOX"); return err },
		"Stats":        func() error { _, err := s.Stats(); return err },
		"Expiring":     func() error { _, err := s.Expiring(afternoon); return err },
	} {
		if err := scan(); err != nil {
			t.Fatal(err)
		}
		if kib := mappedKiB(t, path); kib > 64 {
			t.Errorf("after %s, %d KiB of the database stay mapped", name, kib)
		}
	}
}
