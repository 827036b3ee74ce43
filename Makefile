# SPDX-License-Identifier: LGPL-2.1-or-later
# idevicesync: the only build entry point. All output goes under build/; V=1 shows commands.
#
# A fresh Debian 12 machine has make, gcc and apt but no pkg-config yet, so every
# $(shell pkg-config ...) lives in a recursively expanded variable that only recipes use,
# and check/demo/bench run `deps` first and then the real work in a second make.

PKG_CONFIG ?= pkg-config
WERROR     ?= 1
# The ASan build leaves the sanitizer runtime to the executables (clang links it statically).
NO_UNDEFINED ?= -Wl,--no-undefined
CFLAGS     ?= -O2 -g
CC         ?= gcc
BUILD      ?= build

EMU_DEPS    = libplist-2.0 openssl sqlite3 zlib
CLIENT_DEPS = libimobiledevice-1.0 libusbmuxd-2.0 libplist-2.0

WARN = -std=gnu11 -Wall -Wextra -Wshadow -Wformat=2 -Wmissing-prototypes \
       -Wstrict-prototypes -Wundef -Wwrite-strings -Wno-unused-parameter \
       -fstack-protector-strong -D_GNU_SOURCE $(if $(filter 1,$(WERROR)),-Werror)

EMU_CFLAGS    = $(WARN) $(shell $(PKG_CONFIG) --cflags $(EMU_DEPS))
EMU_LIBS      = $(shell $(PKG_CONFIG) --libs $(EMU_DEPS)) -lpthread
CLIENT_CFLAGS = $(WARN) $(shell $(PKG_CONFIG) --cflags $(CLIENT_DEPS))
CLIENT_LIBS   = $(shell $(PKG_CONFIG) --libs $(CLIENT_DEPS)) -lpthread

ifeq ($(V),1)
Q :=
else
Q := @
endif

