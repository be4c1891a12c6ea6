// Package tor runs Debian's tor through bine and publishes Postern's two v3 onion
// services: the intake onion for sources (with tor's proof-of-work DoS defence) and
// the journalist onion for IMAP and SMTP (with v3 client authorisation, one key per
// journalist).
//
// The services' ed25519 keys live in DATA/onion/ (0600) so that both addresses
// survive restarts and travel in backups; tor's own state lives in DATA/tor/.
//
// bine v0.2.0 speaks only v2 client authorisation and defaults to v2 keys, which
// tor 0.4.9 refuses, so ADD_ONION is sent here by hand.
package tor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cretz/bine/control"
	"github.com/cretz/bine/process"
	bine "github.com/cretz/bine/tor"

	"postern/mailbox/store"
)

// ErrNoTor means the tor executable could not be found.
var ErrNoTor = errors.New("tor: the tor program was not found (install Debian's tor package)")

// Options configure Start.
type Options struct {
	// DataDir is the instance's data directory.
	DataDir string
	// ExePath is the tor program; default "tor" on $PATH.
	ExePath string
	// Extra are torrc lines appended verbatim: only the private test network uses
	// them (production configs never carry any).
	Extra []string
	// Logger receives tor's warnings and our own progress.
	Logger *slog.Logger
	// BootstrapTimeout bounds the wait for tor to reach the network; default 3 min.
	BootstrapTimeout time.Duration
}

// Tor is a running tor with Postern's onion services.
type Tor struct {
	t      *bine.Tor
	cmd    *exec.Cmd
	dir    string
	log    *slog.Logger
	exited chan struct{}

	mu       sync.Mutex // guards services and serializes control-port commands
	services map[string]string
}

// Service names the two onion services.
const (
	Intake     = "intake"
	Journalist = "journalist"
)

// Start launches tor with its data in DataDir/tor and waits for it to bootstrap.
// ctx bounds the whole life of tor: when it ends, tor is stopped.
func Start(ctx context.Context, o Options) (*Tor, error) {
	if o.ExePath == "" {
		o.ExePath = "tor"
	}
	exe, err := exec.LookPath(o.ExePath)
	if err != nil {
		return nil, ErrNoTor
	}
	if o.BootstrapTimeout == 0 {
		o.BootstrapTimeout = 3 * time.Minute
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "tor")
	torDir := filepath.Join(o.DataDir, "tor")
	if err := os.MkdirAll(torDir, 0o700); err != nil {
		return nil, fmt.Errorf("tor: %w", err)
	}
	torrc := filepath.Join(torDir, "torrc")
	conf := "# Written by relay serve at every start; edits are overwritten.\n" +
		"SocksPort 0\nAvoidDiskWrites 1\n"
	for _, l := range o.Extra {
		conf += l + "\n"
	}
	if err := os.WriteFile(torrc, []byte(conf), 0o600); err != nil {
		return nil, fmt.Errorf("tor: %w", err)
	}
	dayTimes(torrc, torDir)
	tr := &Tor{dir: o.DataDir, log: log, exited: make(chan struct{}), services: map[string]string{}}
	// tor's output goes through a pipe we own: its end of file tells us tor has
	// exited, without racing bine for exec.Cmd.Wait.
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("tor: %w", err)
	}
	var cmd *exec.Cmd
	creator := func(ctx context.Context, args ...string) (*exec.Cmd, error) {
		cmd = exec.CommandContext(ctx, exe, args...)
		cmd.Stdout, cmd.Stderr = pw, pw
		return cmd, nil
	}
	t, err := bine.Start(ctx, &bine.StartConf{
		ProcessCreator:  process.CmdCreatorFunc(creator),
		DataDir:         torDir,
		TorrcFile:       torrc,
		NoAutoSocksPort: true,
		// tor exits by itself if the relay dies, even by SIGKILL.
		ExtraArgs: []string{"--__OwningControllerProcess", strconv.Itoa(os.Getpid())},
	})
	pw.Close()
	if err != nil {
		pr.Close()
		if cmd != nil && cmd.Process != nil {
			cmd.Process.Kill()
		}
		return nil, fmt.Errorf("tor: start: %w", err)
	}
	tr.t, tr.cmd = t, cmd
	go func() {
		lw := &lineLogger{log: log}
		io.Copy(lw, pr)
		pr.Close()
		close(tr.exited)
	}()
	if err := t.Control.SetConf(control.KeyVals("DisableNetwork", "0")...); err != nil {
		t.Close()
		return nil, fmt.Errorf("tor: enable network: %w", err)
	}
	bctx, cancel := context.WithTimeout(ctx, o.BootstrapTimeout)
	defer cancel()
	for {
		p, summary := tr.Bootstrap()
		if p == 100 {
			break
		}
		select {
		case <-bctx.Done():
			t.Close()
			return nil, fmt.Errorf("tor: not bootstrapped after %s (%d%%: %s)", o.BootstrapTimeout, p, summary)
		case <-tr.exited:
			return nil, errors.New("tor: the tor process exited during start-up")
		case <-time.After(250 * time.Millisecond):
		}
	}
	log.Info("tor bootstrapped")
	return tr, nil
}

