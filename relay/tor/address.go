package tor

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cretz/bine/torutil"
	"github.com/cretz/bine/torutil/ed25519"
)

// KeyAddress returns the onion address of the service name (Intake or
// Journalist) from its key in DATA/onion/NAME.key, without tor: the
// address is fixed by the key, so `relay status` can show it while the relay
// is stopped. It returns "" and no error when the key does not exist yet
// (the service was never published).
func KeyAddress(dataDir, name string) (string, error) {
	path := filepath.Join(dataDir, "onion", name+".key")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("tor: onion key: %w", err)
	}
	dayTimes(path) // reading moved its access time
	blob := strings.TrimSpace(string(b))
	if !keyBlob.MatchString(blob) {
		return "", fmt.Errorf("tor: onion key %s is damaged; restore it from a backup", path)
	}
	// tor's ED25519-V3 blob is the expanded secret key (64 bytes): the
	// clamped scalar, then the hash prefix.
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(blob, "ED25519-V3:"))
	if err != nil || len(raw) != 64 {
		return "", fmt.Errorf("tor: onion key %s is damaged; restore it from a backup", path)
	}
	pub := ed25519.PrivateKey(raw).PublicKey()
	return torutil.OnionServiceIDFromV3PublicKey(pub) + ".onion", nil
}
