// Package admin implements the admin operations of a Postern instance:
// creating it, managing journalists and reporting its health. The same
// methods serve the `relay` command line when no daemon runs and the
// daemon's control socket when one does (relay/ctl), so there is one
// implementation of every rule.
//
// Requests and results are plain JSON-serialisable structs. Errors are
// *Error values: a one-line message fit for an admin's terminal and a Kind
// that callers (and the control socket) branch on.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"postern/mailbox/kdf"
	"postern/mailbox/store"
	"postern/mailbox/tally"
	"postern/relay/config"
	"postern/relay/identity"
)

// Version is the relay's version, reported by `relay version` and status.
const Version = "0.1.0-dev"

// Kinds of failure. Every error returned by this package wraps one of them.
var (
	ErrInvalid  = errors.New("invalid request")             // bad name, empty key…
	ErrKey      = errors.New("unusable OpenPGP key")        // key refused by mailbox/pgp
	ErrExists   = errors.New("already exists")              // journalist or instance exists
	ErrNotFound = errors.New("not found")                   // no such journalist
	ErrInstance = errors.New("not a usable instance")       // missing, damaged or mismatched
	ErrLocked   = errors.New("instance in use")             // another process holds the database
	ErrInternal = errors.New("internal error")              // anything else
	ErrBusy     = errors.New("busy, try again in a moment") // the KDF pool is saturated
)

