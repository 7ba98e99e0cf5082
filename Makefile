# SPDX-License-Identifier: GPL-2.0-or-later
#
# make            build the programs and test tools into build/
# make asan       the same with AddressSanitizer + UBSan (and LOCKCHECK) into build/asan/
# make LOCKCHECK=1  vofirm-fs checks its lock order at run time (src/fs/lock.h)
# make fuzz       the fuzzers (clang, libFuzzer) into build/fuzz/: the decoder,
#                 the client's handshake and its reply path
# make check      all of the above, headers, format-check, then the whole test suite
# make headers    every header compiles on its own (includes what it uses)
# make format-check  the tree matches .clang-format (make format: apply it)
# make install    PREFIX=/usr/local DESTDIR=
# make deb        Debian packages vofirm-memd and vofirm-fs into build/deb/ (scripts/mkdeb.sh)
# make demo       the main job: scripts/demo.sh
# make bench      page-path benchmarks with baselines (FULL=1: longer)

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=

BUILD ?= build
SAN ?= 0
LOCKCHECK ?= 0
PKG_CONFIG ?= pkg-config
CLANG ?= clang

FUSE_CFLAGS := $(shell $(PKG_CONFIG) --cflags fuse3 2>/dev/null)
FUSE_LIBS := $(shell $(PKG_CONFIG) --libs fuse3 2>/dev/null)
RDMA_LIBS := $(shell $(PKG_CONFIG) --libs libibverbs librdmacm 2>/dev/null)
GLIB_CFLAGS := $(shell $(PKG_CONFIG) --cflags glib-2.0 2>/dev/null)
GLIB_LIBS := $(shell $(PKG_CONFIG) --libs glib-2.0 2>/dev/null)
JSON_CFLAGS := $(shell $(PKG_CONFIG) --cflags json-glib-1.0 2>/dev/null)
JSON_LIBS := $(shell $(PKG_CONFIG) --libs json-glib-1.0 2>/dev/null)
SYSTEMD_LIBS := $(shell $(PKG_CONFIG) --libs libsystemd 2>/dev/null)
ifeq ($(filter clean demo bench format format-check,$(MAKECMDGOALS)),)
ifeq ($(GLIB_LIBS),)
$(error glib-2.0 development files not found: run scripts/install-deps.sh (or apt-get install libglib2.0-dev pkg-config))
endif
ifeq ($(JSON_LIBS),)
$(error json-glib development files not found: run scripts/install-deps.sh (or apt-get install libjson-glib-dev))
endif
ifeq ($(FUSE_LIBS),)
$(error libfuse3 development files not found: run scripts/install-deps.sh (or apt-get install libfuse3-dev))
endif
ifeq ($(SYSTEMD_LIBS),)
$(error libsystemd development files not found (sd_notify): run scripts/install-deps.sh (or apt-get install libsystemd-dev))
endif
ifeq ($(RDMA_LIBS),)
$(error rdma-core development files not found: run scripts/install-deps.sh (or apt-get install libibverbs-dev librdmacm-dev))
endif
endif

CFLAGS ?= -O2 -g
WARNINGS := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wmissing-prototypes \
	-Wstrict-prototypes -Wno-unused-parameter
ALL_CPPFLAGS := -D_GNU_SOURCE -Iinclude $(CPPFLAGS)
ALL_CFLAGS := -std=gnu11 $(WARNINGS) -pthread $(GLIB_CFLAGS) $(FUSE_CFLAGS) $(CFLAGS)
ALL_LDFLAGS := -pthread $(LDFLAGS)
ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ALL_CFLAGS += $(SANFLAGS) -O1
ALL_LDFLAGS += $(SANFLAGS)
endif
LIBS := $(GLIB_LIBS) $(RDMA_LIBS) $(SYSTEMD_LIBS)

# libvofirm.a: the common ground (src/lib) and the client side of the wire
# (src/transport: the transport interface and its providers)
LIB_SRCS := src/lib/log.c src/lib/util.c src/lib/proto.c src/lib/auth.c \
	src/lib/config.c src/lib/mount.c src/lib/notify.c
XPORT_SRCS := src/transport/transport.c src/transport/tcp.c src/transport/rdma.c \
	src/transport/mem.c src/transport/net.c
