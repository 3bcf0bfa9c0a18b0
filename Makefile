# libkos developer entry points. Every target installs what it needs first.
#   make serve        deps + build + start kos-server on embedded SQLite under ./data
#   make test         deps + build + every test suite (C++, C, Python, install)
#   make bench        Release build + benchmarks (results: docs/benchmarks.md)
#   make install      install headers, libraries, CMake and pkg-config files (PREFIX=/usr/local)
#   make test-asan    AddressSanitizer + UndefinedBehaviorSanitizer build of the unit and server tests
#   make format-check clang-format (Google style) over our sources
#   make fuzz         libFuzzer targets (clang), each run for FUZZ_SECONDS
JOBS       ?= 2
BUILD      ?= build
PREFIX     ?= /usr/local
PYTHON     := /usr/bin/python3
HOST       ?= 127.0.0.1
PORT       ?= 8080
CMAKE_ARGS ?=
CTEST_ARGS ?=

CMAKE_COMMON := -DPython_EXECUTABLE=$(PYTHON) -DCMAKE_INSTALL_PREFIX=$(PREFIX)
# Let ccache reuse objects across clones in different directories (CI clones anew).
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1
SOURCES = $(shell git ls-files '*.h' '*.cc' '*.c' 2>/dev/null)

.PHONY: all deps configure build test serve bench install test-asan fuzz format format-check clean services

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_COMMON) $(CMAKE_ARGS)

configure: $(BUILD)/CMakeCache.txt

build: deps configure
	cmake --build $(BUILD) -j$(JOBS)

# Starts PostgreSQL and Redis for the backend conformance cases when the
# scripts exist; the suites print why they skip when the URIs are unset.
services:
	@mkdir -p $(BUILD) && bash scripts/start-services.sh $(BUILD)/services.env

test: build services
	@set -a; [ -f $(BUILD)/services.env ] && . $(BUILD)/services.env; set +a; \
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) $(CTEST_ARGS)

serve: build
	@mkdir -p data logs
	@[ -d config ] || { cp -r deploy/config config && echo "kos-server: created ./config from deploy/config"; }
	$(BUILD)/servers/http/kos-server --host $(HOST) --port $(PORT) --data data --config config --logs logs \
	  --admin-password-file data/admin.password

bench: deps
	cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DKOS_BUILD_BENCHMARKS=ON -DKOS_BUILD_TESTS=OFF $(CMAKE_COMMON)
	cmake --build build-release -j$(JOBS)
	bash benchmarks/run_all.sh build-release

install: build
	cmake --install $(BUILD)

test-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKOS_SANITIZE=ON -DKOS_BUILD_SERVERS=ON -DKOS_BUILD_EXAMPLES=OFF $(CMAKE_COMMON)
	cmake --build build-asan -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j$(JOBS) -E 'install_consumer|python' $(CTEST_ARGS)

# libFuzzer targets built with clang + ASan/UBSan, each run for FUZZ_SECONDS.
FUZZ_SECONDS ?= 30
fuzz: deps
	cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
	  -DKOS_BUILD_FUZZERS=ON -DKOS_FUZZ_SECONDS=$(FUZZ_SECONDS) -DKOS_BUILD_SERVERS=OFF -DKOS_BUILD_EXAMPLES=OFF $(CMAKE_COMMON)
	cmake --build build-fuzz -j$(JOBS) --target kos_token_parser_fuzzer
	cd build-fuzz && ctest --output-on-failure -L fuzz

format:
	clang-format -i $(SOURCES)

format-check:
	@clang-format --dry-run --Werror $(SOURCES) && echo "format-check: clean"

clean:
	rm -rf $(BUILD) build-release build-asan build-fuzz
