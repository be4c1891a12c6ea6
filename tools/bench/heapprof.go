package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"time"
)

// heapProfile runs fn and keeps the heap profile taken when the live heap
// was highest (runtime/metrics, polled every 100 ms; the profile's in-use
// figures are those of the last GC before that moment) in
// outDir/name-heap.pprof, then prints its top by in-use and by allocated
// bytes, and the runtime's totals.
func heapProfile(outDir, name, title string, fn func() error) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/memory/classes/total:bytes"},
	}
	var (
		mu        sync.Mutex
		peak      uint64
		peakTotal uint64
		best      bytes.Buffer
	)
	take := func() {
		metrics.Read(samples)
		live, total := samples[0].Value.Uint64(), samples[3].Value.Uint64()
		mu.Lock()
		defer mu.Unlock()
		peakTotal = max(peakTotal, total)
		if live <= peak {
			return
		}
		peak = live
		best.Reset()
		pprof.Lookup("heap").WriteTo(&best, 0)
	}
	metrics.Read(samples)
	alloc0, gc0 := samples[1].Value.Uint64(), samples[2].Value.Uint64()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			take()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	err := fn()
	close(stop)
	wg.Wait()
	if err != nil {
		return err
	}
	metrics.Read(samples)
	prof := filepath.Join(outDir, name+"-heap.pprof")
	if err := os.WriteFile(prof, best.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nHeap during %s (%s): peak heap objects %.1f MiB, peak memory from the OS %.1f MiB, %.0f MiB allocated in %d GCs\n",
		title, prof, mib(int64(peak)), mib(int64(peakTotal)),
		mib(int64(samples[1].Value.Uint64()-alloc0)), samples[2].Value.Uint64()-gc0)
	for _, idx := range []string{"inuse_space", "alloc_space"} {
		fmt.Printf("\nheap profile at the peak, %s:\n", idx)
		top := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", "-sample_index="+idx, prof)
		top.Stdout, top.Stderr = os.Stdout, os.Stderr
		if err := top.Run(); err != nil {
			return err
		}
	}
	return nil
}
