package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// setting describes one key: its documentation (written into the file),
// how to read a value into a Config, how to print it, and its range check.
type setting struct {
	key    string
	doc    string
	repeat bool // may appear several times; each line adds a value
	set    func(c *Config, v string) error
	get    func(c *Config) []string
	check  func(c *Config) error
}

func intSetting(key, doc string, field func(*Config) *int, lo, hi int) setting {
	return setting{
		key: key, doc: doc,
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%q is not a whole number", v)
			}
			*field(c) = n
			return nil
		},
		get: func(c *Config) []string { return []string{strconv.Itoa(*field(c))} },
		check: func(c *Config) error {
			if n := *field(c); n < lo || n > hi {
				return fmt.Errorf("%d is out of range %d..%d", n, lo, hi)
			}
			return nil
		},
	}
}

func boolSetting(key, doc string, field func(*Config) *bool) setting {
	return setting{
		key: key, doc: doc,
		set: func(c *Config, v string) error {
			switch v {
			case "yes":
				*field(c) = true
			case "no":
				*field(c) = false
			default:
				return fmt.Errorf("%q is neither yes nor no", v)
			}
			return nil
		},
		get: func(c *Config) []string {
			if *field(c) {
				return []string{"yes"}
			}
			return []string{"no"}
		},
		check: func(*Config) error { return nil },
	}
}

func uintSetting(key, doc string, field func(*Config) *uint32) setting {
	return setting{
		key: key, doc: doc,
		set: func(c *Config, v string) error {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return fmt.Errorf("%q is not a whole number", v)
			}
			*field(c) = uint32(n)
			return nil
		},
		get:   func(c *Config) []string { return []string{strconv.FormatUint(uint64(*field(c)), 10)} },
		check: func(*Config) error { return nil },
	}
}

// threadsSetting is the last key of an argon2id group, so it carries the
// check of the whole parameter set (an error then names a real key).
func threadsSetting(key, doc string, field func(*Config) *uint8, group func(*Config) KDFParams) setting {
	return setting{
		key: key, doc: doc,
		set: func(c *Config, v string) error {
			n, err := strconv.ParseUint(v, 10, 8)
			if err != nil {
				return fmt.Errorf("%q is not a number 1..255", v)
			}
			*field(c) = uint8(n)
			return nil
		},
		get:   func(c *Config) []string { return []string{strconv.Itoa(int(*field(c)))} },
		check: func(c *Config) error { return checkKDF(group(c)) },
	}
}

func stringSetting(key, doc string, field func(*Config) *string, check func(string) error) setting {
	return setting{
		key: key, doc: doc,
		set:   func(c *Config, v string) error { *field(c) = v; return nil },
		get:   func(c *Config) []string { return []string{*field(c)} },
		check: func(c *Config) error { return check(*field(c)) },
	}
}

func printable(v string) error {
	for _, r := range v {
		if unicode.IsControl(r) {
			return errors.New("control characters are not allowed")
		}
	}
	return nil
}

