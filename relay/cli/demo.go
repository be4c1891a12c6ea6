package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"

	"postern/relay/config"
	"postern/relay/demo"
	"postern/relay/logging"
)

const levelWarn = slog.LevelWarn

// cmdDemo runs `relay demo`. Its data directory default is ./demo-data,
// never $POSTERN_DATA: a demo must not be pointed at a real instance by an
// environment variable left set in the shell.
func (r *runner) cmdDemo(args []string) error {
	f := r.newFlags("demo", false)
	dir := f.String("data", demo.DefaultDir, "demo data directory (created if absent)")
	intake := f.String("intake", demo.DefaultIntake, "loopback address of the source web form")
	imap := f.String("imap", demo.DefaultIMAP, "loopback address of IMAP")
	smtp := f.String("smtp", demo.DefaultSMTP, "loopback address of SMTP")
	seed := f.String("config", "", "settings file for a new demo instance")
	if _, err := f.parse(args, 0, ""); err != nil {
		return err
	}
	if *dir == "" {
		return usagef("demo", "demo: --data must not be empty")
	}
	o := demo.Options{
		Dir: *dir, Intake: *intake, IMAP: *imap, SMTP: *smtp,
		Banner: r.env.Stdout,
	}
	o.Level = new(slog.LevelVar) // info until postern.conf says otherwise
	o.Logger = logging.New(r.env.Stderr, logging.Options{Level: o.Level})
	if *seed != "" {
		cfg, err := demoSeed(*seed)
		if err != nil {
			return err
		}
		o.Config = &cfg
	}
	if *f.json {
		// The banner still goes out, on stderr, so it cannot be missed.
		o.Banner = r.env.Stderr
		o.Started = func(info demo.Info) {
			b, _ := json.Marshal(info)
			fmt.Fprintf(r.env.Stdout, "%s\n", b)
		}
	}
	return demo.Run(r.env.Context, o)
}

// loadSeed reads a settings file given with --config.
func loadSeed(path string) (config.Config, error) {
	fh, err := os.Open(path)
	if err != nil {
		return config.Config{}, fmt.Errorf("cannot read settings: %v", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, 1<<20))
	if err != nil {
		return config.Config{}, fmt.Errorf("cannot read settings: %v", err)
	}
	cfg, err := config.Parse(bytes.NewReader(b))
	if err != nil {
		return config.Config{}, fmt.Errorf("%s: %v", path, err)
	}
	return cfg, nil
}

// demoSeed is loadSeed for relay demo: a demo delivers at once unless the
// file asks for a window, since its journalist wants to see the test
// submission arrive.
func demoSeed(path string) (config.Config, error) {
	cfg, err := loadSeed(path)
	if err != nil {
		return config.Config{}, err
	}
	if b, err := os.ReadFile(path); err == nil && !windowRE.Match(b) {
		cfg.DeliveryWindowMinutes = 0
	}
	return cfg, nil
}

var windowRE = regexp.MustCompile(`(?m)^\s*delivery_window_minutes\s*=`)
