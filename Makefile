# iotrace build. The BPF object is generated and committed, so `make build`
# needs only Go; `make generate` needs clang-14, llvm-strip-14 and libbpf headers.

# go by its full path: sudo resets PATH (secure_path), which usually lacks
# /usr/local/go/bin, so `sudo make test` found no go.
GO      ?= $(or $(shell command -v go 2>/dev/null),$(wildcard /usr/local/go/bin/go),go)
# The steps that need root get sudo when make runs as a user; as root (a
# fresh machine may have no sudo) they run as they are.
SUDO    ?= $(if $(filter 0,$(shell id -u)),,sudo)
BIN     ?= bin/iotrace
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build generate check-generated test test-unit fuzz lint run demo clean vmtest vmtest-bins bench-overhead

all: build

build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/iotrace

# The committed object is what this clang makes, byte for byte: a different
# clang version may emit a different object, and check-generated would then
# fail with no change to the sources. .ci/run installs the same version.
CLANG       ?= clang-14
LLVM_STRIP  ?= llvm-strip-14

generate:
	BPF2GO_CC=$(CLANG) BPF2GO_STRIP=$(LLVM_STRIP) $(GO) generate ./internal/collector/

# Fails when the committed BPF object or Go bindings differ from the sources.
check-generated: generate
	@git diff --exit-code -- internal/collector/ || \
		{ echo "generated BPF files are out of date: run 'make generate' and commit"; exit 1; }

# Every test. The exact-figure tests run a subtest per probe mode the
# kernel allows (internal/testutils: RunProbeModes), or only the mode
# IOTRACE_PROBE_MODE names. The root tests need root; with IOTRACE_CI=1 they
# fail instead of skipping when they cannot run.
# As a user, the tests are built as you and run as root (go test -exec);
# root's go (to build iotrace for the e2e tests) reads your module cache.
TEST_EXEC = $(if $(SUDO),-exec '$(SUDO) env PATH=$(dir $(GO)):/usr/sbin:/usr/bin:/sbin:/bin GOMODCACHE=$(shell $(GO) env GOMODCACHE) \
	IOTRACE_CI=$(IOTRACE_CI) IOTRACE_PROBE_MODE=$(IOTRACE_PROBE_MODE) IOTRACE_BIN=$(IOTRACE_BIN)')
test:
	$(GO) test -count=1 $(TEST_EXEC) ./...

# The root tests under stock Debian kernels in qemu, once per probe mode
# (fentry, kprobe, tracepoint): this host refuses fentry and has no kprobes.
# Needs root (apt-get for qemu, busybox-static and the kernel packages);
# kernels and logs are cached in ~/.cache/iotrace-vm. See vmtest/README.md.
VMTEST_KERNELS ?= 6.1,6.12
VMTEST_BINS    := bin/vmtest
VMTEST_E2E     := TraceUntilSignal|TraceCommand|WorkloadsUnderTrace|FollowChildren|ForcedModeRefused|NotRoot
vmtest-bins: build
	CGO_ENABLED=0 $(GO) test -c -o $(VMTEST_BINS)/smoke.test ./vmtest/smoke
	CGO_ENABLED=0 $(GO) test -c -o $(VMTEST_BINS)/collector.test ./internal/collector
	CGO_ENABLED=0 $(GO) test -c -o $(VMTEST_BINS)/iotrace.test ./cmd/iotrace

vmtest: vmtest-bins
	vmtest/run.sh --kernel $(VMTEST_KERNELS) --modes fentry,kprobe,rawtp,tracepoint --timeout 2000 $(VMTEST_ARGS) \
		--add $(BIN):/usr/local/bin/iotrace --env IOTRACE_BIN=/usr/local/bin/iotrace \
		-- $(VMTEST_BINS)/smoke.test -test.v \
		-- $(VMTEST_BINS)/collector.test -test.v \
		-- $(VMTEST_BINS)/iotrace.test -test.v -test.run '$(VMTEST_E2E)'

# A short, fixed fuzzing run of the trace reader (CI runs it).
FUZZTIME ?= 10s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzRead -fuzztime $(FUZZTIME) ./internal/trace/

# Every package's short tests: no root needed, the root tests skip.
test-unit:
	$(GO) test -count=1 -short ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Trace a running process: make run PID=1234 (built as you, run as root)
run: build
	@test -n "$(PID)" || { echo "usage: make run PID=<pid>"; exit 2; }
	$(SUDO) ./$(BIN) --pid $(PID) $(ARGS)

# The built-in workloads side by side on the dashboard: make demo
demo: build
	$(SUDO) ./$(BIN) $(ARGS)

# What iotrace costs the programs it traces, against empty BPF programs on the
# same attach points, bpftrace, strace -c and perf trace (BENCHMARKS.md).
# Long (about 10 minutes; ARGS=--quick about 2); needs root and gcc. Not in CI.
# sudo make bench-overhead ARGS="--json bench-overhead.json"
bench-overhead:
	$(GO) run ./bench/overhead $(ARGS)

clean:
	rm -rf bin
