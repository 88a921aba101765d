# ferry: plain Makefile. `make` builds build/ferry; `make test` runs every test tier; SAN=1 adds ASan+UBSan;
# TSAN=1 builds with ThreadSanitizer (build/tsan) and runs the unit tests and the threaded stress (tests/tsan).
CXX      ?= g++
PREFIX   ?= /usr/local
DESTDIR  ?=
SAN      ?= 0
TSAN     ?= 0

ifeq ($(SAN)$(TSAN),11)
$(error SAN=1 and TSAN=1 cannot be combined: ThreadSanitizer and AddressSanitizer exclude each other)
endif
ifeq ($(SAN),1)
BUILD    ?= build/san
# vptr is off: its check probes memory with a pipe(2), which fails (and reports a false "invalid vptr")
# exactly when the EMFILE test has used up every fd.
SANFLAGS := -fsanitize=address,undefined -fno-sanitize=vptr -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else ifeq ($(TSAN),1)
BUILD    ?= build/tsan
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
else
BUILD    ?= build
SANFLAGS :=
endif

CXXFLAGS ?= -O2 -g
CXXFLAGS += -std=c++20 -Wall -Wextra -Wpedantic -Wshadow -Wno-missing-field-initializers -Isrc -Iinclude -MMD -MP $(SANFLAGS)
LDFLAGS  += $(SANFLAGS) -pthread
LDLIBS   := -lcap -linih -lcjson

