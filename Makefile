# Postern: one binary (relay), one module. Every target works on a fresh
# Debian machine with Go installed; .ci/run installs the tools the tests use.

GO        ?= go
FUZZTIME  ?= 30s
# Pinned: `go run pkg@version` builds exactly this staticcheck (2026.2.2),
# the first release line that knows Go 1.26.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build run test check bench fuzz pot clean deb

all: check test build

## build: the relay binary in bin/relay
build:
	$(GO) build -trimpath -o bin/relay ./relay/cmd/relay

## deb: the Debian package bin/postern_VERSION_amd64.deb (packaging/build-deb.sh:
## dpkg-deb; the relay, postern.service, sysusers/tmpfiles, AppArmor, docs).
## make test checks it (packaging/deb_test.go: contents, lintian, the unit's
## systemd-analyze rating, an install into a throwaway root).
deb:
	GO=$(GO) sh packaging/build-deb.sh bin

## run: a NOT ANONYMOUS demo on loopback in ./demo-data (relay demo)
run:
	$(GO) run ./relay/cmd/relay demo

## test: every test, integration tests included (they are plain Go tests
## that drive the real binary and real tools: gpg, rnp, sq, curl, tor...).
## relay/e2e alone runs more than go test's default 10 minutes under -race
## on 2 cores, hence the timeout.
## TestLarge* tests (hundreds of MiB streamed) run in a second pass without
## -race, which slows streaming about fifteenfold; they skip under -race.
test:
	$(GO) test -race -shuffle=on -timeout 45m ./...
	$(GO) test -shuffle=on -timeout 45m -run '^TestLarge' ./...

## check: formatting, vet (also for 32-bit), staticcheck
check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt -l reports:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOARCH=386 $(GO) vet ./...
	$(STATICCHECK) ./...

## bench: the whole-process comparisons of tools/bench (relay vs gpg and
## Dovecot, memory, flood; method in docs/benchmarks.md), Thunderbird's first
## sync against the relay and Dovecot, then every Go
## benchmark. Smaller runs: make bench BENCHFLAGS='-rss-mib 256 -sync-n 1000'
BENCHFLAGS ?=
bench:
	$(GO) run ./tools/bench $(BENCHFLAGS)
	@out=$$(POSTERN_BENCH_THUNDERBIRD=1 $(GO) test -count=1 -v -run '^TestThunderbirdFirstSync$$' ./relay/e2e/ 2>&1); st=$$?; \
		echo "$$out" | grep -E 'first sync|headers after|^(ok|FAIL|---)'; \
		if [ $$st -ne 0 ]; then echo "$$out"; exit $$st; fi
	$(GO) test -run '^$$' -bench . -benchmem ./...

## pot: the gettext template of the web form (intake/web/locales/postern.pot)
## from its English text; then bring each locales/*.po up to date, e.g.
## msgmerge -U --backup=none intake/web/locales/fr.po intake/web/locales/postern.pot
pot:
	$(GO) run ./tools/pot -dir intake/web -o intake/web/locales/postern.pot

## fuzz: every Fuzz target of every package, FUZZTIME each (default 30s);
## a package whose tests do not build fails the run instead of being skipped
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		list=$$($(GO) test -list '^Fuzz' "$$pkg" 2>&1) || { echo "$$list"; exit 1; }; \
		for target in $$(echo "$$list" | grep '^Fuzz' || true); do \
			echo "== $$pkg $$target"; \
			$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) "$$pkg"; \
		done; \
	done

clean:
	rm -rf bin
