# ir: image recognition as a service, as small Unix tools.
# Plain GNU make: `make` builds bin/, `make check` runs every test,
# `make bench` the benchmarks, `make demo` the whole local system.
# SAN=1 builds everything with ASan/UBSan into build-san/ and tests that.

PREFIX  ?= /usr/local
DESTDIR ?=
UNITDIR ?= $(PREFIX)/lib/systemd/system
CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Isrc/lib -pthread
LDLIBS  += -Wl,--as-needed -lopenblas -ljpeg -lpng -lcurl -lcrypto -ljansson \
           -lmicrohttpd -lpthread -lm

ifeq ($(SAN),1)
BUILD   := build-san
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
BIN     := build-san/bin
else
BUILD   := build
BIN     := bin
endif

LIBSRC  := $(sort $(wildcard src/lib/*.c))
LIBOBJ  := $(LIBSRC:src/lib/%.c=$(BUILD)/lib/%.o)
CMDS    := $(patsubst src/cmd/%.c,$(BIN)/%,$(wildcard src/cmd/ir-*.c))
UNITS   := $(patsubst tests/unit/%.c,$(BUILD)/t/%,$(wildcard tests/unit/*.c))
SCRIPTS := $(wildcard scripts/ir-*)

all: $(CMDS) $(UNITS)

$(BUILD)/lib/%.o: src/lib/%.c $(wildcard src/lib/*.h) | $(BUILD)/lib
	$(CC) $(CFLAGS) -c -o $@ $<

# Dequantisation must round exactly as tfjs does: no FMA contraction.
# model.o also bakes in PREFIX (ir_model_dir's last resort); the stamp file
# rebuilds it when `make install PREFIX=...` names another one.
$(BUILD)/lib/model.o: CFLAGS += -ffp-contract=off -DIR_PREFIX='"$(PREFIX)"'
$(BUILD)/lib/model.o: $(BUILD)/prefix
$(BUILD)/prefix: FORCE | $(BUILD)/lib
	@echo '$(PREFIX)' | cmp -s - $@ || echo '$(PREFIX)' > $@
FORCE:

# ir-serve's upload page is embedded with .incbin (src/lib/webpage.c).
$(BUILD)/lib/webpage.o: src/web/index.html

$(BUILD)/libir.a: $(LIBOBJ)
	rm -f $@ && ar rcs $@ $^

$(BIN)/%: src/cmd/%.c $(BUILD)/libir.a $(wildcard src/lib/*.h) | $(BIN)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libir.a $(LDLIBS)

$(BUILD)/t/%: tests/unit/%.c $(BUILD)/libir.a $(wildcard src/lib/*.h tests/unit/*.h) | $(BUILD)/t
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(BUILD)/libir.a $(LDLIBS)

$(BUILD)/lib $(BUILD)/t $(BIN):
	mkdir -p $@

# Benchmark programs (bench/bench_*.c -> build/bench/*), run by bench/run.
BENCHES := $(patsubst bench/bench_%.c,$(BUILD)/bench/%,$(wildcard bench/bench_*.c))
all: $(BENCHES)
$(BUILD)/bench/%: bench/bench_%.c $(BUILD)/libir.a $(wildcard src/lib/*.h) | $(BUILD)/bench
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libir.a $(LDLIBS)
$(BUILD)/bench:
	mkdir -p $@

deps:
	scripts/install-deps build

check-deps:
	scripts/install-deps check

bench-deps:
	scripts/install-deps bench

# Every test: C unit tests and shell tests, all TAP, all through prove.
check: check-deps all
	IR_BIN=$(abspath $(BIN)) IR_UNIT=$(abspath $(BUILD)/t) prove -j2 $(UNITS) tests/*.t

bench: bench-deps all
	bench/run

demo: deps all
	scripts/ir-up --demo

fuzz: check-deps
	tests/fuzz/run

install: all install-units
	mkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/ir/model \
	  $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 \
	  $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 755 $(CMDS) $(SCRIPTS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 model/*.irw model/SHA256SUMS model/LICENSE* $(DESTDIR)$(PREFIX)/share/ir/model/
	install -m 644 examples/gallery.irg $(DESTDIR)$(PREFIX)/share/ir/
	for m in man/*.[157]; do \
	  install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man$${m##*.}/; done

# systemd units (examples/systemd/), ExecStart pointed at $(PREFIX)/bin.
install-units:
	mkdir -p $(DESTDIR)$(UNITDIR) $(DESTDIR)$(PREFIX)/share/doc/ir
	for u in examples/systemd/*.service examples/systemd/*.timer; do \
	  sed 's|/usr/local/bin/|$(PREFIX)/bin/|g' $$u > $(DESTDIR)$(UNITDIR)/$${u##*/} && \
	  chmod 644 $(DESTDIR)$(UNITDIR)/$${u##*/} || exit 1; done
	install -m 644 examples/systemd/ir.env $(DESTDIR)$(PREFIX)/share/doc/ir/ir.env.example

clean:
	rm -rf build build-san bin/ir-*

.PHONY: all check bench demo fuzz install install-units clean deps check-deps bench-deps