LIB_SRCS  := $(filter-out src/main.cpp,$(sort $(shell find src -name '*.cpp')))
LIB_OBJS  := $(LIB_SRCS:src/%.cpp=$(BUILD)/obj/%.o)
UNIT_SRCS := $(sort $(shell find tests/unit -name '*.cpp'))
UNIT_OBJS := $(UNIT_SRCS:tests/unit/%.cpp=$(BUILD)/test-obj/%.o)
TOOL_SRCS := $(wildcard tests/tools/*.cpp)
TOOLS     := $(TOOL_SRCS:tests/tools/%.cpp=$(BUILD)/tools/%)

# Interceptor plugins (tproxy mode): conf/interceptor-NAME.c -> build/plugins/NAME.so, the C ABI of
# include/ferry/interceptor_abi.h. Plain cc, no sanitizers: a plugin does not have to be built like ferry.
PLUGIN_SRCS := $(wildcard conf/interceptor-*.c)
PLUGINS     := $(PLUGIN_SRCS:conf/interceptor-%.c=$(BUILD)/plugins/%.so)
# Plugins that only the tests use (tests/plugins/NAME.c -> build/plugins/test-NAME.so).
TEST_PLUGIN_SRCS := $(wildcard tests/plugins/*.c)
PLUGINS     += $(TEST_PLUGIN_SRCS:tests/plugins/%.c=$(BUILD)/plugins/test-%.so)
.PHONY: all test unit e2e demo deps install uninstall clean tools fuzz fuzz-build
all: $(BUILD)/ferry

$(BUILD)/obj/%.o: src/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/test-obj/%.o: tests/unit/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -Itests/unit -DFERRY_TEST_PLUGIN_DIR='"$(BUILD)/plugins"' -c $< -o $@

$(BUILD)/libferry.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/ferry: $(BUILD)/obj/main.o $(BUILD)/libferry.a
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/unit_tests: $(UNIT_OBJS) $(BUILD)/libferry.a | $(PLUGINS)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tools/%: tests/tools/%.cpp $(BUILD)/libferry.a
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

tools: $(TOOLS)

.PHONY: plugins
plugins: $(PLUGINS)

$(BUILD)/plugins/test-%.so: tests/plugins/%.c include/ferry/interceptor_abi.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -fPIC -shared -Iinclude -o $@ $<

$(BUILD)/plugins/%.so: conf/interceptor-%.c include/ferry/interceptor_abi.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -fPIC -shared -Iinclude -o $@ $<

# Benchmark tools (bench/): the load generator and the echo upstream, one self-contained file each.
BENCH_TOOLS := $(BUILD)/bench/loadgen $(BUILD)/bench/echo $(BUILD)/bench/udpecho
.PHONY: bench-tools
bench-tools: $(BENCH_TOOLS)

$(BUILD)/bench/%: bench/%.cpp $(BUILD)/libferry.a
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -O2 -o $@ $< $(BUILD)/libferry.a $(LDFLAGS)

# The soak suite's own peers (tests/soak/tools/NAME.cpp -> $(BUILD)/soak/NAME): the integrity streamer, the
# stalled-connection driver and the good-client prober.
SOAK_TOOLS := $(patsubst tests/soak/tools/%.cpp,$(BUILD)/soak/%,$(wildcard tests/soak/tools/*.cpp))
.PHONY: soak-tools soak
soak-tools: $(SOAK_TOOLS)

$(BUILD)/soak/%: tests/soak/tools/%.cpp $(BUILD)/libferry.a
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -o $@ $< $(BUILD)/libferry.a $(LDFLAGS)

# Long-running reliability scenarios in private network namespaces (root; about 8 minutes at full scale, not
# part of `make test` or CI): integrity, churn, slowloris, upstream faults, reloads under load. Writes the
# "## Soak" section of docs/reliability.md; SOAK_SCALE=0.02 (and SOAK_* knobs, see tests/soak/run.sh) for a
# run of a minute or two. Last line: "N passed, N failed".
soak: $(BUILD)/ferry $(BENCH_TOOLS) $(SOAK_TOOLS) $(PLUGINS)
	@BUILD=$(BUILD) bash tests/soak/run.sh

# Benchmarks against go-mmproxy, HAProxy, redsocks (moproxy mode), HAProxy + go-mmproxy (srcproxy mode, across a second
# namespace) and no proxy, in private network namespaces (root; ~13 minutes).
# Never pass/fail. Writes docs/benchmarks.md and docs/benchmarks.png; BENCH_* variables: see bench/README.md.
.PHONY: bench
bench: $(BUILD)/ferry bench-tools
	BUILD=$(BUILD) bash bench/run.sh

# Every tier: unit tests (Catch2), then the end-to-end scenarios in network namespaces (root).
# The last line is "N passed, N failed" over all of them.
# TSAN=1 runs tests/tsan/*.sh instead of tests/e2e, with the bench's load generator and echo.
TSAN_TEST_TOOLS := $(if $(filter 1,$(TSAN)),$(BUILD)/bench/loadgen $(BUILD)/bench/echo)
test: $(BUILD)/ferry $(BUILD)/unit_tests $(TOOLS) $(PLUGINS) $(TSAN_TEST_TOOLS)
	@BUILD=$(BUILD) SAN=$(SAN) TSAN=$(TSAN) bash tests/run

unit: $(BUILD)/unit_tests
	$(BUILD)/unit_tests

e2e: $(BUILD)/ferry $(TOOLS) $(PLUGINS)
	@BUILD=$(BUILD) SAN=$(SAN) TSAN=$(TSAN) ONLY=e2e bash tests/run

demo: deps $(BUILD)/ferry $(TOOLS) $(PLUGINS)
	@BUILD=$(BUILD) bash tests/demo.sh

deps:
	@bash tests/deps.sh

# STRIP=1 installs a stripped binary (about 300 KiB instead of several MiB of debug info), for firmware images.
install: $(BUILD)/ferry
	install -D -m 0755 $(if $(filter 1,$(STRIP)),-s) $(BUILD)/ferry $(DESTDIR)$(PREFIX)/bin/ferry
	ln -sf ferry $(DESTDIR)$(PREFIX)/bin/mmproxy
	ln -sf ferry $(DESTDIR)$(PREFIX)/bin/moproxy
	ln -sf ferry $(DESTDIR)$(PREFIX)/bin/srcproxy
	ln -sf ferry $(DESTDIR)$(PREFIX)/bin/liproxy
	install -D -m 0644 conf/allowed-subnets.example $(DESTDIR)$(PREFIX)/share/doc/ferry/allowed-subnets.example
	for u in conf/ferry-*.service conf/ferry-*.socket conf/moproxy.ini; do \
	    install -D -m 0644 $$u $(DESTDIR)$(PREFIX)/share/doc/ferry/$$(basename $$u) || exit 1; done
	install -D -m 0644 conf/srcproxy-server.json5 $(DESTDIR)$(PREFIX)/share/doc/ferry/srcproxy-server.json5
	install -D -m 0644 conf/srcproxy-client.json5 $(DESTDIR)$(PREFIX)/share/doc/ferry/srcproxy-client.json5
	install -D -m 0644 include/ferry/interceptor_abi.h $(DESTDIR)$(PREFIX)/include/ferry/interceptor_abi.h
	install -D -m 0644 conf/interceptor-replace.c $(DESTDIR)$(PREFIX)/share/doc/ferry/interceptor-replace.c
	install -D -m 0644 conf/ferry-run.ini $(DESTDIR)$(PREFIX)/share/doc/ferry/ferry-run.ini

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/ferry $(DESTDIR)$(PREFIX)/bin/mmproxy $(DESTDIR)$(PREFIX)/bin/moproxy $(DESTDIR)$(PREFIX)/bin/srcproxy $(DESTDIR)$(PREFIX)/bin/liproxy
	rm -f $(DESTDIR)$(PREFIX)/include/ferry/interceptor_abi.h
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/ferry

clean:
	rm -rf build

# ---------------------------------------------------------------- fuzzing (libFuzzer; needs clang, see tests/deps.sh)
# `make fuzz-build` builds one libFuzzer binary per parser of untrusted bytes into build/fuzz/ (tests/fuzz/NAME_fuzz.cpp
# linked with only the src files it needs, each built with ASan+UBSan and coverage); `make fuzz` also runs each for
# FUZZ_SECONDS (default 60) on a scratch copy of its seed corpus tests/fuzz/corpus/NAME/ with its dictionary
# tests/fuzz/NAME.dict (tests/fuzz/run.sh), prints executions and coverage per target and fails if one crashes.
# FUZZ_TARGETS="json5 ini" restricts both; crash inputs are left in build/fuzz/artifacts/NAME/.
FUZZ_CXX      ?= clang++
FUZZ_SECONDS  ?= 60
FUZZ_DIR      := build/fuzz
FUZZ_SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CXXFLAGS := -std=c++20 -g -O1 -Wall -Wextra -Isrc -Iinclude -Itests/fuzz -MMD -MP $(FUZZ_SANFLAGS) \
                 -fsanitize=fuzzer-no-link
FUZZ_TARGETS  ?= $(patsubst tests/fuzz/%_fuzz.cpp,%,$(sort $(wildcard tests/fuzz/*_fuzz.cpp)))
FUZZ_BINS     := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/%_fuzz)

# The src files (without src/ and .cpp) and libraries each target links.
FUZZ_NET                 := core/net_address
FUZZ_SUBNETS             := support/subnets support/file_util support/goflag $(FUZZ_NET)
FUZZ_SRCS_proxy_protocol := proto/proxy_protocol support/crc32c support/text $(FUZZ_NET)
FUZZ_SRCS_socks5_server  := proto/socks5 support/text $(FUZZ_NET)
FUZZ_SRCS_socks5_client  := proto/socks5 support/text $(FUZZ_NET)
FUZZ_SRCS_socks5_udp     := proto/socks5 support/text $(FUZZ_NET)
FUZZ_SRCS_http_connect   := proto/http_connect support/text $(FUZZ_NET)
FUZZ_SRCS_srcproxy_header := proto/srcproxy_header support/sha256 $(FUZZ_NET)
FUZZ_SRCS_dns_probe      := proto/dns_probe
FUZZ_SRCS_status_request := backends/status_page
FUZZ_LIBS_status_request := -lcjson
FUZZ_SRCS_json5          := support/json5
FUZZ_LIBS_json5          := -lcjson
FUZZ_SRCS_ini            := support/ini
FUZZ_LIBS_ini            := -linih
FUZZ_SRCS_server_list    := backends/server_list proto/http_probe support/net_names support/ini support/file_util \
                            $(FUZZ_NET)
FUZZ_LIBS_server_list    := -linih
FUZZ_SRCS_subnets        := $(FUZZ_SUBNETS)
FUZZ_SRCS_udp_datagram   := udp/udp_datagram proto/proxy_protocol support/crc32c support/text outbound/route support/ini \
                            inbound/srcproxy_acl support/sha256 $(FUZZ_SUBNETS)
FUZZ_LIBS_udp_datagram   := -linih
FUZZ_SRCS_srcproxy_acl   := inbound/srcproxy_acl support/sha256 $(FUZZ_SUBNETS)
FUZZ_SRCS_destination_name := proto/destination_name engine/sniff
FUZZ_SRCS_policy         := backends/policy support/text $(FUZZ_SUBNETS)
FUZZ_SRCS_takeover       := engine/takeover engine/inherited_sockets backends/saved_state backends/backend_score \
                            core/socket_util $(FUZZ_NET)
FUZZ_LIBS_takeover       := -lcjson

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@FUZZ_DIR=$(FUZZ_DIR) FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh $(FUZZ_TARGETS)

$(FUZZ_DIR)/obj/%.o: src/%.cpp
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -c $< -o $@

$(FUZZ_DIR)/target-obj/%.o: tests/fuzz/%.cpp
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -c $< -o $@

.SECONDEXPANSION:
$(FUZZ_DIR)/%_fuzz: $(FUZZ_DIR)/target-obj/%_fuzz.o $$(addprefix $(FUZZ_DIR)/obj/,$$(addsuffix .o,$$(FUZZ_SRCS_$$*)))
	$(FUZZ_CXX) $(FUZZ_SANFLAGS) -fsanitize=fuzzer -o $@ $^ $(FUZZ_LIBS_$*)

-include $(LIB_OBJS:.o=.d) $(UNIT_OBJS:.o=.d) $(BUILD)/obj/main.d $(SOAK_TOOLS:=.d)
-include $(wildcard $(FUZZ_DIR)/obj/*/*.d $(FUZZ_DIR)/target-obj/*.d)

