package ctl

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"postern/relay/admin"
	"postern/relay/backup"
)

// TestBackupOverSocket: the archive streams through the control socket and
// verifies; the other new operations answer too.
func TestBackupOverSocket(t *testing.T) {
	ctx := context.Background()
	dir, _ := startServer(t)
	c, err := Dial(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	var plan backup.Plan
	if err := c.Backup(ctx, &buf, func(p backup.Plan) { plan = p }); err != nil {
		t.Fatal(err)
	}
	if plan.Files < 3 || plan.Bytes <= 0 {
		t.Fatalf("plan %+v", plan)
	}
	m, err := backup.Verify(ctx, bytes.NewReader(buf.Bytes()), backup.ExtractOptions{AnyInstance: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != plan.Files-2 { // the manifest lists neither itself nor the signature
		t.Fatalf("manifest has %d files, plan said %d", len(m.Files), plan.Files)
	}
	list, err := c.SourceList(ctx)
	if err != nil || len(list) != 0 {
		t.Fatalf("source list %v %v", list, err)
	}
	if _, err := c.SourceDelete(ctx, "no such source"); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("delete unknown: %v", err)
	}
	if _, err := c.SourcePrune(ctx, 0); !errors.Is(err, admin.ErrInvalid) {
		t.Fatalf("prune 0: %v", err)
	}
	if p, err := c.SourcePrune(ctx, 30); err != nil || p.InactiveDays != 30 {
		t.Fatalf("prune: %+v %v", p, err)
	}
	if r, err := c.Compact(ctx); err != nil || r.After <= 0 {
		t.Fatalf("compact %+v %v", r, err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.Retention == nil || st.Retention.Days != 90 {
		t.Fatalf("status retention %+v %v", st.Retention, err)
	}
	// A failure before the stream starts arrives as an error.
	if err := os.Remove(filepath.Join(dir, "postern.conf")); err != nil {
		t.Fatal(err)
	}
	if err := c.Backup(ctx, io.Discard, nil); !errors.Is(err, admin.ErrInstance) {
		t.Fatalf("backup without postern.conf: %v", err)
	}
}
