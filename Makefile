# eddy: plain GNU Makefile, no configure step.
#   make              library, examples, apps, benches        -> build/
#   make SAN=1        the same with ASan+UBSan                 -> build-san/
#   make TSAN=1       the same with TSan                       -> build-tsan/
#   make test         every test: plain, ASan+UBSan, and the threaded ones under TSan
#   make fuzz FUZZ_SECONDS=N [FUZZ_TARGETS="http_parser ..."]   libFuzzer, see tests/fuzz/run.sh
#   make run          build only eddy-httpd (in parallel) and start it on ./www
#   make install PREFIX=/usr/local DESTDIR=...   (make uninstall with the same variables)
#   make TLS=0        without OpenSSL (TLS compiled out; TLS options fail clearly) -> build-notls/
# Sources are discovered by directory, so adding a module or a test needs no edit here.

CC      ?= cc
PREFIX  ?= /usr/local
# Parallel jobs of the builds that make run and make test start themselves.
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
VERSION := 0.1.0

CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -fPIC -pthread -Iinclude -Isrc \
                 -MMD -MP
LDLIBS  := -pthread

ifeq ($(SAN),1)
BUILD   ?= build-san
OPT     ?= -O1
CFLAGS_COMMON += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else ifeq ($(TSAN),1)
BUILD   ?= build-tsan
OPT     ?= -O1
CFLAGS_COMMON += -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS += -fsanitize=thread
else
BUILD   ?= build
OPT     ?= -O2
endif

# TLS (OpenSSL 3, found with pkg-config) is on by default; TLS=0 builds everything else.
TLS ?= 1
ifeq ($(TLS),1)
ifeq ($(MAKECMDGOALS),clean)
else ifeq ($(shell pkg-config --exists openssl && echo yes),yes)
CFLAGS_COMMON += $(shell pkg-config --cflags openssl)
LDLIBS  += $(shell pkg-config --libs openssl)
PC_REQUIRES := openssl
else
$(error OpenSSL not found by pkg-config: run scripts/deps.sh (installs libssl-dev and pkg-config), or build without TLS: make TLS=0)
endif
TLS_OUT := src/net/tls_off.c
TLS_TESTS_OUT := tests/unit/net/test_tls_off.c
TLS_BENCH_OUT :=
else
BUILD   := $(BUILD)-notls
TLS_OUT := src/net/tls_bio.c src/net/tls_context.c src/net/tls_ticket.c src/net/transport_tls.c
TLS_TESTS_OUT := $(filter-out tests/unit/net/test_tls_off.c,$(wildcard tests/unit/net/test_tls*.c))
TLS_BENCH_OUT := bench/tls_handshakes.c
endif

ALL_CFLAGS := $(CFLAGS_COMMON) $(OPT) $(CFLAGS)

LIB_SRCS  := $(filter-out $(TLS_OUT),\
             $(sort $(wildcard src/uepoll/*.c src/ustack/*.c src/reactor/*.c src/net/*.c src/http/*.c)))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
HTTPD_SRCS := $(sort $(wildcard apps/eddy-httpd/*.c))
HTTPD_OBJS := $(HTTPD_SRCS:%.c=$(BUILD)/obj/%.o)
EXAMPLE_SRCS := $(sort $(wildcard apps/examples/*.c))
EXAMPLES  := $(patsubst apps/examples/%.c,$(BUILD)/%,$(EXAMPLE_SRCS))
BENCH_SRCS := $(filter-out $(TLS_BENCH_OUT),$(sort $(wildcard bench/*.c)))
BENCHES   := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
TESTLIB_SRCS := $(sort $(wildcard tests/lib/*.c))
TESTLIB_OBJS := $(TESTLIB_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_SRCS := $(filter-out $(TLS_TESTS_OUT),$(sort $(wildcard tests/unit/*/test_*.c tests/unit/test_*.c)))
TESTS     := $(foreach t,$(TEST_SRCS),$(BUILD)/tests/$(notdir $(t:.c=)))
HTTPD     := $(if $(HTTPD_SRCS),$(BUILD)/eddy-httpd)
# Each tests/fuzz/fuzz_NAME.c also becomes a test replaying its corpus (tests/fuzz/run.sh fuzzes).
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TESTS := $(patsubst tests/fuzz/fuzz_%.c,$(BUILD)/tests/test_fuzz_%,$(FUZZ_SRCS))

.PHONY: all lib test test-plain test-san test-tsan tsan-targets run install uninstall clean fuzz format
all: lib $(EXAMPLES) $(HTTPD) $(BENCHES) $(TESTS) $(FUZZ_TESTS)

lib: $(BUILD)/libeddy.a $(BUILD)/libeddy.so

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libeddy.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/libeddy.so: $(LIB_OBJS)
	$(CC) -shared -Wl,-soname,libeddy.so.0 $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%: $(BUILD)/obj/apps/examples/%.o $(BUILD)/libeddy.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/eddy-httpd: $(HTTPD_OBJS) $(BUILD)/libeddy.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lz

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/libeddy.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lm

# Each unit test is one binary; its source may sit one directory deep.
define TEST_RULE
$(BUILD)/tests/$(notdir $(1:.c=)): $(BUILD)/obj/$(1:.c=.o) $(TESTLIB_OBJS) $(BUILD)/libeddy.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS) -lm
endef
$(foreach t,$(TEST_SRCS),$(eval $(call TEST_RULE,$(t))))

