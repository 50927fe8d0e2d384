# packer-plugin-esxi: build, test and install everything from a fresh Debian
# machine. `make test` and `make image` are the two entry points (README).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

MODULE      := github.com/esxi-golden/packer-plugin-esxi
PLUGIN_SRC  := github.com/esxi-golden/esxi
# Empty for a release build; Packer only loads release versions or -dev.
PRERELEASE  ?= dev
LDFLAGS     := -s -w -X $(MODULE)/internal/version.VersionPrerelease=$(PRERELEASE)
GOBUILD     := CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)'

BIN         := $(CURDIR)/bin
PACKER      := $(BIN)/packer
PLUGIN_BIN  := $(BIN)/packer-plugin-esxi
FUZZTIME    ?= 5s
FUZZTIME_LONG ?= 60s

# Plugins are installed into a project-local directory, never the user's.
export PACKER_PLUGIN_PATH := $(CURDIR)/build/packer-plugins
export CHECKPOINT_DISABLE := 1

.PHONY: deps build plugin test test-go fuzz fuzz-short lint fmt-check vet generate-check clean

deps: ## Debian packages (only the missing ones) and Go modules
	@ci/deps.sh
	@go mod download
	@cd ci/packer && go mod download

build: ## every binary of the module into bin/
	@mkdir -p $(BIN)
	$(GOBUILD) -o $(PLUGIN_BIN) ./plugin
	@for d in cmd/*/; do [ -f "$$d/main.go" ] || continue; \
	  echo "$(GOBUILD) -o $(BIN)/$$(basename $$d) ./$$d"; \
	  $(GOBUILD) -o $(BIN)/$$(basename $$d) ./$$d; done

# Packer itself, built from source at the pinned version by the wrapper
# module in ci/packer (`go install packer@v1.15.0` cannot work: see there).
$(PACKER): ci/packer/go.mod ci/packer/go.sum
	@mkdir -p $(BIN)
	cd ci/packer && CGO_ENABLED=0 go build -trimpath -o $(PACKER) github.com/hashicorp/packer
	@$(PACKER) version

plugin: build $(PACKER) ## build the plugin and install it into PACKER_PLUGIN_PATH
	@mkdir -p $(PACKER_PLUGIN_PATH)
	$(PACKER) plugins install --path $(PLUGIN_BIN) $(PLUGIN_SRC)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>&1); \
	if [ -n "$$out" ]; then echo "gofmt: these files need formatting (run gofmt -w):"; echo "$$out"; exit 1; fi

vet:
	go vet ./...

lint: fmt-check vet ## gofmt check and go vet

generate-check: ## fail if go generate changes a file
	@ci/check-generate.sh

test-go:
	ESXI_TEST_PACKER=$(PACKER) ESXI_TEST_PLUGIN=$(PLUGIN_BIN) \
	  go test -race -count=1 -timeout 25m ./...

fuzz-short:
	@ci/fuzz.sh $(FUZZTIME)

test: deps lint generate-check plugin test-go fuzz-short ## everything CI runs

fuzz: ## a longer fuzz run of every target
	@ci/fuzz.sh $(FUZZTIME_LONG)

clean:
	rm -rf $(BIN) build dist

# --- kickstart ---
.PHONY: kickstart-golden

kickstart-golden: ## rewrite kickstart golden files (review the diff before committing)
	go test ./kickstart -run 'TestParseTestdata|TestLintTestdata|TestGoldenPresetRenders' -update

# --- formats ---
# ESXi image formats (images/esxi) and the esxi-image tool.
BENCH_DIR   ?= $(CURDIR)/build/bench
BENCH_DISK  := $(BENCH_DIR)/esxi-32g.raw

.PHONY: bench-disk bench-formats

# The 32 GiB sparse ESXi-shaped disk the publish and writer benchmarks read
# (~1.24 GiB mapped, zstd -3 ~ 860 MB; deterministic, about 7 s).
bench-disk: $(BENCH_DISK)
$(BENCH_DISK):
	@mkdir -p $(BENCH_DIR)
	go run ./cmd/esxi-image fixture bench-disk $@ --size 32GiB --data 1.24GiB

# Remastering a ~600 MiB installer ISO, against xorriso in the same run.
bench-formats:
	go test -run '^$$' -bench . -benchtime 3x ./images/esxi/iso/

# --- publish ---
# Publishing the 32 GiB bench disk against `zstd -T0 -3` over the same file,
# timed in the same run; prints both ratios (goals: time < 1.0, size <= 1.10).
.PHONY: bench bench-publish
bench: bench-formats bench-publish
bench-publish: $(BENCH_DISK)
	go run ./images/publish/internal/bench -raw $(BENCH_DISK) -key images/sign/testdata/test.key

# --- builder ---
# The ESXi installer simulator ISO (images/simulator) and the golden image.
# The kernel comes from the Debian package linux-image-amd64 depends on,
# downloaded and unpacked (never installed) and cached under build/sim/.
SIM_DIR      := $(CURDIR)/build/sim
SIM_ISO      := $(SIM_DIR)/esxi-simulator.iso
SIM_KPKG      = $(shell apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $$2; exit}')
SIM_SRC      := $(shell find images/simulator images/esxi kickstart -name '*.go' ! -name '*_test.go' 2>/dev/null) go.mod go.sum
ISO          ?=
IMAGE_DIR    := $(CURDIR)/dist
IMAGE_VARS   ?= $(if $(ISO),,packer/simulator.pkrvars.hcl)

.PHONY: simulator image packer-check

$(SIM_DIR)/kernel.stamp:
	@mkdir -p $(SIM_DIR)/deb
	@pkg="$(SIM_KPKG)"; [ -n "$$pkg" ] || { echo "simulator: cannot resolve linux-image-amd64 (apt-get update?)" >&2; exit 1; }; \
	  cd $(SIM_DIR)/deb && rm -f *.deb && apt-get download "$$pkg" 2>/dev/null && \
	  rm -rf $(SIM_DIR)/root && dpkg-deb -x *.deb $(SIM_DIR)/root && \
	  ver=$${pkg#linux-image-} && depmod -b $(SIM_DIR)/root $$ver && \
	  ln -sfn $(SIM_DIR)/root/boot/vmlinuz-$$ver $(SIM_DIR)/vmlinuz && \
	  ln -sfn $(SIM_DIR)/root/lib/modules/$$ver $(SIM_DIR)/modules && \
	  echo "$$pkg" > $@

$(SIM_DIR)/init: $(SIM_SRC)
	@mkdir -p $(SIM_DIR)
	CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o $@ ./images/simulator/init

# The EFI El Torito image: a small FAT image made by dosfstools + mtools.
$(SIM_DIR)/efiboot.img:
	@mkdir -p $(SIM_DIR)
	rm -f $@.tmp && mkfs.fat -C -n EFIBOOT $@.tmp 2048 >/dev/null && \
	  mmd -i $@.tmp ::/EFI ::/EFI/BOOT && \
	  printf 'The ESXi installer simulator boots with BIOS (ISOLINUX) only.\r\n' > $(SIM_DIR)/readme.txt && \
	  mcopy -i $@.tmp $(SIM_DIR)/readme.txt ::/EFI/BOOT/README.TXT && mv $@.tmp $@

$(SIM_ISO): $(SIM_DIR)/kernel.stamp $(SIM_DIR)/init $(SIM_DIR)/efiboot.img
	go run ./images/simulator/mksim -kernel $(SIM_DIR)/vmlinuz -modules $(SIM_DIR)/modules \
	  -init $(SIM_DIR)/init -efiboot $(SIM_DIR)/efiboot.img -o $@

simulator: $(SIM_ISO) ## the ESXi installer simulator ISO (build/sim/esxi-simulator.iso)

# `make image` builds the golden image from the simulator ISO into dist/;
# `make image ISO=/path/VMware-VMvisor-Installer-8.0U3-....iso` from a real
# one (set PKR_VAR_root_password; VARS picks the example var file).
VARS ?= $(if $(ISO),packer/esxi-8.0u3.pkrvars.hcl,packer/simulator.pkrvars.hcl)
image: plugin $(if $(ISO),,$(SIM_ISO)) ## golden raw image in dist/ (ISO=... for a real installer ISO)
	@iso="$(if $(ISO),$(abspath $(ISO)),$(SIM_ISO))"; [ -f "$$iso" ] || { echo "image: no ISO at $$iso" >&2; exit 1; }; \
	if [ -z "$${PKR_VAR_root_password:-}" ]; then \
	  if [ -n "$(ISO)" ]; then echo "image: set PKR_VAR_root_password for a real ESXi image" >&2; exit 1; fi; \
	  export PKR_VAR_root_password="Sim-$$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"; fi; \
	sum=$$(sha256sum "$$iso" | cut -d' ' -f1); \
	set -x; $(PACKER) build -force -var-file=$(VARS) -var "iso_url=$$iso" -var "iso_checksum=sha256:$$sum" packer/

# Templates: formatted and valid (needs the plugin installed). The example
# var files name a checksum file the user writes next to their ISO, so
# they are validated with iso_checksum=none.
packer-check: plugin
	$(PACKER) fmt -check -recursive packer/
	PKR_VAR_root_password=Validate-0nly! $(PACKER) validate -var-file=packer/simulator.pkrvars.hcl \
	  -var iso_url=$(SIM_ISO) -var iso_checksum=none packer/
	@for f in packer/esxi-*.pkrvars.hcl; do \
	  echo "$(PACKER) validate -var-file=$$f packer/"; \
	  PKR_VAR_root_password=Validate-0nly! $(PACKER) validate -var-file=$$f -var iso_checksum=none packer/ >/dev/null || exit 1; done

# The acceptance tests (packer/acceptance_test.go) run bin/packer with the
# installed plugin on the simulator ISO; make test also checks templates.
test-go: $(SIM_ISO)
test-go: export ESXI_TEST_SIMULATOR_ISO := $(SIM_ISO)
test: packer-check

# --- writer ---
# Randomized fault runs of esxi-writer's engine (network faults, corrupt
# images, ENOSPC targets; needs root for the tmpfs and loop devices).
# `make test` runs a handful through test-go; `make fuzz` runs this many.
WRITER_FAULT_RUNS ?= 200
.PHONY: fuzz-writer bench bench-writer
fuzz: fuzz-writer
fuzz-writer: ## $(WRITER_FAULT_RUNS) randomized fault runs of the image writer
	go test -race -count=1 -timeout 60m -v -run '^TestRandomFaultRuns$$' ./images/writer/ -args -fault-runs $(WRITER_FAULT_RUNS) \
	  | grep -vE '^ *(=== RUN|--- PASS: TestRandomFaultRuns/)'  # keep seeds, outcomes and failures

# The writer benchmark: a 32 GiB ESXi-shaped image, published and served on
# loopback, written by esxi-writer (fast path, compat .zst), image2disk's
# algorithm, zstd -dc | dd and bmaptool copy; every target compared byte
# for byte; prints times and speed-up ratios. Needs ~40 GiB free in
# WRITER_BENCH_DIR.
# It reads the shared bench disk (formats' bench-disk target).
WRITER_BENCH_DIR ?= $(CURDIR)/build/writer-bench
bench: bench-writer
bench-writer: $(BENCH_DISK)
	WRITER_BENCH_DIR=$(WRITER_BENCH_DIR) WRITER_BENCH_RAW=$(BENCH_DISK) go test -run '^$$' -bench '^BenchmarkWriters$$' -benchtime 1x -timeout 60m -v ./images/writer/
