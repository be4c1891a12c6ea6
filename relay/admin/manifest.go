package admin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"

	"postern/mailbox/pgp"
	"postern/relay/config"
)

// The signed manifest: a statement of what this instance is (its
// organisation, onions, the keys submissions are encrypted to, an optional
// warrant canary) that the newsroom signs offline with its organisation
// key. A source checks it against that key, published on the newsroom's
// public website, to know the onion and the keys are the newsroom's own.
const (
	// ManifestFile is the published, clearsigned manifest in the data
	// directory; the intake serves it at /manifest.asc.
	ManifestFile = "manifest.asc"
	// ManifestOrgKeyFile is the organisation's public key it was checked with.
	ManifestOrgKeyFile = "manifest-org-key.asc"
	manifestFormat     = 1
)

// Manifest is the JSON the newsroom signs.
type Manifest struct {
	Format       int    `json:"format"`
	Organisation string `json:"organisation"`
	IntakeOnion  string `json:"intake_onion"`
	// JournalistOnionSHA256 names the journalist onion without giving its
	// address away: the SHA-256 of the address, in hex.
	JournalistOnionSHA256 string         `json:"journalist_onion_sha256"`
	Desks                 []ManifestDesk `json:"desks"`
	// ArchiveKey is the offline archive key every submission is also
	// encrypted to, if any.
	ArchiveKey string `json:"archive_key,omitempty"`
	Software   string `json:"software"`
	Canary     string `json:"canary,omitempty"`
	Date       string `json:"date"` // YYYY-MM-DD, UTC
}

// ManifestDesk is one desk and the fingerprints of the keys its
// submissions are encrypted to.
type ManifestDesk struct {
	Name           string   `json:"name"`
	SubmissionKeys []string `json:"submission_keys"`
}

// ManifestDesks lists the desks sources can see, each with the
// fingerprints of the keys its submissions are encrypted to (its
// journalists'). A hidden desk is never listed: the manifest is public, and
// a hidden desk is known only to those given its link. With no desk
// information (desks nil) it is one desk, "newsroom", holding every
// journalist's key, as an instance made before desks behaves.
func ManifestDesks(js []JournalistInfo, desks []DeskInfo) []ManifestDesk {
	if desks == nil {
		desks = []DeskInfo{{Slug: "newsroom"}}
		for _, j := range js {
			desks[0].Journalists = append(desks[0].Journalists, j.Name)
		}
	}
	fpr := make(map[string]string, len(js))
	for _, j := range js {
		fpr[j.Name] = strings.ToUpper(j.Fingerprint)
	}
	out := []ManifestDesk{}
	for _, d := range desks {
		if d.Hidden {
			continue
		}
		md := ManifestDesk{Name: d.Slug, SubmissionKeys: []string{}}
		for _, name := range d.Journalists {
			if f, ok := fpr[name]; ok {
				md.SubmissionKeys = append(md.SubmissionKeys, f)
			}
		}
		slices.Sort(md.SubmissionKeys)
		out = append(out, md)
	}
	slices.SortFunc(out, func(a, b ManifestDesk) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// BuildManifest describes the instance in dataDir with settings cfg,
// journalists js and desks (see ManifestDesks), dated now.
func BuildManifest(dataDir string, cfg config.Config, js []JournalistInfo, desks []DeskInfo, now time.Time) (Manifest, error) {
	m := Manifest{
		Format:       manifestFormat,
		Organisation: cfg.Organisation,
		IntakeOnion:  readHostname(dataDir, "onion/intake.hostname"),
		Desks:        ManifestDesks(js, desks),
		Software:     "postern " + Version,
		Canary:       cfg.CanaryStatement,
		Date:         day(now),
	}
	if j := readHostname(dataDir, JournalistOnionFile); j != "" {
		sum := sha256.Sum256([]byte(j))
		m.JournalistOnionSHA256 = hex.EncodeToString(sum[:])
	}
	if path := cfg.ArchiveKeyPath(dataDir); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Manifest{}, fmt.Errorf("archive_key_file: %w", err)
		}
		_, info, err := pgp.ParsePublicKey(b)
		if err != nil {
			return Manifest{}, fmt.Errorf("archive_key_file: %w", err)
		}
		m.ArchiveKey = strings.ToUpper(info.Fingerprint)
	}
	return m, nil
}