MEMD_SRCS := src/memd/settings.c src/memd/pool.c src/memd/conn.c src/memd/tcp.c src/memd/rdma.c
CTL_SRCS := src/ctl/qmp.c src/ctl/jv.c
# vofirmctl's commands: main.c and every other file of src/ctl/
CTL_CMD_SRCS := $(filter-out $(CTL_SRCS),$(sort $(wildcard src/ctl/*.c)))
FS_SRCS := src/fs/settings.c src/fs/servers.c src/fs/files.c src/fs/extent.c src/fs/state.c \
	src/fs/loop.c src/fs/super.c src/fs/ops.c src/fs/awrite.c \
	src/fs/stats.c src/fs/hist.c src/fs/prefetch.c src/fs/handoff.c \
	src/fs/fetchahead.c
UNIT_TESTS := test_util test_proto test_config test_memd_settings test_fs_settings test_auth \
	test_ctl_json test_fs_lock
ifeq ($(LOCKCHECK),1)
ALL_CPPFLAGS += -DVF_LOCKCHECK
FS_SRCS += src/fs/lockcheck.c
endif

LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(XPORT_SRCS:%.c=$(BUILD)/obj/%.o)
MEMD_OBJS := $(MEMD_SRCS:%.c=$(BUILD)/obj/%.o)
FS_OBJS := $(FS_SRCS:%.c=$(BUILD)/obj/%.o)
CTL_OBJS := $(CTL_SRCS:%.c=$(BUILD)/obj/%.o)
LIBVOFIRM := $(BUILD)/libvofirm.a

PROGRAMS := $(BUILD)/vofirm-memd $(BUILD)/vofirm-fs $(BUILD)/vofirmctl $(BUILD)/libvofirm-qemu.so
LIBDIR ?= $(PREFIX)/lib
UNITDIR ?= $(LIBDIR)/systemd/system
TEST_PROGRAMS := $(BUILD)/tests/vofirm-xtest $(BUILD)/tests/gen-fuzz-corpus \
	$(BUILD)/tests/vofirm-mmapio $(BUILD)/tests/vofirm-pagebench $(BUILD)/tests/vofirm-barefuse \
	$(BUILD)/tests/vofirm-rmix \
	$(BUILD)/tests/vofirm-rdma-idle $(BUILD)/tests/vofirm-fs-format99 \
	$(UNIT_TESTS:%=$(BUILD)/tests/unit/%)

.PHONY: all asan fuzz check headers format format-check install uninstall clean demo bench deb
.DELETE_ON_ERROR:

all: $(PROGRAMS) $(TEST_PROGRAMS)

# Only vofirmctl reads and writes JSON (QMP, the mount's stats).
$(BUILD)/obj/src/ctl/%.o $(BUILD)/obj/tests/unit/%.o: ALL_CFLAGS += $(JSON_CFLAGS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(LIBVOFIRM): $(LIB_OBJS)
	$(AR) rcs $@ $^

$(BUILD)/vofirm-memd: $(BUILD)/obj/src/memd/main.o $(MEMD_OBJS) $(LIBVOFIRM)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/vofirm-fs: $(BUILD)/obj/src/fs/main.o $(FS_OBJS) $(LIBVOFIRM)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(FUSE_LIBS) $(LIBS)

$(BUILD)/vofirmctl: $(CTL_CMD_SRCS:%.c=$(BUILD)/obj/%.o) $(CTL_OBJS) $(LIBVOFIRM)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(JSON_LIBS) $(LIBS)

# The QEMU companion is preloaded into QEMU: no sanitizer runtime in it.
$(BUILD)/libvofirm-qemu.so: src/shim/vofirm-qemu.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) -std=gnu11 $(WARNINGS) -O2 -g -fPIC -shared -o $@ $< -ldl -lpthread

$(BUILD)/tests/vofirm-xtest: $(BUILD)/obj/tests/tools/xtest.o $(LIBVOFIRM)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/vofirm-mmapio: $(BUILD)/obj/tests/tools/mmapio.o
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lm

$(BUILD)/tests/vofirm-pagebench: $(BUILD)/obj/tests/bench/pagebench.o $(LIBVOFIRM)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# The bare FUSE anchor of make bench: libfuse3 alone, no libvofirm.
$(BUILD)/tests/vofirm-barefuse: $(BUILD)/obj/tests/bench/barefuse.o
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(FUSE_LIBS)

$(BUILD)/tests/vofirm-rdma-idle: $(BUILD)/obj/tests/tools/rdma_idle.o
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(RDMA_LIBS)

$(BUILD)/tests/vofirm-rmix: $(BUILD)/obj/tests/bench/rmix.o
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^

# vofirm-fs that writes and reads another state format (src/fs/fs.h): a
# planned restart to it must be refused (tests/cases/crash/upgrade.sh).
FS99_OBJS := $(patsubst %.c,$(BUILD)/obj/tests/format99/%.o,src/fs/main.c $(FS_SRCS))
$(BUILD)/obj/tests/format99/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) -DFS_STATE_FORMAT=99 $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/vofirm-fs-format99: $(FS99_OBJS) $(LIBVOFIRM)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(FUSE_LIBS) $(LIBS)

$(BUILD)/tests/gen-fuzz-corpus: $(BUILD)/obj/tests/fuzz/gen_corpus.o $(LIBVOFIRM)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/unit/%: $(BUILD)/obj/tests/unit/%.o $(MEMD_OBJS) $(CTL_OBJS) $(LIBVOFIRM)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(JSON_LIBS) $(LIBS)

# vofirm-fs's settings alone (libfuse for --version), not the whole file system.
$(BUILD)/tests/unit/test_fs_settings: $(BUILD)/obj/tests/unit/test_fs_settings.o \
		$(BUILD)/obj/src/fs/settings.o $(LIBVOFIRM)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(FUSE_LIBS) $(LIBS)

# The lock checker and its test are built with the check in every build.
$(BUILD)/tests/unit/test_fs_lock: $(BUILD)/obj/src/fs/lockcheck.o
$(BUILD)/obj/src/fs/lockcheck.o $(BUILD)/obj/tests/unit/test_fs_lock.o: ALL_CPPFLAGS += -DVF_LOCKCHECK

asan:
	$(MAKE) BUILD=build/asan SAN=1 LOCKCHECK=1 all

# libFuzzer needs clang; the decoder has no dependencies beyond libc, the
# client's handshake and reply path need the shared pieces and glib.
FUZZ_FLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -Iinclude -Wall -Wextra -Werror \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_CLIENT_SRCS := tests/fuzz/fuzz_client.c src/transport/transport.c src/lib/proto.c \
	src/lib/auth.c src/lib/log.c src/lib/util.c
fuzz: build/fuzz/fuzz_proto build/fuzz/fuzz_client

build/fuzz/fuzz_proto: tests/fuzz/fuzz_proto.c src/lib/proto.c include/vofirm/proto.h
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_FLAGS) -o $@ tests/fuzz/fuzz_proto.c src/lib/proto.c

build/fuzz/fuzz_client: $(FUZZ_CLIENT_SRCS) include/vofirm/*.h src/transport/transport_i.h
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_FLAGS) -pthread -Isrc/transport $(GLIB_CFLAGS) -o $@ $(FUZZ_CLIENT_SRCS) \
		$(GLIB_LIBS)

check: all asan fuzz headers format-check
	tests/run.sh

# Each header alone, as the first include of a unit: it must include what
# it uses.  A private header is found from its own folder, as its users do.
HEADERS := $(sort $(wildcard include/vofirm/*.h src/*/*.h))
headers:
	@for h in $(HEADERS); do \
		printf '#include "%s"\n' "$$(basename $$h)" | \
		$(CC) $(ALL_CPPFLAGS) -I$$(dirname $$h) $(ALL_CFLAGS) $(JSON_CFLAGS) -fsyntax-only -x c - || \
		{ echo "header $$h does not compile on its own"; exit 1; }; \
	done; echo "headers: $(words $(HEADERS)) compile on their own"

CLANG_FORMAT ?= clang-format
FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find src include tests -name '*.[ch]')
format:
	$(CLANG_FORMAT) -i $(FORMAT_FILES)

