package admin

import (
	"fmt"
	"strings"

	"postern/mailbox/pgp"
	"postern/mailbox/tally"
	"postern/relay/logging"
)

// Nothing on a request path logs: a line per submission, reply or login
// would be a timeline of who did what when, stamped by the log. What an
// admin must still learn reaches them here instead, at times no source
// chooses: when the relay starts, once a day with the retention pass, when it
// stops, and in `relay status`:
//
//   - journalists whose key has lapsed (expired, revoked, no longer passing
//     the key rules): submissions and the team's reply copies leave them out;
//   - how often each counted failure happened (mailbox/tally), with the last
//     error's text and no time.

// LapsedKey is a journalist whose stored key no longer passes the key rules,
// so nothing new is encrypted to them.
type LapsedKey struct {
	Journalist  string `json:"journalist"`
	Fingerprint string `json:"fingerprint"`
	Reason      string `json:"reason"`
}

// LapsedKeys checks every journalist's key as a submission would.
func (a *Admin) LapsedKeys() ([]LapsedKey, error) {
	js, err := a.st.Journalists()
	if err != nil {
		return nil, fail(ErrInternal, "%v", err)
	}
	var out []LapsedKey
	for _, j := range js {
		if _, _, err := pgp.ParsePublicKey(j.PublicKey); err != nil {
			out = append(out, LapsedKey{Journalist: j.Name, Fingerprint: j.Fingerprint, Reason: logging.Scrub(err.Error())})
		}
	}
	return out, nil
}

// Tally is where the services count what they do not log; wire hands it to
// them.
func (a *Admin) Tally() *tally.Tally { return a.tally }

// Report logs lapsed keys and what was counted since the previous report.
// The retention loop calls it at start, daily and at stop (retention.go).
func (a *Admin) Report() {
	lapsed, err := a.LapsedKeys()
	if err != nil {
		a.log.Error("checking journalists' keys", "err", err)
	}
	for _, l := range lapsed {
		a.log.Warn("journalist key no longer usable: submissions and reply copies are not encrypted to them; replace it with 'relay journalist set-key'",
			"journalist", l.Journalist, "err", l.Reason)
	}
	events := a.tally.Take()
	for _, e := range events {
		a.log.Warn("counted since the last report (no times are kept)", "event", e.Kind, "count", e.Count, "err", e.LastError)
	}
	a.log.Info("report", "lapsed_keys", len(lapsed), "events", len(events))
}

// reportWarnings are the status lines about lapsed keys and counted events.
// An expired key already has its own line (Status), so only other reasons
// are added here.
func reportWarnings(lapsed []LapsedKey, expired map[string]bool, events []tally.Entry) []string {
	var out []string
	for _, l := range lapsed {
		if !expired[l.Journalist] {
			out = append(out, fmt.Sprintf("journalist %s: key %s is no longer usable (%s); submissions are not encrypted to it; replace it with 'relay journalist set-key'", l.Journalist, l.Fingerprint, l.Reason))
		}
	}
	for _, e := range events {
		line := fmt.Sprintf("since the relay started: %s, %d times", e.Kind, e.Count)
		if e.LastError != "" {
			line += "; last error: " + strings.Join(strings.Fields(e.LastError), " ")
		}
		out = append(out, line)
	}
	return out
}