func readHostname(dir, name string) string {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Differences lists what m says that the instance (now) does not: every
// field but the date and the software version, which a newer signature or
// an upgrade may change without changing whom sources talk to.
func (m Manifest) Differences(now Manifest) []string {
	var out []string
	if m.Format != now.Format {
		out = append(out, "format")
	}
	if m.Organisation != now.Organisation {
		out = append(out, "organisation")
	}
	if m.IntakeOnion != now.IntakeOnion {
		out = append(out, "intake onion")
	}
	if m.JournalistOnionSHA256 != now.JournalistOnionSHA256 {
		out = append(out, "journalist onion")
	}
	a, _ := json.Marshal(m.Desks)
	b, _ := json.Marshal(now.Desks)
	if !bytes.Equal(a, b) {
		out = append(out, "desks and their keys")
	}
	if m.ArchiveKey != now.ArchiveKey {
		out = append(out, "archive key")
	}
	if m.Canary != now.Canary {
		out = append(out, "canary")
	}
	return out
}

// ErrManifest is a manifest refused by VerifyManifest or PublishManifest.
var ErrManifest = errors.New("manifest refused")

// VerifyManifest checks a clearsigned manifest against the organisation's
// public key and returns it with the key's fingerprint.
func VerifyManifest(signed, orgKey []byte) (Manifest, string, error) {
	keys, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(orgKey))
	if err != nil {
		if keys, err = openpgp.ReadKeyRing(bytes.NewReader(orgKey)); err != nil {
			return Manifest{}, "", fmt.Errorf("%w: organisation key: %v", ErrManifest, err)
		}
	}
	if len(keys) != 1 {
		return Manifest{}, "", fmt.Errorf("%w: the organisation key file must hold one key, it holds %d", ErrManifest, len(keys))
	}
	b, _ := clearsign.Decode(signed)
	if b == nil {
		return Manifest{}, "", fmt.Errorf("%w: not a clearsigned message (gpg --clearsign)", ErrManifest)
	}
	if _, err := b.VerifySignature(keys, nil); err != nil {
		return Manifest{}, "", fmt.Errorf("%w: the signature is not the organisation key's: %v", ErrManifest, err)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b.Plaintext))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, "", fmt.Errorf("%w: not a manifest: %v", ErrManifest, err)
	}
	if _, err := time.Parse(time.DateOnly, m.Date); err != nil {
		return Manifest{}, "", fmt.Errorf("%w: bad date %q", ErrManifest, m.Date)
	}
	return m, strings.ToUpper(hex.EncodeToString(keys[0].PrimaryKey.Fingerprint)), nil
}

// PublishManifest checks a signed manifest (VerifyManifest, it describes
// the instance now, it is not dated in the future nor older than
// manifest_max_age_days) and stores it with the organisation key in the
// data directory, where the intake serves it.
func PublishManifest(dataDir string, cfg config.Config, js []JournalistInfo, desks []DeskInfo, signed, orgKey []byte, now time.Time) (Manifest, error) {
	m, _, err := VerifyManifest(signed, orgKey)
	if err != nil {
		return Manifest{}, err
	}
	cur, err := BuildManifest(dataDir, cfg, js, desks, now)
	if err != nil {
		return Manifest{}, err
	}
	if diff := m.Differences(cur); len(diff) > 0 {
		return Manifest{}, fmt.Errorf("%w: it does not describe this instance (%s differ); export a new one", ErrManifest, strings.Join(diff, ", "))
	}
	if age := manifestAge(m, now); age < 0 || age > cfg.ManifestMaxAgeDays {
		return Manifest{}, fmt.Errorf("%w: dated %s, not within the last %d days", ErrManifest, m.Date, cfg.ManifestMaxAgeDays)
	}
	for name, b := range map[string][]byte{ManifestOrgKeyFile: orgKey, ManifestFile: signed} {
		if err := writeAtomic(filepath.Join(dataDir, name), b); err != nil {
			return Manifest{}, fmt.Errorf("publish manifest: %w", err)
		}
	}
	return m, nil
}

