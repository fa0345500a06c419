# mirrorctl — build, test, benchmark and demo. Every target installs what it needs (Debian, as root).
SHELL := /bin/bash
GO ?= go
BIN := bin/mirrorctl
# Debian packages: Berkeley DB utilities and headers (the drill's workload links libdb), FUSE, xfs for
# the loop-device disks of the failure tests, fio for the benchmarks.
DEB_PACKAGES := db-util libdb5.3-dev fuse3 xfsprogs fio util-linux
TEST_TIMEOUT ?= 30m

.PHONY: all build deps test unit integration bench demo vet fmt clean

all: build

# deps installs the Debian packages that are missing (needs root; does nothing when all are there).
deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "run as root to install:$$missing" >&2; exit 1; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@[ -e /dev/fuse ] || { mknod /dev/fuse c 10 229 2>/dev/null && chmod 666 /dev/fuse; } || true

build: deps
	$(GO) build -o $(BIN) ./cmd/mirrorctl

vet: deps
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt wants to change: $$unformatted" >&2; exit 1; fi

# unit runs the fast tests of every package but the end-to-end ones.
unit: deps
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /integration)

# integration runs the end-to-end tests (root, FUSE, loop devices, Berkeley DB).
integration: deps
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) -v ./integration/ 2>&1 | tee /tmp/mirrorctl-integration.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|_test.go' ; exit $${PIPESTATUS[0]}

# test is what CI runs: vet, unit tests and the integration tests, with every skip turned into a failure.
test: deps vet
	MIRRORCTL_REQUIRE_ALL=$${MIRRORCTL_REQUIRE_ALL:-1} $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

# demo runs the failover fire drill on scratch storage and prints the outcome.
demo: build
	./$(BIN) drill

# bench runs every configuration side by side (needs root: loop devices) and writes bench/results.md
# and bench/results.svg. btrfs-progs is optional: without it the kernel-mirror reference is skipped.
bench: build
	@dpkg -s btrfs-progs >/dev/null 2>&1 || apt-get install -y -qq --no-install-recommends btrfs-progs >/dev/null || echo "btrfs-progs unavailable: btrfs raid1 is skipped"
	$(GO) build -o bin/bench ./bench
	./bin/bench -mirrorctl ./$(BIN) -out bench

clean:
	rm -rf bin