// Error is a failure with a message for the admin and a Kind to branch on.
type Error struct {
	Kind error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap exposes the Kind to errors.Is.
func (e *Error) Unwrap() error { return e.Kind }

func fail(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Metadata keys this package keeps in the store.
const (
	metaSourceKDF = "source_kdf" // JSON sourceKDF: the parameters every source key depends on
	metaMode      = "mode"       // "demo" for instances made by `relay demo`
)

type sourceKDF struct {
	Version   int    `json:"version"`
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
}

func (k sourceKDF) String() string {
	return fmt.Sprintf("version %d, t=%d m=%dKiB p=%d", k.Version, k.Time, k.MemoryKiB, k.Threads)
}

func sourceKDFOf(c config.Config) sourceKDF {
	return sourceKDF{Version: c.SourceKDFVersion, Time: c.SourceKDF.Time,
		MemoryKiB: c.SourceKDF.MemoryKiB, Threads: c.SourceKDF.Threads}
}

// Options configure an Admin.
type Options struct {
	// Pool runs the sources' derivations (the web form); nil builds one
	// from the config (kdf_workers, kdf_queue).
	Pool *kdf.Pool
	// JournalistPool runs journalists' logins and passphrase hashing; nil
	// builds one from the config (journalist_kdf_workers).
	JournalistPool *kdf.Pool
	// Logger gets operational lines (through relay/logging); nil discards.
	Logger *slog.Logger
	// Now is the clock; nil = time.Now.
	Now func() time.Time
	// LockTimeout bounds the wait for the database lock (store default if 0).
	LockTimeout time.Duration
	// Tally counts what the store and the services do not log (report.go);
	// nil makes a new one.
	Tally *tally.Tally
}

// Admin performs admin operations on one open instance. It is safe for
// concurrent use (the store serialises writes).
type Admin struct {
	st   *store.Store
	cfg  config.Config
	pool *kdf.Pool // sources: the web form
	jour *kdf.Pool // journalists: IMAP, SMTP, passphrase hashing
	log  *slog.Logger
	now  func() time.Time
	own  bool // Close closes the store

	id identity.Key // the instance's identity key: signs its backups (relay/identity)

	hooks hooks
	ret   retention    // the daily retention pass (retention.go)
	tally *tally.Tally // failures counted instead of logged (report.go)
}

func newAdmin(st *store.Store, cfg config.Config, id identity.Key, o Options, own bool) *Admin {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Pool == nil {
		o.Pool = NewPool(cfg)
	}
	if o.JournalistPool == nil {
		o.JournalistPool = NewJournalistPool(cfg)
	}
	if o.Tally == nil {
		o.Tally = tally.New()
	}
	return &Admin{st: st, cfg: cfg, id: id, pool: o.Pool, jour: o.JournalistPool, log: o.Logger, now: o.Now, own: own, tally: o.Tally}
}

// NewPool builds the bounded argon2id pool of the sources' derivations.
func NewPool(cfg config.Config) *kdf.Pool {
	q := cfg.KDFQueue
	if q == 0 {
		q = -1 // the config's 0 means "no waiting"; kdf's 0 means "default"
	}
	return kdf.NewPool(kdf.PoolOptions{Workers: cfg.KDFWorkers, Queue: q})
}

// journalistQueue is how many journalist logins may wait for a worker of
// their pool. Only holders of a journalist onion key reach it, and a
// waiting login holds no argon2 memory, so it is sized for a newsroom's
// mail clients all starting at once (about five connections each).
const journalistQueue = 256

// NewJournalistPool builds the journalists' own argon2id pool. It is
// separate from the sources' so that no amount of web-form traffic can make
// an IMAP LOGIN or SMTP AUTH answer "busy" (DESIGN.md: an anonymous flood
// never reaches journalists). Its memory adds to the sources' pool: peak
// KDF memory is (kdf_workers + journalist_kdf_workers) × 2 × the memory
// parameter, 4 × 128 MiB = 512 MiB with the defaults on two cores.
func NewJournalistPool(cfg config.Config) *kdf.Pool {
	return kdf.NewPool(kdf.PoolOptions{Workers: cfg.JournalistKDFWorkers, Queue: journalistQueue})
}

// InitOptions are the choices made once, when an instance is created.
type InitOptions struct {
	Options
	// Demo marks the instance as made by `relay demo`; demo refuses to touch
	// an instance without this mark, so it can never add its well-known
	// journalist to a real newsroom.
	Demo bool
}

// Init creates a new instance in dir (absent or empty) with the settings
// cfg: the store (database, salt, blobs/), the instance's identity key
// (instance.key, 0600), postern.conf (0600), and the record of the source
// KDF parameters. On failure it removes what it made.
func Init(dir string, cfg config.Config, o InitOptions) (*Admin, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fail(ErrInvalid, "settings: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, config.FileName)); err == nil {
		return nil, fail(ErrExists, "%s already holds a Postern instance; init changes nothing", dir)
	}
	_, statErr := os.Stat(dir)
	existed := statErr == nil
	if o.Tally == nil {
		o.Tally = tally.New()
	}
	st, err := store.Init(dir, store.Options{LockTimeout: o.LockTimeout, Logger: o.Logger, Now: o.Now, Tally: o.Tally})
	switch {
	case errors.Is(err, store.ErrInstanceExists):
		return nil, fail(ErrExists, "%s already holds a Postern instance; init changes nothing", dir)
	case errors.Is(err, store.ErrNotInstance):
		return nil, fail(ErrInstance, "%s is not empty; init needs an empty or absent directory", dir)
	case err != nil:
		return nil, fail(ErrInstance, "cannot create an instance in %s: %v", dir, err)
	}
	undo := func(cause error) error {
		st.Close()
		if existed {
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		} else {
			os.RemoveAll(dir)
		}
		return cause
	}
	k, _ := json.Marshal(sourceKDFOf(cfg))
	if err := st.SetMeta(metaSourceKDF, k); err != nil {
		return nil, undo(fail(ErrInternal, "init: %v", err))
	}
	if o.Demo {
		if err := st.SetMeta(metaMode, []byte("demo")); err != nil {
			return nil, undo(fail(ErrInternal, "init: %v", err))
		}
	}
	id, err := identity.Create(dir)
	if err != nil {
		return nil, undo(fail(ErrInternal, "init: %v", err))
	}
	if err := cfg.WriteFile(dir); err != nil {
		return nil, undo(fail(ErrInternal, "init: %v", err))
	}
	a := newAdmin(st, cfg, id, o.Options, true)
	a.DayTimes(filepath.Join(dir, config.FileName), dir)
	a.log.Info("instance created", "dir", dir)
	return a, nil
}

// Open opens the instance in dir: it reads postern.conf, opens the store
// (which waits at most LockTimeout for the database lock) and checks that
// the source KDF settings still match the ones recorded at init.
func Open(dir string, o Options) (*Admin, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fail(ErrInstance, "data directory %s does not exist (create an instance with 'relay init --data %s')", dir, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, config.FileName)); err != nil {
		return nil, fail(ErrInstance, "%s is not a Postern instance: no %s (create one with 'relay init')", dir, config.FileName)
	}
	cfg, err := config.Load(dir)
	if err != nil {
		return nil, fail(ErrInstance, "%v", err)
	}
	if o.Tally == nil {
		o.Tally = tally.New()
	}
	st, err := store.Open(dir, store.Options{LockTimeout: o.LockTimeout, Logger: o.Logger, Now: o.Now, Tally: o.Tally})
	switch {
	case errors.Is(err, store.ErrLocked):
		return nil, fail(ErrLocked, "the database in %s is in use by another relay process", dir)
	case errors.Is(err, store.ErrNotInstance):
		return nil, fail(ErrInstance, "%s is not a Postern instance: it has %s but no database", dir, config.FileName)
	case err != nil:
		return nil, fail(ErrInstance, "cannot open the instance in %s: %v", dir, err)
	}
	a, err := New(st, cfg, o)
	if err != nil {
		st.Close()
		return nil, err
	}
	a.own = true
	return a, nil
}

// New wraps an already open store. It refuses a config whose source KDF
// settings differ from the recorded ones: every source's id and reply key
// was derived with them, so a change would lock every source out. An
// instance made before identity keys existed gets one here, once (it is
// logged as a warning: backups are signed from now on, and an admin must
// learn the new fingerprint).
func New(st *store.Store, cfg config.Config, o Options) (*Admin, error) {
	raw, err := st.GetMeta(metaSourceKDF)
	if err != nil {
		return nil, fail(ErrInstance, "%s has no record of its source KDF settings (not made by 'relay init'?): %v", st.Dir(), err)
	}
	var rec sourceKDF
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fail(ErrInstance, "source KDF record is damaged: %v", err)
	}
	if want := sourceKDFOf(cfg); want != rec {
		return nil, fail(ErrInstance,
			"%s: source_kdf_* settings (%s) differ from those this instance was created with (%s); every source's key depends on them, so restore the recorded values",
			filepath.Join(st.Dir(), config.FileName), want, rec)
	}
	id, created, err := identity.LoadOrCreate(st.Dir())
	if err != nil {
		return nil, fail(ErrInstance, "instance identity key: %v", err)
	}
	a := newAdmin(st, cfg, id, o, false)
	if created {
		a.log.Warn("this instance had no identity key (made before backups were signed); created " +
			filepath.Join(st.Dir(), identity.FileName) + ": backups are signed with it from now on; restore them with --instance " +
			id.Fingerprint().String())
	}
	return a, nil
}