define FUZZ_RULE
$(BUILD)/tests/test_fuzz_$(1): $(BUILD)/obj/tests/fuzz/fuzz_$(1).o \
                               $(BUILD)/obj/tests/fuzz/replay_main.o $(BUILD)/libeddy.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS) -lm
endef
$(foreach f,$(FUZZ_SRCS),$(eval $(call FUZZ_RULE,$(patsubst tests/fuzz/fuzz_%.c,%,$(f)))))

# make test: plain, then ASan+UBSan, then the threaded tests (*_mt) under TSan.
# Only the last line counts: "N passed, N failed".
test:
	@bash scripts/deps.sh
	@rm -f build-results.txt
	@$(MAKE) --no-print-directory test-plain || true
	@$(MAKE) --no-print-directory test-san || true
	@$(MAKE) --no-print-directory test-tsan || true
	@bash tests/run.sh --summary build-results.txt

# A build that fails counts as a failed test, so it can never look green.
test-plain:
	@$(MAKE) --no-print-directory -j$(JOBS) all || { echo "plain build 0 1" >>build-results.txt; exit 1; }
	@bash tests/run.sh --build build --label plain --results build-results.txt

test-san:
	@$(MAKE) --no-print-directory -j$(JOBS) SAN=1 all || { echo "asan build 0 1" >>build-results.txt; exit 1; }
	@bash tests/run.sh --build build-san --label asan --results build-results.txt

# Under TSan only the threaded tests run: build those, the library and eddy-httpd (which
# test_httpd_threads_mt.py drives), not every test, bench and example once more.
TSAN_TARGETS = lib $(HTTPD) $(filter %_mt,$(TESTS))

test-tsan:
	@$(MAKE) --no-print-directory -j$(JOBS) TSAN=1 tsan-targets || { echo "tsan build 0 1" >>build-results.txt; exit 1; }
	@bash tests/run.sh --build build-tsan --label tsan --only-mt --results build-results.txt

tsan-targets: $(TSAN_TARGETS)

# make run builds only the server it starts, in parallel (not every test, bench and fuzz
# replay), then replaces itself with it.
RUN_BIN := $(if $(HTTPD),$(HTTPD),$(BUILD)/echo_server)

run:
	@$(MAKE) --no-print-directory -j$(JOBS) $(RUN_BIN)
	@if [ -n "$(HTTPD)" ]; then exec $(BUILD)/eddy-httpd --root www; \
	 else exec $(BUILD)/echo_server --listen 127.0.0.1:8080; fi

# Installed paths. The examples get an eddy- prefix (echo_server -> eddy-echo-server) so
# they cannot clash with other programs in bin/.
LIBDIR       := $(PREFIX)/lib
INST_HEADERS := $(notdir $(wildcard include/eddy/*.h))
INST_EXAMPLES := $(foreach e,$(EXAMPLES),eddy-$(subst _,-,$(notdir $(e))))
INST_LIBS    := libeddy.a libeddy.so libeddy.so.0 libeddy.so.$(VERSION) pkgconfig/eddy.pc
# The dynamic loader finds libeddy.so.0 in these once ldconfig ran (install runs it when
# it installs for real); for any other prefix eddy.pc adds an rpath, so a program built
# with pkg-config runs without LD_LIBRARY_PATH.
SYSTEM_LIBDIRS := /usr/lib /usr/local/lib /lib
, := ,
PC_RPATH     := $(if $(filter $(LIBDIR),$(SYSTEM_LIBDIRS)),, -Wl$(,)-rpath$(,)$${libdir})

install: lib $(HTTPD) $(EXAMPLES)
	install -d $(DESTDIR)$(PREFIX)/include/eddy $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/eddy/*.h $(DESTDIR)$(PREFIX)/include/eddy/
	install -m 644 $(BUILD)/libeddy.a $(DESTDIR)$(LIBDIR)/
	install -m 755 $(BUILD)/libeddy.so $(DESTDIR)$(LIBDIR)/libeddy.so.$(VERSION)
	ln -sf libeddy.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libeddy.so.0
	ln -sf libeddy.so.0 $(DESTDIR)$(LIBDIR)/libeddy.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' -e 's|@RPATH@|$(PC_RPATH)|g' \
	    -e 's|@REQUIRES_PRIVATE@|$(PC_REQUIRES)|g' eddy.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/eddy.pc
	$(if $(HTTPD),install -m 755 $(HTTPD) $(DESTDIR)$(PREFIX)/bin/)
	$(foreach e,$(EXAMPLES),install -m 755 $(e) $(DESTDIR)$(PREFIX)/bin/eddy-$(subst _,-,$(notdir $(e)));)
	$(if $(DESTDIR)$(PC_RPATH),,-ldconfig)

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/include/eddy/,$(INST_HEADERS))
	rm -f $(addprefix $(DESTDIR)$(LIBDIR)/,$(INST_LIBS))
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,eddy-httpd $(INST_EXAMPLES))
	-rmdir $(DESTDIR)$(PREFIX)/include/eddy $(DESTDIR)$(LIBDIR)/pkgconfig 2>/dev/null
	$(if $(DESTDIR)$(PC_RPATH),,-ldconfig)

fuzz:
	@bash tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

FORMAT_FILES = $(shell git ls-files -co --exclude-standard -- '*.c' '*.h' 2>/dev/null)

# The version the style check pins (tests/blackbox/test_format.sh).
CLANG_FORMAT ?= $(shell command -v clang-format-14 || echo clang-format)

format:
	$(CLANG_FORMAT) -i $(FORMAT_FILES)

clean:
	rm -rf build build-san build-tsan build-fuzz build-notls build-results.txt

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
