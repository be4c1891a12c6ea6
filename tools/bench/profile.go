package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"

	"postern/relay/serve"
	"postern/tools/sourceclient"
)

// inProcess runs relay/serve.Run on dir inside this process and returns
// where it listens and a stop function.
func inProcess(dir string) (serve.Info, func(), error) {
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan serve.Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve.Run(ctx, serve.Options{Dir: dir, WithoutTor: true,
			Intake: "127.0.0.1:0", IMAP: "127.0.0.1:0", SMTP: "127.0.0.1:0",
			Started: func(i serve.Info) { started <- i }})
	}()
	select {
	case info := <-started:
		return info, func() { cancel(); <-done }, nil
	case err := <-done:
		cancel()
		return serve.Info{}, nil, fmt.Errorf("serve: %w", err)
	}
}

// profile writes a CPU profile of fn to outDir/name.pprof and prints its top.
func profile(outDir, name, title string, fn func() error) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	prof := filepath.Join(outDir, name+".pprof")
	pf, err := os.Create(prof)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(pf); err != nil {
		pf.Close()
		return err
	}
	err = fn()
	pprof.StopCPUProfile()
	pf.Close()
	if err != nil {
		return err
	}
	fmt.Printf("\nCPU profile of %s (%s):\n", title, prof)
	top := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", prof)
	top.Stdout, top.Stderr = os.Stdout, os.Stderr
	return top.Run()
}

// profileIngest runs the relay's serve loop inside this process (the same
// code as `relay serve`, relay/serve.Run) and records a CPU profile while
// one file of size bytes (kind "text" or "random") is submitted through
// the form. The client's side (multipart writing, reading the file) is in
// the profile too, under its own functions. It prints `go tool pprof -top`.
func (e *env) profileIngest(kind string, size int64, journalists int, outDir string) error {
	in, err := e.newInstance("profile-"+kind, cheapKDF+"max_submission_mib = 4096\n", journalists)
	if err != nil {
		return err
	}
	path := filepath.Join(e.work, "profile-"+kind+".data")
	gen := textReader(0, size)
	if kind == "random" {
		gen = randomReader(0, size)
	}
	if err := writeFile(path, gen); err != nil {
		return err
	}
	defer os.Remove(path)

	info, stop, err := inProcess(in.dir)
	if err != nil {
		return err
	}
	defer stop()
	ctx := context.Background()
	src := sourceclient.New("http://"+info.IntakeAddr, nil)
	if _, err := src.NewCodename(ctx); err != nil {
		return err
	}
	if err := src.Submit(ctx, "", "warm-up"); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return profile(outDir, "ingest-"+kind, fmt.Sprintf("the ingest path, %d MiB %s", size>>20, kind), func() error {
		return src.Submit(ctx, "", "profile", sourceclient.File{Name: "file", R: f})
	})
}