// InstanceFingerprint names the instance's identity key: the key that signs its
// backups, and what restore --instance expects.
func (a *Admin) InstanceFingerprint() string { return a.id.Fingerprint().String() }

// Close closes the store if this Admin opened it.
func (a *Admin) Close() error {
	if !a.own {
		return nil
	}
	return a.st.Close()
}

// Store returns the open store, for the daemon to hand to the services.
func (a *Admin) Store() *store.Store { return a.st }

// Config returns the settings the instance runs with.
func (a *Admin) Config() config.Config { return a.cfg }

// Pool returns the sources' KDF pool, for the web form.
func (a *Admin) Pool() *kdf.Pool { return a.pool }

// JournalistPool returns the journalists' KDF pool, for the IMAP and SMTP
// authenticator; the admin's passphrase hashing runs on it too.
func (a *Admin) JournalistPool() *kdf.Pool { return a.jour }

// IsDemo reports whether `relay demo` created this instance.
func (a *Admin) IsDemo() bool {
	v, err := a.st.GetMeta(metaMode)
	return err == nil && string(v) == "demo"
}

// nameRE is the rule for journalist names: they are IMAP/SMTP logins and
// file names of onion client keys, so keep them boring.
var nameRE = regexp.MustCompile(`^[a-z][a-z0-9._-]{0,31}$`)

// ValidName checks a journalist name against the naming rule.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fail(ErrInvalid, "bad journalist name %q: use 1-32 characters a-z 0-9 . _ -, starting with a letter", clip(name))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

// storeErr turns a store error into an admin error for the named journalist.
func storeErr(err error, name string) error {
	var ae *Error
	switch {
	case errors.As(err, &ae):
		return err
	case errors.Is(err, store.ErrNotFound):
		return fail(ErrNotFound, "no journalist named %q", name)
	case errors.Is(err, store.ErrExists):
		return fail(ErrExists, "journalist %q already exists", name)
	}
	return fail(ErrInternal, "%v", err)
}

func kdfErr(err error) error {
	if errors.Is(err, kdf.ErrBusy) {
		return fail(ErrBusy, "the relay is busy deriving keys; try again in a moment")
	}
	return fail(ErrInternal, "password hash: %v", err)
}

// ctxErr is checked between slow steps so a cancelled admin request stops.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fail(ErrInternal, "cancelled: %v", err)
	}
	return nil
}

// DayTimes gives files the relay wrote outside the store the day's times, as
// the store does with its own (mailbox/store/filetime.go): the configuration,
// the data directory after the control socket came or went, onion hostname
// files. A failure is counted: the files are whole, only their times would be
// exact.
func (a *Admin) DayTimes(paths ...string) {
	now := a.now()
	for _, p := range paths {
		if err := store.DayTimes(p, now); err != nil && !errors.Is(err, os.ErrNotExist) {
			a.tally.Add(store.KindTimes, err)
		}
	}
}
