// Package privscan looks for what a seized Postern server must never hold:
// planted plaintext markers, IP addresses, browser user agents and
// fine-grained dates, in every byte of a data directory (the bbolt file read
// raw, the ciphertext blobs, the settings) and in captured logs. End-to-end
// tests plant markers in every field a source or journalist controls, run
// the flows, stop the relay and call it; any hit is a privacy bug.
//
// Markers are searched as plain bytes only. Ciphertext cannot contain them
// by accident, and the relay never base64- or QP-encodes plaintext outside
// the encryption, so other encodings would add only noise.
//
// The scanner reads files whole; data directories under test are small.
// It is not part of the relay.
package privscan

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// Kind says what a hit is.
type Kind string

// Kinds of hits.
const (
	Marker    Kind = "marker"
	IPAddress Kind = "ip address"
	UserAgent Kind = "user agent"
	FineDate  Kind = "date finer than a day"
)

// Hit is one finding.
type Hit struct {
	Kind   Kind
	Where  string // file path, "logs", or a store record
	Offset int64  // byte offset in Where (-1 when not a byte stream)
	Text   string // what matched (quoted for display)
}

func (h Hit) String() string {
	if h.Offset < 0 {
		return fmt.Sprintf("%s in %s: %q", h.Kind, h.Where, h.Text)
	}
	return fmt.Sprintf("%s in %s at byte %d: %q", h.Kind, h.Where, h.Offset, h.Text)
}

// Options tune a scan.
type Options struct {
	// Markers are planted strings that must appear nowhere.
	Markers []string
	// AllowAddrs are exact "host:port" strings that may appear (the relay's
	// own loopback listen addresses, which it announces at start-up). A
	// bare IP, or the same IP with another port (a client's address), is
	// still a hit.
	AllowAddrs []string
	// SkipTimes are paths under the data directory (relative, forward
	// slashes) whose file times Check leaves out: what the relay cannot set.
	SkipTimes []string
}

var (
	// ipv4RE finds dotted quads; each octet is checked by netip. The
	// optional port lets AllowAddrs name exact listen addresses.
	ipv4RE = regexp.MustCompile(`(?:^|[^0-9.])((?:[0-9]{1,3}\.){3}[0-9]{1,3})(:[0-9]{1,5})?`)
	// ipv6RE finds colon-separated hex groups with at least two colons;
	// netip then decides. Clock times ("15:09:46") do not parse as IPv6.
	ipv6RE = regexp.MustCompile(`(?i)\[?((?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?:%[a-z0-9]+)?)(\]:[0-9]{1,5})?`)
	// uaRE finds product tokens of browsers and HTTP libraries.
	uaRE = regexp.MustCompile(`(?:Mozilla|Gecko|AppleWebKit|Chrome|Firefox|Safari|Edg|OPR|curl|Wget|Go-http-client|python-requests|Tor Browser)/[0-9]`)
	// clockRE finds a time of day (RFC 5322 dates, RFC 3339 stamps); on
	// disk only midnight may appear.
	clockRE = regexp.MustCompile(`(?:^|[^0-9:])([0-2][0-9]:[0-5][0-9]:[0-5][0-9])(?:[^0-9:]|$)`)
	// unixRE finds JSON numbers (the store's record encoding) that would be
	// a Unix time between 2001 and 2096; on disk they must fall on a
	// midnight UTC. Keys known to hold other 10-digit numbers are skipped:
	// "v" (UIDVALIDITY, random), "n" (UIDNEXT), "i" (ids), "z" (sizes). Any
	// other key, including one added later, is checked.
	unixRE = regexp.MustCompile(`"([^"]{1,16})":(-?[0-9]{10})[,}\]]`)
)

// Bytes scans b, named where, for markers, IP addresses and user agents.
func Bytes(where string, b []byte, o Options) []Hit {
	var hits []Hit
	for _, m := range o.Markers {
		if m == "" {
			continue
		}
		for off := 0; ; {
			i := bytes.Index(b[off:], []byte(m))
			if i < 0 {
				break
			}
			hits = append(hits, Hit{Marker, where, int64(off + i), m})
			off += i + 1
		}
	}
	for _, loc := range ipv4RE.FindAllSubmatchIndex(b, -1) {
		ip, err := netip.ParseAddr(string(b[loc[2]:loc[3]]))
		if err != nil || !ip.Is4() {
			continue
		}
		hits = appendAddr(hits, where, b, loc)
	}
	for _, loc := range ipv6RE.FindAllSubmatchIndex(b, -1) {
		s := string(b[loc[2]:loc[3]])
		ip, err := netip.ParseAddr(s)
		if err != nil || !ip.Is6() || !bytes.ContainsAny(b[loc[2]:loc[3]], "0123456789abcdefABCDEF") {
			continue
		}
		hits = appendAddr(hits, where, b, loc)
	}
	for _, loc := range uaRE.FindAllIndex(b, -1) {
		end := min(loc[1]+40, len(b))
		hits = append(hits, Hit{UserAgent, where, int64(loc[0]), string(b[loc[0]:end])})
	}
	return filterAllowed(hits, o.AllowAddrs)
}

func appendAddr(hits []Hit, where string, b []byte, loc []int) []Hit {
	end := loc[3]
	if loc[5] > 0 {
		end = loc[5]
	}
	start := loc[2]
	if start > 0 && b[start-1] == '[' {
		start--
	}
	return append(hits, Hit{IPAddress, where, int64(loc[2]), string(b[start:end])})
}

func filterAllowed(hits []Hit, allow []string) []Hit {
	out := hits[:0]
	for _, h := range hits {
		if h.Kind == IPAddress && slices.Contains(allow, h.Text) {
			continue
		}
		out = append(out, h)
	}
	return out
}

// Dates scans b for stored times finer than a day: a time of day other than
// 00:00:00, or a JSON number that is a Unix time not on a UTC midnight.
// It is meant for the data directory, not for logs (log records carry their
// own time stamp by design; the logging handler cuts it to the second).
func Dates(where string, b []byte) []Hit {
	var hits []Hit
	for _, loc := range clockRE.FindAllSubmatchIndex(b, -1) {
		if s := string(b[loc[2]:loc[3]]); s != "00:00:00" {
			hits = append(hits, Hit{FineDate, where, int64(loc[2]), s})
		}
	}
	lo, hi := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(2096, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for _, loc := range unixRE.FindAllSubmatchIndex(b, -1) {
		switch string(b[loc[2]:loc[3]]) {
		case "v", "n", "i", "z":
			continue
		}
		v, err := strconv.ParseInt(string(b[loc[4]:loc[5]]), 10, 64)
		if err != nil || v < lo || v > hi || v%86400 == 0 {
			continue
		}
		hits = append(hits, Hit{FineDate, where, int64(loc[4]), time.Unix(v, 0).UTC().Format(time.RFC3339)})
	}
	return hits
}

// Dir scans every regular file under dir, the database included, with
// Bytes and Dates. Symlinks are reported as errors: a data directory has
// none, and following one could scan the wrong tree.
func Dir(dir string, o Options) ([]Hit, error) {
	var hits []Hit
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("privscan: %s is not a regular file", path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("privscan: %w", err)
		}
		hits = append(hits, Bytes(path, b, o)...)
		hits = append(hits, Dates(path, b)...)
		return nil
	})
	if err != nil {
		return hits, err
	}
	return hits, nil
}