// manifestAge is the manifest's age in days (negative: dated ahead).
func manifestAge(m Manifest, now time.Time) int {
	d, err := time.Parse(time.DateOnly, m.Date)
	if err != nil {
		return -1
	}
	return int(now.UTC().Truncate(24*time.Hour).Sub(d).Hours() / 24)
}

// PublishedManifest is the manifest the intake serves.
type PublishedManifest struct {
	Signed      []byte
	Manifest    Manifest
	OrgKey      string // fingerprint
	Expired     bool   // older than manifest_max_age_days
	Differences []string
}

// Published reads and checks the published manifest again; ok is false when
// none is published (or it no longer verifies).
func Published(dataDir string, cfg config.Config, js []JournalistInfo, desks []DeskInfo, now time.Time) (p PublishedManifest, ok bool, err error) {
	signed, err := os.ReadFile(filepath.Join(dataDir, ManifestFile))
	if errors.Is(err, os.ErrNotExist) {
		return PublishedManifest{}, false, nil
	}
	if err != nil {
		return PublishedManifest{}, false, err
	}
	org, err := os.ReadFile(filepath.Join(dataDir, ManifestOrgKeyFile))
	if err != nil {
		return PublishedManifest{}, false, err
	}
	m, fpr, err := VerifyManifest(signed, org)
	if err != nil {
		return PublishedManifest{}, false, err
	}
	p = PublishedManifest{Signed: signed, Manifest: m, OrgKey: fpr,
		Expired: manifestAge(m, now) > cfg.ManifestMaxAgeDays}
	cur, err := BuildManifest(dataDir, cfg, js, desks, now)
	if err != nil {
		return PublishedManifest{}, false, err
	}
	p.Differences = m.Differences(cur)
	return p, true, nil
}

// manifestWarnings are relay status's lines about the manifest.
func (a *Admin) manifestWarnings(js []JournalistInfo, desks []DeskInfo) []string {
	p, ok, err := Published(a.st.Dir(), a.cfg, js, desks, a.now())
	switch {
	case err != nil:
		return []string{fmt.Sprintf("the published manifest cannot be checked (%v): publish a new one with 'relay manifest publish'", oneLine(err.Error()))}
	case !ok:
		return nil
	}
	var out []string
	if len(p.Differences) > 0 {
		out = append(out, fmt.Sprintf("the published manifest no longer matches this instance (%s differ): export, sign and publish a new one", strings.Join(p.Differences, ", ")))
	}
	if p.Expired {
		out = append(out, fmt.Sprintf("the published manifest is dated %s, older than manifest_max_age_days (%d): sources are shown it as expired; sign and publish a new one", p.Manifest.Date, a.cfg.ManifestMaxAgeDays))
	}
	return out
}

func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// PublishedManifest is Published for this instance: what the intake serves.
func (a *Admin) PublishedManifest() (PublishedManifest, bool) {
	js, err := a.st.Journalists()
	if err != nil {
		return PublishedManifest{}, false
	}
	infos := make([]JournalistInfo, len(js))
	for i, j := range js {
		infos[i] = infoOf(j)
	}
	desks, err := a.deskRoster()
	if err != nil {
		return PublishedManifest{}, false
	}
	p, ok, err := Published(a.st.Dir(), a.cfg, infos, desks, a.now())
	return p, ok && err == nil
}
