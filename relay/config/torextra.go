package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxTorInclude bounds a torrc file read to recognise a test network.
const maxTorInclude = 256 << 10

// TorExtraBeyondTestNetwork returns the tor_extra lines that are not an
// include of a private test network's torrc (see TestNetworkInclude). relay
// serve refuses to start with any of them unless its --allow-tor-extra flag is
// given: whatever postern.conf says goes into tor's configuration, and
// postern.conf travels in backups.
func (c Config) TorExtraBeyondTestNetwork(dataDir string) []string {
	var out []string
	for _, l := range c.TorExtra {
		if TestNetworkInclude(l, dataDir) != nil {
			out = append(out, l)
		}
	}
	return out
}

// TestNetworkInclude accepts exactly what tools/tornet asks the relay to add to
// its torrc, `%include PATH` of the network's join file, and says why anything
// else is not that. PATH must be absolute, without wildcards, and name (after
// symlinks) a regular file outside the data directory (which a backup fills)
// that neither group nor others may write; that file, or one it includes under
// the same rules, sets TestingTorNetwork 1, which keeps tor off the public
// network. A line that passes cannot come from a backup alone: the file it
// names lies outside everything a restore writes.
func TestNetworkInclude(line, dataDir string) error {
	path, ok := strings.CutPrefix(line, "%include ")
	if !ok {
		return errors.New("not a %include line")
	}
	found, err := testNetworkFile(strings.TrimSpace(path), dataDir, 0)
	if err != nil {
		return err
	}
	if !found {
		return errors.New("the included file does not set TestingTorNetwork 1")
	}
	return nil
}

func testNetworkFile(path, dataDir string, depth int) (bool, error) {
	if depth > 2 {
		return false, errors.New("includes nested too deep")
	}
	if !filepath.IsAbs(path) || strings.ContainsAny(path, "*?[ \t") || filepath.Clean(path) != path {
		return false, fmt.Errorf("%q is not a plain absolute file name", path)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return false, fmt.Errorf("%q: %w", path, err)
	}
	if data, err := filepath.EvalSymlinks(dataDir); err == nil {
		if rel, err := filepath.Rel(data, real); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return false, fmt.Errorf("%q lies in the data directory, which backups fill", path)
		}
	}
	f, err := os.Open(real)
	if err != nil {
		return false, fmt.Errorf("%q: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("%q: %w", path, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o022 != 0 || fi.Size() > maxTorInclude {
		return false, fmt.Errorf("%q is not a small regular file writable only by its owner", path)
	}
	found := false
	sc := bufio.NewScanner(io.LimitReader(f, maxTorInclude))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) == 2 && fields[0] == "%include":
			sub, err := testNetworkFile(fields[1], dataDir, depth+1)
			if err != nil {
				return false, err
			}
			found = found || sub
		case len(fields) >= 1 && strings.HasPrefix(fields[0], "%"):
			return false, fmt.Errorf("%q: unexpected %s", path, fields[0])
		case len(fields) == 2 && strings.EqualFold(fields[0], "TestingTorNetwork") && fields[1] == "1":
			found = true
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("%q: %w", path, err)
	}
	return found, nil
}
