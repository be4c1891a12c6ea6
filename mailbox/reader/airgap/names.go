package airgap

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"postern/mailbox/pgpmime"
)

// SafeName turns an untrusted file name into one that is safe on Linux,
// Windows and FAT: pgpmime.SanitizeFilename (last path element only, no
// control or bidi characters, no leading dots, no characters Windows refuses,
// at most 120 bytes keeping the extension), and a name Windows reserves for a
// device (con.txt, NUL, com1.log…) gets a leading underscore.
func SafeName(name string) string {
	name = pgpmime.SanitizeFilename(name)
	base, _, _ := strings.Cut(name, ".")
	switch b := strings.ToUpper(strings.TrimRight(base, " ")); {
	case b == "CON", b == "PRN", b == "AUX", b == "NUL", b == "CONIN$", b == "CONOUT$",
		len(b) == 4 && (strings.HasPrefix(b, "COM") || strings.HasPrefix(b, "LPT")) && b[3] >= '0' && b[3] <= '9':
		name = "_" + name
	}
	return name
}

// maxNameTries bounds the -2, -3… suffixes tried for one name.
const maxNameTries = 10000

// names remembers, per folder, the names taken (lowercased), read once from
// the folder and kept up to date as files are placed.
type names map[string]map[string]bool

func (n names) taken(dir string) (map[string]bool, error) {
	if t, ok := n[dir]; ok {
		return t, nil
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	t := map[string]bool{}
	for _, de := range des {
		t[strings.ToLower(de.Name())] = true
	}
	n[dir] = t
	return t, nil
}

// place puts a staged file into dir under its name made safe, adding -2,
// -3… before the extension when the name is taken, and returns the path. The
// file is created with O_EXCL, or hard-linked from the staging folder: an
// existing file is never replaced, and a symbolic link planted in dir is
// never followed. Names are compared without case, as FAT and Windows do. A
// file of that name with the same content (a run cut short after it placed
// the file) is taken as is.
func (n names) place(dir string, sf staged) (string, error) {
	taken, err := n.taken(dir)
	if err != nil {
		return "", err
	}
	name := SafeName(sf.Orig)
	stem, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		stem, ext = name[:i], name[i:]
	}
	for i := 1; i <= maxNameTries; i++ {
		cand := name
		if i > 1 {
			cand = fmt.Sprintf("%s-%d%s", stem, i, ext)
		}
		p := filepath.Join(dir, cand)
		if taken[strings.ToLower(cand)] {
			if sameContent(p, sf.Size, sf.SHA256) {
				return p, nil
			}
			continue
		}
		err := put(p, sf)
		if errors.Is(err, fs.ErrExist) {
			taken[strings.ToLower(cand)] = true
			continue
		}
		if err != nil {
			return "", err
		}
		taken[strings.ToLower(cand)] = true
		return p, nil
	}
	return "", fmt.Errorf("no free name for a file in %s", dir)
}

// put writes a file kept in memory, or links a staged one, at p.
func put(p string, sf staged) error {
	if sf.Path != "" {
		return os.Link(sf.Path, p)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o400)
	if err != nil {
		return err
	}
	_, err = f.Write(sf.Data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p)
	}
	return err
}

func sameContent(path string, size int64, sum string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() || fi.Size() != size {
		return false
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false
	}
	return hex.EncodeToString(h.Sum(nil)) == sum
}
