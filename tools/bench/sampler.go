package main

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// rssSampler samples the summed VmRSS of a set of processes every rssEvery
// until stopped, and keeps the highest sum seen with its parts: anonymous
// memory (the heap, stacks) and file pages mapped (bbolt's mmap, the binary).
type rssSampler struct {
	stop chan struct{}
	wg   sync.WaitGroup
	peak rssParts
}

// rssParts is VmRSS and two of its parts, RssAnon and RssFile, in bytes.
type rssParts struct{ rss, anon, file int64 }

// sampleRSS starts sampling the processes pids returns (called at every
// sample, so a server that forks a process per connection is followed).
func sampleRSS(pids func() []int) *rssSampler {
	s := &rssSampler{stop: make(chan struct{})}
	s.wg.Go(func() {
		t := time.NewTicker(rssEvery)
		defer t.Stop()
		for {
			if sum := rssSum(pids()); sum.rss > s.peak.rss {
				s.peak = sum
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	})
	return s
}

// done stops sampling and returns the highest sum.
func (s *rssSampler) done() rssParts {
	close(s.stop)
	s.wg.Wait()
	return s.peak
}

// rssSum is the summed memory of pids; a process that exited counts zero.
func rssSum(pids []int) rssParts {
	var sum rssParts
	for _, p := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/status")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(l, ":")
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				continue
			}
			switch k {
			case "VmRSS":
				sum.rss += kb << 10
			case "RssAnon":
				sum.anon += kb << 10
			case "RssFile":
				sum.file += kb << 10
			}
		}
	}
	return sum
}

// processTree returns root and every process descending from it (Dovecot's
// master forks its login, auth and imap processes).
func processTree(root int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return []int{root}
	}
	parent := map[int]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 {
			if pp, err := strconv.Atoi(f[1]); err == nil { // field 4, ppid
				parent[pid] = pp
			}
		}
	}
	out := []int{root}
	for pid := range parent {
		for p := parent[pid]; p != 0; p = parent[p] {
			if p == root {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// settledRSS waits for a process's VmRSS to come back down after a load:
// it samples every second for up to wait and returns the lowest value seen,
// stopping early once it is within near of idle.
func settledRSS(pid int, idle, near int64, wait time.Duration) int64 {
	low := int64(-1)
	for end := time.Now().Add(wait); ; {
		if rss, _, err := memory(pid); err == nil && (low < 0 || rss < low) {
			low = rss
		}
		if low >= 0 && low <= idle+near || time.Now().After(end) {
			return low
		}
		time.Sleep(time.Second)
	}
}
