# The front door. `make run` and `make test` work on a fresh Debian bookworm machine.
BUILD_DIR   ?= build
BUILD_TYPE  ?= RelWithDebInfo
JOBS        ?= $(shell nproc)
CMAKE_FLAGS ?=
# `make run REPLICAS=3`: three replicas of each front-end behind HAProxy (deploy/local/run.sh).
REPLICAS    ?= 1

.PHONY: all deps build build-debug build-asan test test-unit test-asan bench run clean format

all: build

deps:
	@deploy/local/deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

build-debug:
	$(MAKE) build BUILD_DIR=build-debug BUILD_TYPE=Debug

build-asan:
	$(MAKE) build BUILD_DIR=build-asan BUILD_TYPE=Debug CMAKE_FLAGS=-DTERN_SANITIZE=ON

# Every unit and integration test; ends with ctest's summary.
test: build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 600 -j $(JOBS)

# The fast edit-compile loop: no PostgreSQL, Redis or service processes.
test-unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L unit -j $(JOBS)

test-asan: build-asan
	cd build-asan && ctest --output-on-failure --timeout 900 -j $(JOBS)

# Benchmarks under tests/bench: they print figures (with the core count); not tests.
bench: build
	$(BUILD_DIR)/tests/bench/storage_bench
	ulimit -n $$(ulimit -Hn) && TERN_ARGON2_MEMORY_KIB=1024 TERN_ARGON2_TIME_COST=1 \
	  TERN_IMAP_MAX_CONNECTIONS_PER_ADDRESS=100000 \
	  tests/integration/imap/with_cluster.sh $(BUILD_DIR) tests/bench/imap_bench.py
	TERN_ARGON2_MEMORY_KIB=1024 TERN_ARGON2_TIME_COST=1 \
	  TERN_IMAP_MAX_CONNECTIONS_PER_ADDRESS=1000 TERN_POP3_MAX_CONNECTIONS_PER_ADDRESS=1000 \
	  tests/integration/imap/with_cluster.sh $(BUILD_DIR) tests/bench/pop3_bench.py
	TERN_ARGON2_MEMORY_KIB=1024 TERN_ARGON2_TIME_COST=1 \
	  tests/integration/imap/with_cluster.sh $(BUILD_DIR) tests/bench/lmtp_bench.py
	ulimit -n $$(ulimit -Hn) && REPLICAS=3 TERN_ARGON2_MEMORY_KIB=1024 TERN_ARGON2_TIME_COST=1 \
	  TERN_IMAP_MAX_CONNECTIONS_PER_ADDRESS=100000 TERN_SESSION_TTL=15m \
	  tests/integration/imap/with_cluster.sh $(BUILD_DIR) tests/bench/idle_bench.py

# A local cluster under ./var: PostgreSQL, Redis and every Tern service; Ctrl-C stops it.
run: build
	@REPLICAS=$(REPLICAS) deploy/local/run.sh $(BUILD_DIR)

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf build build-debug build-asan
