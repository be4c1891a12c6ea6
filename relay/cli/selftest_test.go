package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"postern/relay/admin"
	"postern/tools/tornet"
)

type selftestResult struct {
	Passed bool   `json:"passed"`
	Reason string `json:"reason"`
}

// relay selftest against relay serve on the private Tor network: the canary
// goes through tor's SOCKS port to the intake onion, arrives encrypted in
// the hidden selftest mailbox and is removed: it passes, and no source,
// message or log line is left. With the IMAP side unreachable it fails with
// that reason, and the relay removes the canary itself.
func TestSelftestOverTor(t *testing.T) {
	tn, base, dir := instanceOnTornet(t, "")
	keyPath, _ := writeKey(t, base)
	mustRelay(t, nil, "journalist", "add", "jane", "--key", keyPath, "--data", dir)

	p, info := startServe(t, dir, true)
	if info.IntakeOnion == "" {
		t.Fatalf("no intake onion: %+v", info)
	}
	logBefore := p.startedLog(t)

	selftest := func(args ...string) (selftestResult, int) {
		t.Helper()
		r := relay(t, nil, append([]string{"selftest", "--data", dir, "--socks", tn.SocksAddr, "--json"}, args...)...)
		var res selftestResult
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatalf("selftest --json: %v\n%+v", err, r)
		}
		return res, r.code
	}
	// serve listens on port 0 here: tell the check where IMAP is (by
	// default it reads imap_listen from postern.conf).
	res, code := selftest("--imap", info.IMAPAddr)
	if !res.Passed || code != 0 {
		t.Fatalf("selftest: %+v exit %d\nrelay log:\n%s", res, code, p.stderr.String())
	}
	if out := relay(t, nil, "selftest", "--data", dir, "--socks", tn.SocksAddr, "--imap", info.IMAPAddr); out.code != 0 || out.stdout != "selftest passed\n" {
		t.Fatalf("selftest without --json: %+v", out)
	}
	left := func() admin.Status {
		t.Helper()
		var st admin.Status
		if err := json.Unmarshal([]byte(mustRelay(t, nil, "status", "--json", "--data", dir)), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := left(); st.Sources != 0 || st.Messages != 0 || st.Journalists != 1 {
		t.Fatalf("after a passed selftest: %d sources, %d messages, %d journalists", st.Sources, st.Messages, st.Journalists)
	}

	// The IMAP side unreachable (a closed port): the check fails with the
	// reason; the canary it could not remove goes within a minute.
	res, code = selftest("--imap", "127.0.0.1:1", "--timeout", "2m")
	if res.Passed || code != 1 || !strings.Contains(res.Reason, "imap 127.0.0.1:1") || strings.Contains(res.Reason, "\n") {
		t.Fatalf("selftest with IMAP unreachable: %+v exit %d", res, code)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for st := left(); st.Messages != 0 || st.Sources != 0; st = left() {
		if time.Now().After(deadline) {
			t.Fatalf("the failed selftest left %d messages, %d sources", st.Messages, st.Sources)
		}
		time.Sleep(time.Second)
	}
	if after := p.stderr.String(); after != logBefore {
		t.Errorf("the selftest left lines in the relay's log:\n%s", strings.TrimPrefix(after, logBefore))
	}
	p.stop(t)
}

// instanceOnTornet starts the private Tor network and makes an instance
// (in base/data) whose relay serve joins it; extra is added to the seed
// postern.conf. The network stops when the test ends.
func instanceOnTornet(t *testing.T, extra string) (tn *tornet.Network, base, dir string) {
	t.Helper()
	tornet.Need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tn, err := tornet.Start(ctx, tornet.Options{Dir: t.TempDir(), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tn.Stop)
	base = t.TempDir()
	conf := filepath.Join(base, "seed.conf")
	if err := os.WriteFile(conf, []byte(smallConf+extra+"tor_extra = %include "+tn.JoinTorrc+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(base, "data")
	mustRelay(t, nil, "init", "--data", dir, "--config", conf)
	return tn, base, dir
}
