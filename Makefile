# mirrorctl — build, test, benchmark and demo. Every target installs what it needs (Debian, as root).
SHELL := /bin/bash
GO ?= go
BIN := bin/mirrorctl
# Debian packages: Berkeley DB utilities and headers (the drill's workload links libdb), FUSE, xfs for
# the loop-device disks of the failure tests, fio for the benchmarks.
# systemd gives systemd-analyze (the unit file's check), zsh and man-db check completion and man page.
# prometheus ships promtool, which checks and unit-tests the alert rules in dist/prometheus; deps stops
# and disables the server its installation starts (this machine needs promtool, not a Prometheus).
# sqlite3 is SQLite's own shell: the integration tests run SQLite workloads through the mount with it;
# lmdb-utils (mdb_load, mdb_stat) makes and checks the real LMDB environments of the tests; liblmdb-dev
# is LMDB's library, linked statically (liblmdb.a) into mirrorctl for promote and the LMDB workload.
DEB_PACKAGES := db-util libdb5.3-dev fuse3 xfsprogs fio util-linux systemd zsh man-db prometheus sqlite3 lmdb-utils liblmdb-dev
# pjdfstest (the POSIX file system suite that make test runs through the mount) is built from the
# tarball beside the project; building it needs autotools and OpenSSL's headers, running it perl's prove.
PJDFSTEST_PACKAGES := autoconf automake libtool libssl-dev pkg-config perl
PJDFSTEST_TARBALL ?= $(firstword $(wildcard ../shared/external/pjdfstest-85a8aea.tar.gz ../../shared/external/pjdfstest-85a8aea.tar.gz /work/shared/external/pjdfstest-85a8aea.tar.gz))
PJDFSTEST := bin/pjdfstest
TEST_TIMEOUT ?= 30m
VERSION ?= $(shell git describe --always --dirty --tags 2>/dev/null || echo devel)
LDFLAGS := -X main.version=$(VERSION)

# make install [PREFIX=/usr/local] [DESTDIR=staging]: binary, systemd unit, man page, completions.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
UNITDIR ?= $(PREFIX)/lib/systemd/system
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc

.PHONY: all build deps pjdfstest versitygw test unit integration bench demo torture vet fmt clean install man

all: build

# deps installs the Debian packages that are missing (needs root; does nothing when all are there).
deps:
	@missing=""; for p in $(DEB_PACKAGES) $(PJDFSTEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "run as root to install:$$missing" >&2; exit 1; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
		case " $$missing " in *" prometheus "*) \
			if [ -d /run/systemd/system ]; then systemctl disable --now prometheus.service >/dev/null 2>&1; \
			elif [ -x /etc/init.d/prometheus ]; then /etc/init.d/prometheus stop >/dev/null 2>&1; update-rc.d prometheus disable >/dev/null 2>&1; fi; \
			echo "prometheus installed for promtool; its server is stopped and disabled";; \
		esac; \
	fi
	@[ -e /dev/fuse ] || { mknod /dev/fuse c 10 229 2>/dev/null && chmod 666 /dev/fuse; } || true

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/mirrorctl

# man writes the manual page generated from the command definitions.
man: build
	./$(BIN) man > bin/mirrorctl.1

install: build man
	install -D -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/mirrorctl
	install -d $(DESTDIR)$(UNITDIR)
	sed 's#/usr/local/bin/mirrorctl#$(BINDIR)/mirrorctl#g' dist/systemd/mirrorctl@.service > $(DESTDIR)$(UNITDIR)/mirrorctl@.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/mirrorctl@.service
	install -D -m 0644 bin/mirrorctl.1 $(DESTDIR)$(MANDIR)/man1/mirrorctl.1
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions
	./$(BIN) completion bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/mirrorctl
	./$(BIN) completion zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_mirrorctl
	install -D -m 0644 dist/examples/mirrorctl.conf $(DESTDIR)$(SYSCONFDIR)/mirrorctl/example.conf.sample
	@echo "installed; next: cp $(SYSCONFDIR)/mirrorctl/example.conf.sample $(SYSCONFDIR)/mirrorctl/ENV.conf, edit it, systemctl daemon-reload, systemctl start mirrorctl@ENV"

