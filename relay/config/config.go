// Package config reads and writes postern.conf, the one settings file of a
// Postern instance. It lives in the data directory next to the database.
//
// The format is deliberately small so that an admin can read every line and a
// typo cannot pass silently:
//
//	# a comment (only on a line of its own: values may contain '#')
//	key = value
//
// Every key may appear at most once, except the repeatable ones (tor_extra).
// An unknown key, a repeated key, a line without '=' or a value out of range
// is an error that names the line. There are no includes, no quoting and no
// environment expansion.
//
// The source_kdf_* settings are special: they are part of every source's key
// (the codename is stretched with them), so the instance records them in its
// database when it is created and refuses to start when the file disagrees.
package config

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"postern/mailbox/kdf"
	"postern/mailbox/store"
)

// FileName is the name of the settings file inside the data directory.
const FileName = "postern.conf"

// KDFParams are argon2id parameters. The field names and types match
// mailbox/kdf.Params so that a plain conversion turns one into the other,
// while this package stays free of the KDF implementation.
type KDFParams struct {
	Time      uint32
	MemoryKiB uint32
	Threads   uint8
}

// String renders the parameters for messages: "t=3 m=65536KiB p=1".
func (p KDFParams) String() string {
	return fmt.Sprintf("t=%d m=%dKiB p=%d", p.Time, p.MemoryKiB, p.Threads)
}

// Config holds every setting of an instance. Build one with Default and
// change fields, or read one with Parse or Load.
type Config struct {
	MailDomain         string
	Organisation       string
	MaxSubmissionMiB   int64
	MaxMessageChars    int
	PublishKeyFPRs     bool
	RetentionDays      int
	IntakeListen       string
	IMAPListen         string
	SMTPListen         string
	KDFWorkers         int
	KDFQueue           int
	SessionIdleMinutes int
	SourceKDFVersion   int
	SourceKDF          KDFParams
	PasswordKDF        KDFParams
	ArchiveKeyFile     string
	NewsroomTextFile   string
	Languages          []string // nil: every complete catalogue ("languages = all")
	LogLevel           string
	TorExtra           []string

	// DeliveryWindowMinutes batches deliveries (see delivery.Options.Window);
	// 0 delivers at once.
	DeliveryWindowMinutes int
	// CanaryStatement is the optional warrant canary of the manifest.
	CanaryStatement string
	// ManifestMaxAgeDays: relay status warns, and the form shows the
	// manifest as expired, once the published manifest is older.
	ManifestMaxAgeDays int

	// JournalistKDFWorkers sizes the journalists' own argon2id pool (IMAP
	// LOGIN, SMTP AUTH, passphrase hashing): no source traffic reaches it.
	JournalistKDFWorkers int
}

// Default returns the settings a fresh instance starts with.
func Default() Config {
	return Config{
		MailDomain:         "postern.local",
		Organisation:       "Postern",
		MaxSubmissionMiB:   500,
		MaxMessageChars:    100000,
		PublishKeyFPRs:     true,
		RetentionDays:      90,
		IntakeListen:       "127.0.0.1:8080",
		IMAPListen:         "127.0.0.1:1143",
		SMTPListen:         "127.0.0.1:1587",
		KDFWorkers:         0,
		KDFQueue:           64,
		SessionIdleMinutes: 120,
		SourceKDFVersion:   1,
		SourceKDF:          KDFParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 1},
		PasswordKDF:        KDFParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 1},
		ArchiveKeyFile:     "",
		NewsroomTextFile:   "",
		Languages:          nil, // every language with a complete catalogue
		LogLevel:           "info",

		JournalistKDFWorkers: 2,

		DeliveryWindowMinutes: 10,
		ManifestMaxAgeDays:    30,
	}
}

// MaxSubmissionBytes is the submission cap in bytes.
func (c Config) MaxSubmissionBytes() int64 { return c.MaxSubmissionMiB << 20 }

// SessionIdle is the source session idle timeout.
func (c Config) SessionIdle() time.Duration {
	return time.Duration(c.SessionIdleMinutes) * time.Minute
}

// DeliveryWindow is the batching window of deliveries; zero: none.
func (c Config) DeliveryWindow() time.Duration {
	return time.Duration(c.DeliveryWindowMinutes) * time.Minute
}

// Retention is how long submissions are kept; zero means forever.
func (c Config) Retention() time.Duration {
	return time.Duration(c.RetentionDays) * 24 * time.Hour
}

// ArchiveKeyPath resolves archive_key_file against the data directory;
// empty when no archive key is configured.
func (c Config) ArchiveKeyPath(dataDir string) string {
	if c.ArchiveKeyFile == "" || filepath.IsAbs(c.ArchiveKeyFile) {
		return c.ArchiveKeyFile
	}
	return filepath.Join(dataDir, c.ArchiveKeyFile)
}

// NewsroomTextPath resolves newsroom_text_file against the data directory;
// empty when there is none.
func (c Config) NewsroomTextPath(dataDir string) string {
	if c.NewsroomTextFile == "" || filepath.IsAbs(c.NewsroomTextFile) {
		return c.NewsroomTextFile
	}
	return filepath.Join(dataDir, c.NewsroomTextFile)
}

// Load reads and checks DIR/postern.conf.
func Load(dataDir string) (Config, error) {
	path := filepath.Join(dataDir, FileName)
	f, err := store.OpenNoAtime(path) // a read must not date the file (docs/admin.md)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	c, err := Parse(f)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Validate checks the relations between settings and each value's range.
// Parse calls it; callers that build a Config in code should too.
func (c Config) Validate() error {
	for _, s := range settings {
		if err := s.check(&c); err != nil {
			return fmt.Errorf("%s: %w", s.key, err)
		}
	}
	return nil
}

var (
	domainRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
	languageRE = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)
)

// CheckListen accepts host:port on a loopback address (or "localhost"):
// every Postern listener sits behind Tor on the same machine, and binding
// anything else would expose a service directly. Port 0 (any free port)
// is allowed for tests.
func CheckListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if _, err := net.LookupPort("tcp", port); err != nil || strings.HasPrefix(port, "-") {
		return fmt.Errorf("%q: bad port", addr)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("%q: only loopback addresses are allowed (Tor publishes the services)", addr)
	}
	return nil
}

// checkKDF applies the KDF package's own bounds, so a file the relay
// accepts can never hold parameters the pool would refuse at run time.
func checkKDF(p KDFParams) error {
	return kdf.Params(p).Validate()
}
