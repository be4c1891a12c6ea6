package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"postern/relay/admin"
	"postern/relay/config"
)

// manifestInputs are what a manifest is built from: the settings, the
// journalists and the desks, read through the running relay when there is
// one.
type manifestInputs struct {
	cfg   config.Config
	js    []admin.JournalistInfo
	desks []admin.DeskInfo
}

func (r *runner) manifestInputs(dir string) (manifestInputs, error) {
	var in manifestInputs
	cfg, err := config.Load(dir)
	if err != nil {
		return in, err
	}
	ops, done, err := r.ops(dir)
	if err != nil {
		return in, err
	}
	defer done()
	js, err := ops.JournalistList(r.env.Context)
	if err != nil {
		return in, err
	}
	desks, err := ops.Desk(r.env.Context, admin.DeskRequest{Op: "list"})
	if err != nil {
		return in, err
	}
	return manifestInputs{cfg: cfg, js: js, desks: desks.Desks}, nil
}

func (r *runner) cmdManifestExport(args []string) error {
	f := r.newFlags("manifest export", true)
	out := f.String("out", "", "write the manifest to FILE instead of stdout")
	if _, err := f.parse(args, 0, ""); err != nil {
		return err
	}
	in, err := r.manifestInputs(*f.data)
	if err != nil {
		return err
	}
	m, err := admin.BuildManifest(*f.data, in.cfg, in.js, in.desks, time.Now())
	if err != nil {
		return err
	}
	if *out == "" {
		return r.printJSON(m)
	}
	fh, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	w := r.env.Stdout
	r.env.Stdout = fh
	err = r.printJSON(m)
	r.env.Stdout = w
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if !*f.json {
		fmt.Fprintf(w, "Manifest written to %s. Sign it offline with the organisation key\n"+
			"(gpg --clearsign %s), then: relay manifest publish --in %s.asc --org-key ORG.asc\n", *out, *out, *out)
	}
	return nil
}

func (r *runner) cmdManifestPublish(args []string) error {
	f := r.newFlags("manifest publish", true)
	in := f.String("in", "", "the clearsigned manifest (gpg --clearsign)")
	orgKey := f.String("org-key", "", "the organisation's public key, as on the newsroom's website")
	if _, err := f.parse(args, 0, ""); err != nil {
		return err
	}
	if *in == "" || *orgKey == "" {
		return usagef("manifest publish", "manifest publish: --in and --org-key are required")
	}
	signed, err := readSmall(*in)
	if err != nil {
		return err
	}
	org, err := readSmall(*orgKey)
	if err != nil {
		return err
	}
	cur, err := r.manifestInputs(*f.data)
	if err != nil {
		return err
	}
	m, err := admin.PublishManifest(*f.data, cur.cfg, cur.js, cur.desks, signed, org, time.Now())
	if err != nil {
		return err
	}
	if *f.json {
		return r.printJSON(m)
	}
	fmt.Fprintf(r.env.Stdout, "Manifest of %s dated %s published: the form serves it at /manifest.asc and explains it at /verify.\n",
		m.Organisation, m.Date)
	return nil
}

// readSmall reads a key or a signed manifest: small files, capped.
func readSmall(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, 1<<20+1))
	if err != nil {
		return nil, err
	}
	if len(b) > 1<<20 {
		return nil, fmt.Errorf("%s: larger than 1 MiB", path)
	}
	if strings.TrimSpace(string(b)) == "" {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return b, nil
}
