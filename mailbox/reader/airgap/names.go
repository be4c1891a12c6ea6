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

// place moves the staged file src into dir under name (made safe), adding
// -2, -3… before the extension when the name is taken, and returns the path.
// A hard link is made, never a rename over a name: an existing file is never
// replaced, and a symbolic link planted in dir is never followed. Names are
// compared without case, as FAT and Windows do. A file of that name with the
// same content (a run cut short after it placed the file) is taken as is.
func place(dir, name, src string, size int64, sum string) (string, error) {
	name = SafeName(name)
	taken := map[string]bool{}
	des, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	for _, de := range des {
		taken[strings.ToLower(de.Name())] = true
	}
	stem, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		stem, ext = name[:i], name[i:]
	}
	for n := 1; n <= maxNameTries; n++ {
		cand := name
		if n > 1 {
			cand = fmt.Sprintf("%s-%d%s", stem, n, ext)
		}
		p := filepath.Join(dir, cand)
		if taken[strings.ToLower(cand)] {
			if sameContent(p, size, sum) {
				os.Remove(src)
				return p, nil
			}
			continue
		}
		err := os.Link(src, p)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		os.Remove(src)
		return p, nil
	}
	return "", fmt.Errorf("no free name for a file in %s", dir)
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
