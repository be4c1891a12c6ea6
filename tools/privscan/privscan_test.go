package privscan

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"postern/mailbox/store"
)

func kinds(hits []Hit) []string {
	var out []string
	for _, h := range hits {
		out = append(out, string(h.Kind)+"="+h.Text)
	}
	slices.Sort(out)
	return out
}

// The scanner finds what it is for and stays quiet on what a data directory
// legitimately holds (armored ciphertext, midnight dates, clock-like hex).
func TestBytes(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string
	}{
		{"marker twice", "xxMARKaMARKa", []string{"marker=MARKa", "marker=MARKa"}},
		{"ipv4", "from 10.1.2.3 ok", []string{"ip address=10.1.2.3"}},
		{"ipv4 port", "peer=127.0.0.1:54321", []string{"ip address=127.0.0.1:54321"}},
		{"allowed listen addr", "listen=127.0.0.1:8080", nil},
		{"same ip other port", "127.0.0.1:8081", []string{"ip address=127.0.0.1:8081"}},
		{"not an octet", "999.1.1.1 and 1.2.3", nil},
		{"version", "go1.26.0 v2.0.0-beta.8", nil},
		{"ipv6", "addr [2001:db8::1]:443", []string{"ip address=[2001:db8::1]:443"}},
		{"ipv6 loopback", "::1 said", []string{"ip address=::1"}},
		{"clock is not ipv6", "15:09:46 and 00:00:00", nil},
		{"user agent", "ua=Mozilla/5.0 (Windows NT 10.0; rv:128.0)", []string{"user agent=Mozilla/5.0 (Windows NT 10.0; rv:128.0)"}},
		{"go client", "Go-http-client/1.1", []string{"user agent=Go-http-client/1.1"}},
		{"armor", "-----BEGIN PGP MESSAGE-----\n\nwV4DAAAAAAAAAAASAQdAb+/9Kz3f\n=abcd\n", nil},
	}
	o := Options{Markers: []string{"MARKa"}, AllowAddrs: []string{"127.0.0.1:8080"}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := kinds(Bytes("x", []byte(c.in), o))
			want := slices.Clone(c.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("Bytes(%q) = %q, want %q", c.in, got, want)
			}
		})
	}
}

func TestDates(t *testing.T) {
	midnight := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC).Unix()
	cases := []struct {
		name, in string
		want     int
	}{
		{"rfc5322 midnight", "Date: Sun, 29 Nov 2026 00:00:00 +0000\r\n", 0},
		{"rfc5322 time", "Date: Sun, 29 Nov 2026 15:09:46 +0000\r\n", 1},
		{"rfc3339", "2026-11-29T15:09:46Z", 1},
		{"json midnight", `{"c":` + itoa(midnight) + `,"z":12}`, 0},
		{"json seconds", `{"c":` + itoa(midnight+3725) + `}`, 1},
		{"json size", `{"z":1234567890123}`, 0},
	}
	for _, c := range cases {
		if got := Dates("x", []byte(c.in)); len(got) != c.want {
			t.Errorf("%s: %v, want %d hits", c.name, got, c.want)
		}
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// Dir scans every file, the raw database included, and StoreDates reads
// through the store: a store written at 15:09 keeps only the day.
func TestDirAndStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	now := func() time.Time { return time.Date(2026, 11, 29, 15, 9, 46, 0, time.UTC) }
	st, err := store.Init(dir, store.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	src := store.Source{ID: make([]byte, 32), Designation: "quixotic tangerine", Address: "qt@x.example", Created: now(), LastActive: now()}
	if err := st.CreateSource(src); err != nil {
		t.Fatal(err)
	}
	if err := st.AddJournalist(store.Journalist{Name: "jane", Created: now()}); err != nil {
		t.Fatal(err)
	}
	bw, err := st.NewBlob()
	if err != nil {
		t.Fatal(err)
	}
	bw.Write([]byte("ciphertext"))
	ref, err := bw.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Deliver(store.Delivery{Blob: ref, SourceID: src.ID}); err != nil {
		t.Fatal(err)
	}
	dh, err := StoreDates(st)
	if err != nil || len(dh) != 0 {
		t.Fatalf("StoreDates: %v %v", dh, err)
	}
	st.Close()

	hits, err := Dir(dir, Options{Markers: []string{"quixotic tangerine", "NOT-THERE"}})
	if err != nil {
		t.Fatal(err)
	}
	// The designation is not secret; it proves the raw db is read (bbolt
	// keeps several page copies, so it may be there more than once).
	got := slices.Compact(kinds(hits))
	if !slices.Equal(got, []string{"marker=quixotic tangerine"}) {
		t.Fatalf("Dir: %v", hits)
	}
	// A planted file with a client address and a clock time is found.
	os.WriteFile(filepath.Join(dir, "blobs", "stray"), []byte("192.0.2.7 at 15:09:46"), 0o600)
	hits, _ = Dir(dir, Options{})
	if len(hits) != 2 {
		t.Fatalf("planted file: %v", hits)
	}
}

// FuzzScan feeds arbitrary bytes (the scanner reads whole data
// directories, including ciphertext and the raw database): no panic, and
// every hit points inside the input at what it names.
func FuzzScan(f *testing.F) {
	for _, s := range []string{"", "10.0.0.1:80", "[::1]:1", "fe80::1%eth0", "Mozilla/5.0", `{"c":1764428986}`,
		"12:34:56", "1.2.3.4.5.6", "::::::::", "MARK", "\xff\xfe1\x00.\x002"} {
		f.Add([]byte(s))
	}
	o := Options{Markers: []string{"MARK"}, AllowAddrs: []string{"127.0.0.1:80"}}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, h := range append(Bytes("x", b, o), Dates("x", b)...) {
			if h.Offset < 0 || h.Offset > int64(len(b)) {
				t.Fatalf("hit %v outside %d bytes", h, len(b))
			}
			if h.Kind == Marker && !bytes.HasPrefix(b[h.Offset:], []byte(h.Text)) {
				t.Fatalf("marker hit %v does not point at the marker", h)
			}
		}
	})
}

// FileTimes finds a modification or access time of day on files and
// directories, leaves midnight alone, skips what it is told to, and moves
// no access time itself (a second scan agrees with the first).
func TestFileTimes(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "blobs")
	os.Mkdir(sub, 0o700)
	os.WriteFile(filepath.Join(sub, "a"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(dir, "skipped"), []byte("x"), 0o600)
	midnight := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	for _, p := range []string{filepath.Join(sub, "a"), sub, dir} {
		if err := os.Chtimes(p, midnight, midnight); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		hits, err := FileTimes(dir, []string{"skipped"})
		if err != nil || len(hits) != 0 {
			t.Fatalf("day times: %v %v", hits, err)
		}
	}
	late := midnight.Add(15*time.Hour + 9*time.Minute)
	os.Chtimes(filepath.Join(sub, "a"), midnight, late)
	hits, _ := FileTimes(dir, []string{"skipped"})
	if len(hits) != 1 || hits[0].Kind != FileTime {
		t.Fatalf("a modification time of day: %v", hits)
	}
}