// settings is the table of every key, in the order the file is written.
var settings = []setting{
	stringSetting("mail_domain",
		"Domain of the pseudonymous source addresses and of the newsroom address\n"+
			"journalists see in their mail client. It never needs DNS: mail only\n"+
			"travels inside the relay.",
		func(c *Config) *string { return &c.MailDomain },
		func(v string) error {
			if len(v) > 253 || !domainRE.MatchString(v) {
				return fmt.Errorf("%q is not a lower-case domain name", v)
			}
			return nil
		}),
	stringSetting("organisation",
		"Name of the newsroom, shown to sources on the web form.",
		func(c *Config) *string { return &c.Organisation },
		func(v string) error {
			if v == "" || len(v) > 200 {
				return errors.New("must be 1..200 characters")
			}
			return printable(v)
		}),
	{
		key: "max_submission_mib",
		doc: "Largest submission (message plus files) a source may send, in MiB.",
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not a whole number", v)
			}
			c.MaxSubmissionMiB = n
			return nil
		},
		get: func(c *Config) []string { return []string{strconv.FormatInt(c.MaxSubmissionMiB, 10)} },
		check: func(c *Config) error {
			if c.MaxSubmissionMiB < 1 || c.MaxSubmissionMiB > 64<<10 {
				return fmt.Errorf("%d is out of range 1..65536", c.MaxSubmissionMiB)
			}
			return nil
		},
	},
	intSetting("max_message_chars",
		"Longest message text a source may type, in characters.",
		func(c *Config) *int { return &c.MaxMessageChars }, 1, 10_000_000),
	boolSetting("publish_key_fingerprints",
		"yes: /metadata on the form lists the fingerprints of the keys\n"+
			"submissions are encrypted to, so the newsroom can show them.\n"+
			"no: it lists none. Anyone who reaches the form can look published\n"+
			"fingerprints up on key servers and learn who receives submissions.",
		func(c *Config) *bool { return &c.PublishKeyFPRs }),
	intSetting("retention_days",
		"Days after which submissions and replies are deleted for good.\n0 keeps them forever.",
		func(c *Config) *int { return &c.RetentionDays }, 0, 100_000),
	intSetting("delivery_window_minutes",
		"Submissions are released into the journalists' mailboxes together, in\n"+
			"random order, at the end of each window of this many minutes (UTC), so\n"+
			"that neither a seized server nor a watched mailbox tells when each came.\n"+
			"The source is told \"received\" at once either way; journalists see new\n"+
			"submissions up to this many minutes later. 0 = at once.",
		func(c *Config) *int { return &c.DeliveryWindowMinutes }, 0, 24*60),
	stringSetting("canary_statement",
		"Optional warrant canary, one line, signed with the manifest (relay\n"+
			"manifest export). Empty = none.",
		func(c *Config) *string { return &c.CanaryStatement }, printable),
	intSetting("manifest_max_age_days",
		"relay status warns when the published manifest is older than this, and\n"+
			"the form's /verify page then shows it as expired.",
		func(c *Config) *int { return &c.ManifestMaxAgeDays }, 1, 3650),
	stringSetting("intake_listen",
		"Loopback address of the source web form (published as the intake onion).",
		func(c *Config) *string { return &c.IntakeListen }, CheckListen),
	stringSetting("imap_listen",
		"Loopback address of the journalists' IMAP service (journalist onion).",
		func(c *Config) *string { return &c.IMAPListen }, CheckListen),
	stringSetting("smtp_listen",
		"Loopback address of the journalists' SMTP reply service (journalist onion).",
		func(c *Config) *string { return &c.SMTPListen }, CheckListen),
	intSetting("kdf_workers",
		"How many argon2id derivations for sources (\"I am new\", codename logins)\n"+
			"run at once. Each needs about twice its memory setting. 0 = number of CPU\n"+
			"cores. Peak KDF memory is (kdf_workers + journalist_kdf_workers) times\n"+
			"2 x the larger memory setting: 4 x 128 MiB = 512 MiB on two cores.",
		func(c *Config) *int { return &c.KDFWorkers }, 0, 1024),
	intSetting("kdf_queue",
		"How many source derivations may wait for a worker; beyond that a source\n"+
			"sees \"busy, try again\" instead of the relay running out of memory.\n"+
			"0 = no waiting: busy as soon as every worker is taken.",
		func(c *Config) *int { return &c.KDFQueue }, 0, 100_000),
	intSetting("journalist_kdf_workers",
		"How many argon2id derivations for journalists (IMAP and SMTP logins,\n"+
			"passphrase hashing) run at once, in a pool of their own that no source\n"+
			"can reach: a flood of the web form never makes a journalist's login\n"+
			"busy. Each needs about twice password_kdf_memory_kib.",
		func(c *Config) *int { return &c.JournalistKDFWorkers }, 1, 64),
	intSetting("session_idle_minutes",
		"A source's session (and its decrypted reply key) is forgotten after this\nmany idle minutes.",
		func(c *Config) *int { return &c.SessionIdleMinutes }, 1, 24*60),
	intSetting("source_kdf_version",
		"Version of the codename derivation. The source_kdf_* values are part of\n"+
			"every source's key: they are recorded in the database at init and the relay\n"+
			"refuses to start if they are changed here. Do not edit them after init.",
		func(c *Config) *int { return &c.SourceKDFVersion }, 1, 1),
	uintSetting("source_kdf_time",
		"argon2id passes for codenames.",
		func(c *Config) *uint32 { return &c.SourceKDF.Time }),
	uintSetting("source_kdf_memory_kib",
		"argon2id memory for codenames, in KiB (65536 = 64 MiB).",
		func(c *Config) *uint32 { return &c.SourceKDF.MemoryKiB }),
	threadsSetting("source_kdf_threads",
		"argon2id parallelism for codenames.",
		func(c *Config) *uint8 { return &c.SourceKDF.Threads },
		func(c *Config) KDFParams { return c.SourceKDF }),
	uintSetting("password_kdf_time",
		"argon2id passes for new journalist passphrase hashes. Existing hashes keep\n"+
			"the parameters they were made with, so these may be changed at any time.",
		func(c *Config) *uint32 { return &c.PasswordKDF.Time }),
	uintSetting("password_kdf_memory_kib",
		"argon2id memory for journalist passphrases, in KiB.",
		func(c *Config) *uint32 { return &c.PasswordKDF.MemoryKiB }),
	threadsSetting("password_kdf_threads",
		"argon2id parallelism for journalist passphrases.",
		func(c *Config) *uint8 { return &c.PasswordKDF.Threads },
		func(c *Config) KDFParams { return c.PasswordKDF }),
	stringSetting("archive_key_file",
		"Optional OpenPGP public key (armored or binary) of an offline archive:\n"+
			"every submission is also encrypted to it. A relative path is read from\n"+
			"the data directory. Empty = none.",
		func(c *Config) *string { return &c.ArchiveKeyFile }, printable),
	stringSetting("newsroom_text_file",
		"Optional file of the newsroom's own words on the web form, per\n"+
			"language: its name (instead of organisation) and an intro paragraph\n"+
			"for the first page. Plain text, shown escaped (markup appears as\n"+
			"typed). A relative path is read from the data directory. Empty = none.\n"+
			"Format, one value a line:\n"+
			"  [fr]\n"+
			"  name = Le Quotidien\n"+
			"  intro = Nos journalistes lisent tout ce que vous envoyez.",
		func(c *Config) *string { return &c.NewsroomTextFile }, printable),
	{
		key: "languages",
		doc: "Languages of the web form, comma separated, the first being the default\n" +
			"when a browser asks for none of them; \"all\" offers every language\n" +
			"whose catalogue is complete, English first. A listed language whose\n" +
			"catalogue is incomplete is not offered (relay status says so).\n" +
			"Available: en, ar, ca, cs, de, el, es, fa, fr, he, hi, hr, is, it, nb,\n" +
			"nl, pt-BR, pt-PT, ro, ru, sk, sv, tr, uk, zh-Hans, zh-Hant\n" +
			"(docs/languages.md: who translated each).",
		set: func(c *Config, v string) error {
			c.Languages = nil
			if strings.TrimSpace(v) == "all" {
				return nil
			}
			for _, l := range strings.Split(v, ",") {
				c.Languages = append(c.Languages, strings.TrimSpace(l))
			}
			return nil
		},
		get: func(c *Config) []string {
			if len(c.Languages) == 0 {
				return []string{"all"}
			}
			return []string{strings.Join(c.Languages, ", ")}
		},
		check: func(c *Config) error {
			seen := map[string]bool{}
			for _, l := range c.Languages {
				if !languageRE.MatchString(l) {
					return fmt.Errorf("%q is not a language tag like en or pt-BR", l)
				}
				if seen[l] {
					return fmt.Errorf("%q is listed twice", l)
				}
				seen[l] = true
			}
			return nil
		},
	},
	stringSetting("log_level",
		"Server log level: debug, info, warn or error. The log never holds IP\n"+
			"addresses, codenames, subjects, file names or per-request lines.\n"+
			"debug writes a line per submission and reply, whose timestamps (and a\n"+
			"journal's) tell when sources act: for development only, never in production.",
		func(c *Config) *string { return &c.LogLevel },
		func(v string) error {
			switch v {
			case "debug", "info", "warn", "error":
				return nil
			}
			return fmt.Errorf("%q is not one of debug, info, warn, error", v)
		}),
	{
		key: "tor_extra",
		doc: "Extra torrc line for the relay's tor, repeatable. Meant for tests on a\n" +
			"private Tor network (%include of tools/tornet's join file); leave unset in\n" +
			"production. relay serve refuses any other line unless --allow-tor-extra.",
		repeat: true,
		set: func(c *Config, v string) error {
			c.TorExtra = append(c.TorExtra, v)
			return nil
		},
		get: func(c *Config) []string { return c.TorExtra },
		check: func(c *Config) error {
			for _, l := range c.TorExtra {
				if l == "" {
					return errors.New("empty line")
				}
				if err := printable(l); err != nil {
					return err
				}
			}
			return nil
		},
	},
}