// Exited is closed when the tor process ends.
func (t *Tor) Exited() <-chan struct{} { return t.exited }

var bootstrapRe = regexp.MustCompile(`PROGRESS=(\d+).*SUMMARY="([^"]*)"`)

// Bootstrap reports tor's bootstrap progress (0–100) and its summary.
func (t *Tor) Bootstrap() (int, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	kv, err := t.t.Control.GetInfo("status/bootstrap-phase")
	if err != nil || len(kv) == 0 {
		return 0, "no answer from tor"
	}
	m := bootstrapRe.FindStringSubmatch(kv[0].Val)
	if m == nil {
		return 0, kv[0].Val
	}
	p, _ := strconv.Atoi(m[1])
	return p, m[2]
}

// Publish holds what an onion service needs.
type Publish struct {
	// Name is Intake or Journalist; it names the key file.
	Name string
	// Ports maps a virtual port to a loopback target ("127.0.0.1:8080").
	Ports map[int]string
	// ClientAuth lists base32 x25519 public keys; when set, only those clients can
	// reach the service. An empty list with RequireAuth publishes nothing.
	ClientAuth  []string
	RequireAuth bool
	// PoW turns on tor's proof-of-work defence against introduction floods.
	PoW bool
	// MaxStreams caps streams per rendezvous circuit (0 = tor's default).
	MaxStreams int
}

// Publish adds (or replaces) an onion service and returns its address with
// ".onion". The key is created on first use and kept in DATA/onion/NAME.key.
// Replacing a service keeps its address: this is how a journalist's access is
// granted or cut without touching the others.
func (t *Tor) Publish(ctx context.Context, p Publish) (string, error) {
	keyPath, key, err := t.loadKey(p.Name)
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if old := t.services[p.Name]; old != "" {
		if _, err := t.t.Control.SendRequest("DEL_ONION %s", old); err != nil {
			return "", fmt.Errorf("tor: remove %s onion: %w", p.Name, err)
		}
		delete(t.services, p.Name)
	}
	if p.RequireAuth && len(p.ClientAuth) == 0 {
		return "", nil
	}
	var b strings.Builder
	if key == "" {
		b.WriteString("ADD_ONION NEW:ED25519-V3")
	} else {
		b.WriteString("ADD_ONION " + key)
	}
	if p.RequireAuth {
		b.WriteString(" Flags=V3Auth")
		if p.MaxStreams > 0 {
			b.WriteString(",MaxStreamsCloseCircuit")
		}
	} else if p.MaxStreams > 0 {
		b.WriteString(" Flags=MaxStreamsCloseCircuit")
	}
	if p.MaxStreams > 0 {
		fmt.Fprintf(&b, " MaxStreams=%d", p.MaxStreams)
	}
	if p.PoW {
		b.WriteString(" PoWDefensesEnabled=1")
	}
	for vport, target := range p.Ports {
		fmt.Fprintf(&b, " Port=%d,%s", vport, target)
	}
	for _, c := range p.ClientAuth {
		if !base32Key.MatchString(c) {
			return "", fmt.Errorf("tor: bad client key for the %s onion", p.Name)
		}
		b.WriteString(" ClientAuthV3=" + c)
	}
	resp, err := t.t.Control.SendRequest("%s", b.String())
	if err != nil {
		return "", fmt.Errorf("tor: publish %s onion: %w", p.Name, err)
	}
	var id string
	for _, l := range append(resp.Data, resp.Reply) {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "ServiceID":
			id = v
		case "PrivateKey":
			if err := writeKey(keyPath, v); err != nil {
				return "", err
			}
		}
	}
	if len(id) != 56 {
		return "", fmt.Errorf("tor: publish %s onion: no service id in tor's answer", p.Name)
	}
	t.services[p.Name] = id
	return id + ".onion", nil
}

