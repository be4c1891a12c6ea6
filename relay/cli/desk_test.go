package cli_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"postern/mailbox/store"
	"postern/relay/admin"
)

// putBlob stores data as a committed blob (a stand-in for ciphertext).
func putBlob(t *testing.T, st *store.Store, data string) store.BlobRef {
	t.Helper()
	w, err := st.NewBlob()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if _, err := w.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	ref, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// addSourceOn stores a source on a desk, as the form would on a first
// submission, with one submission held for jane.
func addSourceOn(t *testing.T, dir, designation, desk string) {
	t.Helper()
	a, err := admin.Open(dir, admin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	st := a.Store()
	src := store.Source{ID: bytes.Repeat([]byte{byte(len(designation))}, 32), Designation: designation,
		Address: strings.ReplaceAll(designation, " ", ".") + "@x.onion", Desk: desk}
	if err := st.CreateSource(src); err != nil {
		t.Fatal(err)
	}
	ref := putBlob(t, st, "ciphertext")
	if err := st.Deliver(store.Delivery{Blob: ref, SourceID: src.ID, Journalists: []string{"jane"}}); err != nil {
		t.Fatal(err)
	}
}

func deskList(t *testing.T, dir string) []admin.DeskInfo {
	t.Helper()
	var res admin.DeskResult
	if err := json.Unmarshal([]byte(mustRelay(t, nil, "desk", "list", "--json", "--data", dir)), &res); err != nil {
		t.Fatal(err)
	}
	return res.Desks
}

func TestDeskCommands(t *testing.T) {
	dir := newInstance(t)
	for _, n := range []string{"jane", "bob"} {
		path, _ := writeKey(t, t.TempDir())
		mustRelay(t, nil, "journalist", "add", n, "--key", path, "--data", dir)
	}
	// One desk: every journalist is on it, as before desks.
	if ds := deskList(t, dir); len(ds) != 1 || ds[0].Slug != "newsroom" || strings.Join(ds[0].Journalists, ",") != "bob,jane" {
		t.Fatalf("desks of a new instance: %+v", ds)
	}
	out := mustRelay(t, nil, "desk", "add", "investigations", "--title", "Investigations",
		"--description", "Long-form work.", "--retention-days", "30", "--data", dir)
	if !strings.Contains(out, "Desk investigations added.") || !strings.Contains(out, "no journalist yet") {
		t.Fatalf("add output: %q", out)
	}
	st := mustRelay(t, nil, "status", "--data", dir)
	if !strings.Contains(st, "desk investigations:") || !strings.Contains(st, "WARNING: desk investigations has no journalist") {
		t.Errorf("status does not show the empty desk:\n%s", st)
	}
	mustRelay(t, nil, "desk", "assign", "investigations", "jane", "--data", dir)
	mustRelay(t, nil, "desk", "add", "partner", "--title", "Partner outlet", "--hidden", "--data", dir)
	mustRelay(t, nil, "desk", "assign", "partner", "bob", "--data", dir)

	if r := relay(t, nil, "desk"); r.code != 2 || !strings.Contains(r.stderr, "desk needs a subcommand") {
		t.Errorf("relay desk: %d %q", r.code, r.stderr)
	}
	// Bad input: a clear error, nothing changed.
	before := snapshot(t, dir)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"desk", "add", "Bad_Slug", "--title", "X"}, "bad desk slug"},
		{[]string{"desk", "add", strings.Repeat("a", 33), "--title", "X"}, "bad desk slug"},
		{[]string{"desk", "add", "fine"}, "--title is required"},
		{[]string{"desk", "add", "investigations", "--title", "Again"}, "already"},
		{[]string{"desk", "assign", "investigations", "nobody"}, "no journalist named"},
		{[]string{"desk", "assign", "nodesk", "jane"}, "not found"},
		{[]string{"desk", "unassign", "partner", "jane"}, "not on desk partner"},
		{[]string{"desk", "edit", "investigations", "--retention-days", "-3"}, "--retention-days wants"},
		{[]string{"desk", "edit", "investigations"}, "nothing to change"},
		{[]string{"desk", "move", "no such source", "partner"}, "no source designated"},
		{[]string{"desk", "remove", "nodesk"}, "not found"},
	} {
		r := relay(t, nil, append(c.args, "--data", dir)...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("relay %s: exit %d, stderr %q; want an error with %q", strings.Join(c.args, " "), r.code, r.stderr, c.want)
		}
	}
	if after := snapshot(t, dir); after != before {
		t.Error("a refused desk command changed the instance")
	}

	ds := deskList(t, dir)
	if len(ds) != 3 || ds[0].Slug != "investigations" || ds[0].RetentionDays != 30 || ds[1].Slug != "newsroom" || !ds[2].Hidden {
		t.Fatalf("desk list: %+v", ds)
	}

	// A desk holding a source is not removed; moving the source says what
	// stays behind; then the removal goes through.
	addSourceOn(t, dir, "quiet harbor", "investigations")
	r := relay(t, nil, "desk", "remove", "investigations", "--data", dir)
	if r.code == 0 || !strings.Contains(r.stderr, "still holds sources") {
		t.Fatalf("remove a desk with a source: %d %q", r.code, r.stderr)
	}
	out = mustRelay(t, nil, "desk", "move", "quiet harbor", "partner", "--data", dir)
	if !strings.Contains(out, "moved from desk investigations to desk partner") || !strings.Contains(out, "cannot re-encrypt") &&
		!strings.Contains(out, "no key to re-encrypt") {
		t.Errorf("move output: %q", out)
	}
	if sl := mustRelay(t, nil, "source", "list", "--data", dir); !strings.Contains(sl, "DESK") || !strings.Contains(sl, "partner") {
		t.Errorf("source list does not show the desk:\n%s", sl)
	}
	ds = deskList(t, dir)
	if ds[2].Slug != "partner" || ds[2].Sources != 1 || ds[0].Sources != 0 {
		t.Errorf("after the move: %+v", ds)
	}
	mustRelay(t, nil, "desk", "remove", "investigations", "--data", dir)
	out = mustRelay(t, nil, "desk", "remove", "partner", "--delete-submissions", "--data", dir)
	if !strings.Contains(out, "1 source(s) were deleted") {
		t.Errorf("remove --delete-submissions: %q", out)
	}
	if ds := deskList(t, dir); len(ds) != 1 {
		t.Errorf("desks left: %+v", ds)
	}
}
