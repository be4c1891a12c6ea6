package sandbox_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"postern/mailbox/pgp/pgptest"
	"postern/mailbox/reader/sandbox"
	"postern/mailbox/reader/sandbox/sandboxtest"
)

func needSandbox(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"mat2", "bwrap", "prlimit", "exiftool"} {
		pgptest.NeedTool(t, tool)
	}
}

// clean runs the cleaner on src into dir/safe and returns the outcome.
func clean(t *testing.T, o sandbox.Options, src string) (sandbox.Outcome, string) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	work := t.TempDir()
	before, _ := os.ReadFile(src)
	res := sandbox.Clean(t.Context(), o, src, dst, work)
	if after, _ := os.ReadFile(src); !bytes.Equal(before, after) {
		t.Fatal("the original was changed")
	}
	if left, _ := os.ReadDir(work); len(left) != 0 {
		t.Fatalf("the work folder was not emptied: %v", left)
	}
	return res, dst
}

// TestCleanRemovesMetadata: GPS from a photo, the Author from a PDF, the
// creator from a Word document; exiftool checks the copies.
func TestCleanRemovesMetadata(t *testing.T) {
	needSandbox(t)
	dir := t.TempDir()
	for _, c := range []struct {
		path string
		tags []string
	}{
		{sandboxtest.JPEG(t, dir, "photo.jpg"), []string{"GPSLatitude", "GPSPosition", "Whistle Blower"}},
		{sandboxtest.PDF(t, dir, "memo.pdf", "Jane Insider"), []string{"Jane Insider"}},
		{sandboxtest.DOCX(t, dir, "minutes.docx", "Jane Insider"), []string{"Jane Insider"}},
	} {
		before := string(pgptest.Run(t, nil, "exiftool", "-s", c.path))
		if !strings.Contains(before, c.tags[0]) {
			t.Fatalf("%s has no %s to begin with:\n%s", c.path, c.tags[0], before)
		}
		res, dst := clean(t, sandbox.Options{}, c.path)
		if !res.Cleaned {
			t.Fatalf("%s: not cleaned: %s", filepath.Base(c.path), res.Why)
		}
		after := string(pgptest.Run(t, nil, "exiftool", "-s", dst))
		for _, tag := range c.tags {
			if strings.Contains(after, tag) {
				t.Errorf("%s: the cleaned copy still has %s:\n%s", filepath.Base(c.path), tag, after)
			}
		}
	}
}

func TestCleanUnsupportedType(t *testing.T) {
	needSandbox(t)
	src := filepath.Join(t.TempDir(), "data.bin")
	os.WriteFile(src, bytes.Repeat([]byte{0, 1, 2, 3}, 1000), 0o600)
	res, dst := clean(t, sandbox.Options{}, src)
	if res.Cleaned || res.Why != "unsupported type" {
		t.Fatalf("outcome %+v", res)
	}
	if _, err := os.Stat(dst); err == nil {
		t.Fatal("a copy was written for a file that was not cleaned")
	}
}

// TestCleanZipBomb: a zip that inflates to 1 GiB meets the sandbox's /tmp and
// file size caps, or its time limit; mat2 fails, nothing is written, and the
// test machine is none the worse.
func TestCleanZipBomb(t *testing.T) {
	needSandbox(t)
	src := sandboxtest.ZipBomb(t, t.TempDir(), "archive.zip", 1<<30)
	t.Run("caps", func(t *testing.T) {
		res, dst := clean(t, sandbox.Options{Tmp: 32 << 20, FileSize: 32 << 20, Memory: 1 << 30}, src)
		if res.Cleaned || res.Why != "mat2 failed: OSError: [Errno 27] File too large" && !strings.HasPrefix(res.Why, "timed out") {
			t.Fatalf("outcome %+v", res)
		}
		if _, err := os.Stat(dst); err == nil {
			t.Fatal("a copy was written")
		}
	})
	t.Run("timeout", func(t *testing.T) {
		res, _ := clean(t, sandbox.Options{Timeout: time.Second, Tmp: 4 << 30, FileSize: 4 << 30}, src)
		if res.Cleaned || res.Why != "timed out after 1s" {
			t.Fatalf("outcome %+v", res)
		}
	})
}
