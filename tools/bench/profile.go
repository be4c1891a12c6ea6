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

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan serve.Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve.Run(ctx, serve.Options{Dir: in.dir, WithoutTor: true,
			Intake: "127.0.0.1:0", IMAP: "127.0.0.1:0", SMTP: "127.0.0.1:0",
			Started: func(i serve.Info) { started <- i }})
	}()
	var info serve.Info
	select {
	case info = <-started:
	case err := <-done:
		return fmt.Errorf("serve: %w", err)
	}
	src := sourceclient.New("http://"+info.IntakeAddr, nil)
	if _, err := src.NewCodename(ctx); err != nil {
		return err
	}
	if err := src.Submit(ctx, "", "warm-up"); err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	prof := filepath.Join(outDir, "ingest-"+kind+".pprof")
	pf, err := os.Create(prof)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(pf); err != nil {
		return err
	}
	err = src.Submit(ctx, "", "profile", sourceclient.File{Name: "file", R: f})
	pprof.StopCPUProfile()
	pf.Close()
	if err != nil {
		return err
	}
	cancel()
	<-done
	fmt.Printf("\nCPU profile of the ingest path, %d MiB %s (%s):\n", size>>20, kind, prof)
	top := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", prof)
	top.Stdout, top.Stderr = os.Stdout, os.Stderr
	return top.Run()
}