vet: deps
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt wants to change: $$unformatted" >&2; exit 1; fi

# unit runs the fast tests of every package but the end-to-end ones.
unit: deps
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /integration)

# integration runs the end-to-end tests (root, FUSE, loop devices, Berkeley DB).
integration: deps pjdfstest versitygw
	MIRRORCTL_VERSITYGW=$(abspath $(VERSITYGW)) MIRRORCTL_PJDFSTEST=$(abspath $(PJDFSTEST)) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -v ./integration/ 2>&1 | tee /tmp/mirrorctl-integration.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|_test.go' ; exit $${PIPESTATUS[0]}

# pjdfstest builds the POSIX suite into bin/pjdfstest (the binary, and tests/ that prove runs).
pjdfstest: deps $(PJDFSTEST)/pjdfstest

$(PJDFSTEST)/pjdfstest:
	@[ -n "$(PJDFSTEST_TARBALL)" ] || { echo "pjdfstest-85a8aea.tar.gz not found in ../shared/external: set PJDFSTEST_TARBALL=/path/to/it" >&2; exit 1; }
	rm -rf $(PJDFSTEST) bin/pjdfstest.build && mkdir -p bin/pjdfstest.build
	tar -xzf $(PJDFSTEST_TARBALL) -C bin/pjdfstest.build
	cd bin/pjdfstest.build/pjdfstest && { autoreconf -ifs && ./configure && $(MAKE) pjdfstest; } >../build.log 2>&1 || { tail -20 ../build.log >&2; exit 1; }
	mv bin/pjdfstest.build/pjdfstest $(PJDFSTEST) && rm -rf bin/pjdfstest.build

# versitygw builds the S3-compatible server (S3 over a POSIX directory) that the archive's tests start
# on loopback, into bin/versitygw (package internal/s3server finds it there).
VERSITYGW_VERSION := v1.8.0
VERSITYGW := bin/versitygw
versitygw: $(VERSITYGW)

$(VERSITYGW):
	GOBIN=$(abspath bin) $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

# test is what CI runs: vet, unit tests and the integration tests (pjdfstest through the mount among
# them), with every skip turned into a failure.
test: deps vet pjdfstest versitygw
	MIRRORCTL_VERSITYGW=$(abspath $(VERSITYGW)) MIRRORCTL_REQUIRE_ALL=$${MIRRORCTL_REQUIRE_ALL:-1} MIRRORCTL_PJDFSTEST=$(abspath $(PJDFSTEST)) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

# demo runs the failover fire drill on scratch storage and prints the outcome.
demo: build
	./$(BIN) drill

# torture runs a fault campaign: TRIALS drills, each a random fault kind (primary disk death, SIGKILL
# of the mount, mirror disk death, ENOSPC on the mirror or the primary, clean stop) at a random moment
# up to MOMENT; it prints a table by fault kind and exits non-zero if any acknowledged commit was lost.
# A failed trial keeps its directory (printed) with the evidence. SEED replays a campaign.
TRIALS ?= 200
MOMENT ?= 10s
SEED ?= 0
torture: build
	./$(BIN) drill --no-progress --trials $(TRIALS) --duration $(MOMENT) --seed $(SEED)

# bench runs every configuration side by side (needs root: loop devices) and writes bench/results.md
# and bench/results.svg. btrfs-progs is optional: without it the kernel-mirror reference is skipped.
bench: build versitygw
	@dpkg -s btrfs-progs >/dev/null 2>&1 || apt-get install -y -qq --no-install-recommends btrfs-progs >/dev/null || echo "btrfs-progs unavailable: btrfs raid1 is skipped"
	$(GO) build -o bin/bench ./bench
	./bin/bench -mirrorctl ./$(BIN) -out bench

clean:
	rm -rf bin