# ---- the emulator: tests/emulator -> build/fakeidevice ----------------------------------
EMU_SRC      := $(filter-out tests/emulator/main.c tests/emulator/test-%.c,$(wildcard tests/emulator/*.c))
EMU_OBJ      := $(EMU_SRC:%.c=$(BUILD)/%.o)
# The emulator's unit tests are test-emu-*.c, built as $(BUILD)/tests/test-emu-*; lib's are
# tests/test-*.c -> $(BUILD)/tests/test-*. The prefix is the emulator's alone, so the two
# never make the same binary (the emulator's rule would win, silently).
EMU_TEST_SRC := $(wildcard tests/emulator/test-emu-*.c)
EMU_TESTS    := $(EMU_TEST_SRC:tests/emulator/%.c=$(BUILD)/tests/%)
ifneq ($(wildcard tests/test-emu-*.c),)
$(error $(wildcard tests/test-emu-*.c): test-emu- is the prefix of tests/emulator/'s unit tests)
endif
ifneq ($(filter-out $(EMU_TEST_SRC),$(wildcard tests/emulator/test-*.c)),)
$(error $(filter-out $(EMU_TEST_SRC),$(wildcard tests/emulator/test-*.c)): name it test-emu-*.c)
endif

# ---- client-side tests written against the real libimobiledevice -------------------------
CLIENT_TEST_SRC := $(wildcard tests/conformance/*.c)
CLIENT_TESTS    := $(CLIENT_TEST_SRC:tests/conformance/%.c=$(BUILD)/tests/%)

# ---- common/: a static base linked into lib/ (hidden), the daemon and the CLI -------------
# Never into the emulator, which keeps its own independent rules.
COMMON_CFLAGS = $(WARN) -fPIC -fvisibility=hidden
COMMON_SRC   := $(wildcard common/*.c)
COMMON_OBJ   := $(COMMON_SRC:%.c=$(BUILD)/%.o)
COMMON_LIB   := $(BUILD)/libcommon.a

# ---- lib/: libidevicesync (the backup engine) --------------------------------------------
LIB_DEPS    = libimobiledevice-1.0 libusbmuxd-2.0 libplist-2.0 zlib sqlite3 openssl libexif libical libzip
LIB_CFLAGS  = $(WARN) -Icommon -fPIC -fvisibility=hidden $(shell $(PKG_CONFIG) --cflags $(LIB_DEPS))
# libunistring (NFC of document names) ships no .pc file.
LIB_LIBS    = $(shell $(PKG_CONFIG) --libs $(LIB_DEPS)) -lpthread -lunistring
LIB_SRC     := $(wildcard lib/*.c)
LIB_OBJ     := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB_SO      := $(if $(LIB_SRC),$(BUILD)/libidevicesync.so.0)
LIB_TEST_SRC := $(wildcard tests/test-*.c)
LIB_TESTS    := $(LIB_TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TOOL_SRC     := $(wildcard tests/tool-*.c)
TOOLS        := $(TOOL_SRC:tests/%.c=$(BUILD)/tests/%)

# ---- daemon/: idevicesyncd and the idevicesync CLI ----------------------------------------
DAEMON_DEPS   = libsystemd libudev libimobiledevice-1.0 libusbmuxd-2.0 libplist-2.0
DAEMON_CFLAGS = $(WARN) -Ilib -Icommon $(shell $(PKG_CONFIG) --cflags $(DAEMON_DEPS) $(LIB_DEPS))
DAEMON_LIBS   = $(shell $(PKG_CONFIG) --libs $(DAEMON_DEPS)) -lpthread
CLI_SRC      := $(wildcard daemon/idevicesync.c daemon/idevicesync-*.c daemon/cli-*.c)
DAEMON_SRC   := $(filter-out $(CLI_SRC),$(wildcard daemon/*.c))
DAEMON_OBJ   := $(DAEMON_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ      := $(CLI_SRC:%.c=$(BUILD)/%.o)
DAEMON_BIN   := $(if $(wildcard daemon/main.c),$(BUILD)/idevicesyncd)
CLI_BIN      := $(if $(wildcard daemon/idevicesync.c),$(BUILD)/idevicesync)

BENCH_TOOLS := $(BUILD)/tests/bench/bench-store $(BUILD)/tests/bench/bench-floor
# Runs one export type on a plain directory (tests of the exports; lib's internal API).
EXPORT_TOOL := $(BUILD)/tests/export-plain

UMOCKDEV_HARNESS := $(BUILD)/tests/umockdev-harness

ALL := $(UMOCKDEV_HARNESS) $(DAEMON_BIN) $(CLI_BIN) $(BUILD)/fakeidevice $(EMU_TESTS) $(CLIENT_TESTS) $(LIB_SO) $(LIB_TESTS) $(TOOLS) $(BENCH_TOOLS) $(EXPORT_TOOL)

# ---- install ------------------------------------------------------------------------------
# Paths the system reads do not follow PREFIX (STYLE.md §11): /etc, /usr/share/dbus-1, the
# unit, udev and sysusers directories.
PREFIX         ?= /usr/local
BINDIR         ?= $(PREFIX)/bin
LIBDIR         ?= $(PREFIX)/lib
LIBEXECDIR     ?= $(PREFIX)/libexec
INCLUDEDIR     ?= $(PREFIX)/include
MANDIR         ?= $(PREFIX)/share/man
SYSCONFDIR     ?= /etc
DATADIR        ?= /usr/share
DBUSPOLICYDIR  ?= $(DATADIR)/dbus-1/system.d
DBUSSERVICEDIR ?= $(DATADIR)/dbus-1/system-services
SYSTEMDUNITDIR ?= $(or $(shell $(PKG_CONFIG) --variable=systemdsystemunitdir systemd 2>/dev/null),/usr/lib/systemd/system)
UDEVRULESDIR   ?= $(or $(shell $(PKG_CONFIG) --variable=udevdir udev 2>/dev/null),/usr/lib/udev)/rules.d
SYSUSERSDIR    ?= $(or $(shell $(PKG_CONFIG) --variable=sysusersdir systemd 2>/dev/null),/usr/lib/sysusers.d)

.SECONDARY:
.PHONY: all deps fuzz check check-asan check-valgrind bench demo clean help install uninstall lint
.DEFAULT_GOAL := all

all: $(ALL)

$(BUILD)/tests/emulator/%.o: tests/emulator/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(EMU_CFLAGS) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/conformance/%.o: tests/conformance/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CLIENT_CFLAGS) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/common/%.o: common/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(COMMON_CFLAGS) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(COMMON_LIB): $(COMMON_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(LIB_CFLAGS) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(WARN) -Ilib -Icommon $(shell $(PKG_CONFIG) --cflags $(LIB_DEPS) libsystemd) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

# Tests link the objects directly, so they can reach lib/'s internal functions.
$(BUILD)/libidevicesync-test.a: $(LIB_OBJ) $(COMMON_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/libidevicesync.so.0: $(LIB_OBJ) $(COMMON_LIB) lib/libidevicesync.sym
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,libidevicesync.so.0 \
		-Wl,--version-script=lib/libidevicesync.sym $(NO_UNDEFINED) -o $@ $(LIB_OBJ) \
		$(COMMON_LIB) $(LIB_LIBS)
	$(Q)ln -sf libidevicesync.so.0 $(BUILD)/libidevicesync.so

$(BUILD)/daemon/%.o: daemon/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(DAEMON_CFLAGS) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/idevicesyncd: $(DAEMON_OBJ) $(COMMON_LIB) $(BUILD)/libidevicesync.so.0
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(DAEMON_OBJ) $(COMMON_LIB) -L$(BUILD) -l:libidevicesync.so.0 \
		-Wl,-rpath,'$$ORIGIN' $(DAEMON_LIBS)

$(BUILD)/idevicesync: $(CLI_OBJ) $(COMMON_LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(shell $(PKG_CONFIG) --libs libsystemd)

# Unit tests of daemon modules link the module under test.
$(BUILD)/tests/test-config.o: CPPFLAGS += -Idaemon
$(BUILD)/tests/test-config: $(BUILD)/daemon/config.o $(BUILD)/daemon/conf-parser.o
$(BUILD)/tests/test-cli-format.o: CPPFLAGS += -Idaemon
$(BUILD)/tests/test-cli-format: $(BUILD)/daemon/cli-format.o
$(BUILD)/tests/test-device-state.o: CPPFLAGS += -Idaemon
$(BUILD)/tests/test-device-state: $(BUILD)/daemon/device-state.o
$(BUILD)/tests/test-device-fsm.o: CPPFLAGS += -Idaemon
$(BUILD)/tests/test-device-fsm: $(BUILD)/daemon/device-fsm.o
$(BUILD)/tests/test-policy.o: CPPFLAGS += -Idaemon
$(BUILD)/tests/test-policy: $(BUILD)/daemon/policy.o $(BUILD)/daemon/config.o $(BUILD)/daemon/conf-parser.o
$(BUILD)/tests/test-worker.o: CPPFLAGS += -Idaemon
$(BUILD)/tests/test-worker: $(BUILD)/daemon/worker-msg.o
# The vtable test serves the daemon's objects over a socketpair: every module but main.o.
$(BUILD)/tests/test-bus-vtables.o: CPPFLAGS += -Idaemon
$(BUILD)/tests/test-bus-vtables: $(BUILD)/tests/test-bus-vtables.o \
		$(filter-out $(BUILD)/daemon/main.o,$(DAEMON_OBJ)) \
		$(BUILD)/libidevicesync-test.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.a,$^) $(filter %.a,$^) \
		$(DAEMON_LIBS) $(LIB_LIBS)
# Requests without a bus: every module but main.o, and lib/'s sync-db.c for sync.db.
$(BUILD)/tests/test-request.o: CPPFLAGS += -Idaemon
$(BUILD)/tests/test-request: $(BUILD)/tests/test-request.o \
		$(filter-out $(BUILD)/daemon/main.o,$(DAEMON_OBJ)) \
		$(BUILD)/libidevicesync-test.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.a,$^) $(filter %.a,$^) \
		$(DAEMON_LIBS) $(LIB_LIBS)
$(BUILD)/tests/test-notify.o: CPPFLAGS += -Idaemon
$(BUILD)/tests/test-notify: $(BUILD)/tests/test-notify.o $(BUILD)/daemon/notify.o $(BUILD)/daemon/log.o
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(shell $(PKG_CONFIG) --libs libsystemd)

$(BUILD)/libemu.a: $(EMU_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/fakeidevice: $(BUILD)/tests/emulator/main.o $(BUILD)/libemu.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(EMU_LIBS)

$(BUILD)/tests/test-emu-%: $(BUILD)/tests/emulator/test-emu-%.o $(BUILD)/libemu.a
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(EMU_LIBS)

# Objects first, archives last, so a daemon module a test adds can use lib/ and common/.
$(BUILD)/tests/test-%: $(BUILD)/tests/test-%.o $(BUILD)/libidevicesync-test.a
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.a,$^) $(filter %.a,$^) $(LIB_LIBS)

# Bus and notify helpers of the daemon tests need only libsystemd.
$(BUILD)/tests/tool-notify: $(BUILD)/tests/tool-notify.o
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^
$(BUILD)/tests/tool-buswait: $(BUILD)/tests/tool-buswait.o
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(shell $(PKG_CONFIG) --libs libsystemd)

$(BUILD)/tests/bench/bench-store: $(BUILD)/tests/bench/bench-store.o $(BUILD)/libidevicesync-test.a
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIB_LIBS)
$(BUILD)/tests/export-plain: $(BUILD)/tests/export-plain.o $(BUILD)/libidevicesync-test.a
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIB_LIBS)
$(BUILD)/tests/bench/bench-floor: $(BUILD)/tests/bench/bench-floor.o
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^

# tool-mobilesync drives lib/'s internal mobilesync client (no public API yet): it links
# lib/'s objects, as the unit tests do.
$(BUILD)/tests/tool-mobilesync: $(BUILD)/tests/tool-mobilesync.o $(BUILD)/libidevicesync-test.a
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libidevicesync-test.a $(LIB_LIBS)

# Test tools drive the library through its public API only (the shared object).
$(BUILD)/tests/tool-%: $(BUILD)/tests/tool-%.o $(BUILD)/libidevicesync.so.0
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< -L$(BUILD) -l:libidevicesync.so.0 \
		-Wl,-rpath,'$$ORIGIN/..' $(LIB_LIBS)

$(BUILD)/tests/conf-%: $(BUILD)/tests/conformance/conf-%.o
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(CLIENT_LIBS)

# The hotplug harness links libumockdev (tests/integration/hotplug.test). Without
# libumockdev-dev it is left out, and that test reports SKIP.
$(BUILD)/tests/umockdev-harness: tests/umockdev/harness.c
	@mkdir -p $(@D)
	$(Q)if $(PKG_CONFIG) --exists umockdev-1.0 2>/dev/null; then \
		$(if $(Q),echo "  CCLD    $@";) \
		$(CC) $(WARN) $$($(PKG_CONFIG) --cflags umockdev-1.0) $(CPPFLAGS) $(CFLAGS) \
			$(LDFLAGS) -o $@ $< $$($(PKG_CONFIG) --libs umockdev-1.0); \
	else echo "  SKIP    $@ (libumockdev-dev is not installed)"; fi

deps:
	$(Q)tools/install-deps

# check/demo/bench: install what is missing, then build and run in a second pass.
check: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) tests/run-tests

check-valgrind: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) VALGRIND=1 tests/run-tests

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) tools/demo

# clang ASan+UBSan (gcc's shared ASan runtime clashes with umockdev's preload).
ASAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
check-asan: deps
	$(Q)$(MAKE) --no-print-directory BUILD=$(BUILD)-asan CC=clang CFLAGS="$(ASAN_FLAGS)" \
		LDFLAGS="-fsanitize=address,undefined" NO_UNDEFINED= all
	$(Q)BUILD=$(BUILD)-asan ASAN=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1 tests/run-tests

# libFuzzer targets (clang 14), each run for FUZZ_SECONDS (default 30); see tests/fuzz/run-fuzz.
fuzz: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) tests/fuzz/run-fuzz

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) tests/bench/run-bench

# cppcheck does not know the cleanup attribute, so its memleak findings are all false;
# leaks are what make check-asan and make check-valgrind look for.
lint:
	$(Q)clang-format --dry-run $(wildcard tests/emulator/*.[ch] tests/conformance/*.c)
	$(Q)cppcheck -q --std=c11 --enable=warning,portability --error-exitcode=1 \
		--suppress=missingIncludeSystem --suppress=memleak tests/emulator tests/conformance
	$(Q)cppcheck -q --std=c11 --enable=warning,portability --error-exitcode=1 \
		--suppress=missingIncludeSystem --suppress=memleak -Icommon -Ilib -Idaemon \
		common lib daemon

$(BUILD)/idevicesync.service: systemd/idevicesync.service.in
	$(Q)sed -e 's|@libexecdir@|$(LIBEXECDIR)|g' $< > $@

install: all $(BUILD)/idevicesync.service
	install -Dm0755 $(BUILD)/idevicesyncd $(DESTDIR)$(LIBEXECDIR)/idevicesyncd
	install -Dm0755 $(BUILD)/idevicesync $(DESTDIR)$(BINDIR)/idevicesync
	install -Dm0755 $(BUILD)/libidevicesync.so.0 $(DESTDIR)$(LIBDIR)/libidevicesync.so.0
	ln -sf libidevicesync.so.0 $(DESTDIR)$(LIBDIR)/libidevicesync.so
	install -Dm0644 lib/idevicesync.h $(DESTDIR)$(INCLUDEDIR)/idevicesync.h
	install -Dm0644 $(BUILD)/idevicesync.service $(DESTDIR)$(SYSTEMDUNITDIR)/idevicesync.service
	install -Dm0644 systemd/idevicesync.sysusers $(DESTDIR)$(SYSUSERSDIR)/idevicesync.conf
	install -Dm0644 udev/70-idevicesync.rules $(DESTDIR)$(UDEVRULESDIR)/70-idevicesync.rules
	install -Dm0644 daemon/org.idevicesync1.conf $(DESTDIR)$(DBUSPOLICYDIR)/org.idevicesync1.conf
	install -Dm0644 daemon/org.idevicesync1.service.in \
		$(DESTDIR)$(DBUSSERVICEDIR)/org.idevicesync1.service
	install -Dm0644 man/idevicesync.1 $(DESTDIR)$(MANDIR)/man1/idevicesync.1
	install -Dm0644 man/idevicesync.conf.5 $(DESTDIR)$(MANDIR)/man5/idevicesync.conf.5
	install -Dm0644 man/idevicesync-sync.7 $(DESTDIR)$(MANDIR)/man7/idevicesync-sync.7
	$(if $(wildcard man/idevicesyncd.8),install -Dm0644 man/idevicesyncd.8 $(DESTDIR)$(MANDIR)/man8/idevicesyncd.8)
	install -d -m0755 $(DESTDIR)$(SYSCONFDIR)/idevicesync/devices.d

uninstall:
	rm -f $(DESTDIR)$(LIBEXECDIR)/idevicesyncd $(DESTDIR)$(BINDIR)/idevicesync \
		$(DESTDIR)$(LIBDIR)/libidevicesync.so.0 $(DESTDIR)$(LIBDIR)/libidevicesync.so \
		$(DESTDIR)$(INCLUDEDIR)/idevicesync.h \
		$(DESTDIR)$(SYSTEMDUNITDIR)/idevicesync.service \
		$(DESTDIR)$(SYSUSERSDIR)/idevicesync.conf \
		$(DESTDIR)$(UDEVRULESDIR)/70-idevicesync.rules \
		$(DESTDIR)$(DBUSPOLICYDIR)/org.idevicesync1.conf \
		$(DESTDIR)$(DBUSSERVICEDIR)/org.idevicesync1.service \
		$(DESTDIR)$(MANDIR)/man1/idevicesync.1 $(DESTDIR)$(MANDIR)/man5/idevicesync.conf.5 \
		$(DESTDIR)$(MANDIR)/man7/idevicesync-sync.7 \
		$(DESTDIR)$(MANDIR)/man8/idevicesyncd.8

clean:
	rm -rf $(BUILD)

help:
	@echo "make            build everything (build/fakeidevice, tests)"
	@echo "make deps       install missing Debian packages (tools/debian-packages)"
	@echo "make demo       deps + build + plug in an emulated iPhone and watch it back up"
	@echo "make check      deps + build + every test; ends with 'N passed, N failed'"
	@echo "make check-valgrind  the same under valgrind --leak-check=full"
	@echo "make check-asan the same built with clang ASan+UBSan (in build-asan/)"
	@echo "make fuzz       run each libFuzzer target for FUZZ_SECONDS (default 30)"
	@echo "make bench      throughput and memory figures (not pass/fail)"
	@echo "make install    install (DESTDIR, PREFIX=/usr/local, LIBDIR, LIBEXECDIR, ...)"
	@echo "make clean      remove build/"

-include $(shell find $(BUILD) -name '*.d' -type f -not -path '$(BUILD)/demo/*' 2>/dev/null)