format-check:
	@command -v $(CLANG_FORMAT) >/dev/null || \
		{ echo "format-check needs clang-format (scripts/install-deps.sh)"; exit 1; }
	@$(CLANG_FORMAT) --dry-run -Werror $(FORMAT_FILES) && \
		echo "format-check: $(words $(FORMAT_FILES)) files match .clang-format"

install: $(PROGRAMS)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(LIBDIR)/vofirm \
		$(DESTDIR)$(UNITDIR)
	for u in vofirm-memd vofirm-fs; do \
		sed 's|@SBINDIR@|$(SBINDIR)|g' docs/examples/$$u.service \
			>$(DESTDIR)$(UNITDIR)/$$u.service || exit 1; \
	done
	install -m 0644 $(BUILD)/libvofirm-qemu.so $(DESTDIR)$(LIBDIR)/vofirm/libvofirm-qemu.so
	install -m 0755 $(BUILD)/vofirm-memd $(DESTDIR)$(SBINDIR)/vofirm-memd
	install -m 0755 $(BUILD)/vofirm-fs $(DESTDIR)$(SBINDIR)/vofirm-fs
	install -m 0755 $(BUILD)/vofirmctl $(DESTDIR)$(SBINDIR)/vofirmctl
	install -m 0644 docs/man/vofirmctl.8 $(DESTDIR)$(MANDIR)/man8/vofirmctl.8
	install -m 0644 docs/man/vofirm-memd.8 $(DESTDIR)$(MANDIR)/man8/vofirm-memd.8
	install -m 0644 docs/man/vofirm-fs.8 $(DESTDIR)$(MANDIR)/man8/vofirm-fs.8

deb: $(PROGRAMS)
	scripts/mkdeb.sh $(abspath $(BUILD))/deb

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/vofirm-memd $(DESTDIR)$(MANDIR)/man8/vofirm-memd.8 \
		$(DESTDIR)$(SBINDIR)/vofirm-fs $(DESTDIR)$(MANDIR)/man8/vofirm-fs.8 \
		$(DESTDIR)$(LIBDIR)/vofirm/libvofirm-qemu.so \
		$(DESTDIR)$(SBINDIR)/vofirmctl $(DESTDIR)$(MANDIR)/man8/vofirmctl.8 \
		$(DESTDIR)$(UNITDIR)/vofirm-memd.service \
		$(DESTDIR)$(UNITDIR)/vofirm-fs.service
	-rmdir $(DESTDIR)$(UNITDIR) $(DESTDIR)$(UNITDIR)/.. 2>/dev/null
	-rmdir $(DESTDIR)$(LIBDIR)/vofirm 2>/dev/null

demo:
	scripts/demo.sh

bench:
	scripts/bench.sh $(if $(FULL),--full,)

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