// WaitPublished waits until tor has built the service's descriptor.
func (t *Tor) WaitPublished(ctx context.Context, onion string) error {
	id := strings.TrimSuffix(onion, ".onion")
	for {
		t.mu.Lock()
		_, err := t.t.Control.GetInfo("hs/service/desc/id/" + id)
		t.mu.Unlock()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("tor: onion descriptor not built: %w", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// CloseCircuits closes the rendezvous circuits that clients opened to a
// service. Republishing a service under the same key leaves them open, and tor
// accepts new streams on them, so a client whose key was just removed would keep
// its access through a circuit it already had. Clients still authorised simply
// build new circuits. It returns how many it closed.
func (t *Tor) CloseCircuits(onion string) (int, error) {
	id := strings.TrimSuffix(onion, ".onion")
	t.mu.Lock()
	defer t.mu.Unlock()
	kv, err := t.t.Control.GetInfo("circuit-status")
	if err != nil {
		return 0, fmt.Errorf("tor: circuit-status: %w", err)
	}
	n := 0
	for _, v := range kv {
		for line := range strings.SplitSeq(v.Val, "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || !strings.Contains(line, "PURPOSE=HS_SERVICE_REND") || !strings.Contains(line, "REND_QUERY="+id) {
				continue
			}
			if _, err := t.t.Control.SendRequest("CLOSECIRCUIT %s", f[0]); err == nil {
				n++
			}
		}
	}
	return n, nil
}

// Address returns a published service's onion address, or "".
func (t *Tor) Address(name string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id := t.services[name]; id != "" {
		return id + ".onion"
	}
	return ""
}

// Close stops tor and waits for it to exit.
func (t *Tor) Close() error {
	t.mu.Lock()
	err := t.t.Close()
	t.mu.Unlock()
	select {
	case <-t.exited:
	case <-time.After(10 * time.Second):
		t.cmd.Process.Kill()
		<-t.exited
	}
	// tor's own files carry exact times while it runs (docs/admin.md); once
	// it has exited (writing its state file last), they get the day too.
	_ = dayTreeAfterExit(t.dir)
	return err
}

var (
	base32Key = regexp.MustCompile(`^[A-Z2-7]{52}$`)
	keyBlob   = regexp.MustCompile(`^ED25519-V3:[A-Za-z0-9+/]{86}==$`)
)

func (t *Tor) loadKey(name string) (path, key string, err error) {
	dir := filepath.Join(t.dir, "onion")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("tor: %w", err)
	}
	path = filepath.Join(dir, name+".key")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return path, "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("tor: onion key: %w", err)
	}
	dayTimes(path) // reading moved its access time
	key = strings.TrimSpace(string(b))
	if !keyBlob.MatchString(key) {
		return "", "", fmt.Errorf("tor: onion key %s is damaged; restore it from a backup (a new key would change the address)", path)
	}
	return path, key, nil
}

// writeKey stores a new service key atomically with mode 0600.
func writeKey(path, key string) error {
	if !keyBlob.MatchString(key) {
		return errors.New("tor: unexpected key format from tor")
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("tor: save onion key: %w", err)
	}
	_, err = f.WriteString(key + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("tor: save onion key: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	dayTimes(path, filepath.Dir(path))
	return nil
}

// dayTreeAfterExit gives everything tor wrote under dataDir/tor the day's
// times; tor must have exited (it writes its state file last).
func dayTreeAfterExit(dataDir string) error {
	return store.DayTree(filepath.Join(dataDir, "tor"), time.Now())
}

// dayTimes gives files the relay writes for tor the day's times, as the store
// does with its own (mailbox/store/filetime.go). It is best effort: a file
// whose times cannot be set is still right.
func dayTimes(paths ...string) {
	now := time.Now()
	for _, p := range paths {
		_ = store.DayTimes(p, now)
	}
}

// lineLogger turns tor's output (warnings only, tor runs with --hush) into log
// records. tor's SafeLogging keeps addresses out of it.
type lineLogger struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := strings.IndexByte(string(l.buf), '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSpace(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
		if line != "" {
			l.log.Warn("tor: " + line)
		}
	}
	if len(l.buf) > 4096 {
		l.buf = l.buf[:0]
	}
	return len(p), nil
}

var _ io.Writer = (*lineLogger)(nil)
