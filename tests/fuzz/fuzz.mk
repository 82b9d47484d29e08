## tests/fuzz/fuzz.mk - the libFuzzer build, separate from the main (gcc) build: every
## daemon source compiled again by clang with coverage, ASan and UBSan into
## $(O)/libgs_fuzz.a, one binary per target. Called by `make fuzz`, `make fuzz-check`
## and `make fuzz-build` of the main Makefile (tests/local.mk), which pass the paths and
## the libraries' flags. A target is tests/fuzz/fuzz_<name>.c + its name in FUZZ_TARGETS
## + tests/fuzz/<name>.dict and tests/fuzz/corpus/<name>/ (see tests/fuzz/README.md).
FUZZ_TARGETS = http_range url_path dav_xml api webhook cfg bt catalog warmup \
	blocklist natpmp tmdb torrentio plex disc_score

top_srcdir ?= .
top_builddir ?= .
O ?= $(top_builddir)/fuzz-build
FUZZ_CC ?= clang-14
FUZZ_CXX ?= clang++-14
FUZZ_SECONDS ?= 600
FUZZ_CHECK_SECONDS ?= 20

F = $(top_srcdir)/tests/fuzz
SAN = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1
# libtorrent is not built with UBSan: its typeinfo is not there for -fsanitize=vptr.
CXXSAN = $(SAN) -fno-sanitize=vptr
INC = -I$(top_srcdir)/server -I$(top_srcdir)/davfs -I$(top_srcdir)/fuse -I$(top_builddir) -I$(F)
CFLAGS_F = -std=gnu11 -D_GNU_SOURCE= -DSYSCONFDIR='"/etc"' -Wall -Wextra $(SAN) \
	-fsanitize=fuzzer-no-link $(INC) $(PKG_CFLAGS)
CXXFLAGS_F = -std=c++17 -Wall -Wextra $(CXXSAN) -fsanitize=fuzzer-no-link $(INC) $(LT_CFLAGS)

LIB_C = $(filter-out $(top_srcdir)/server/main.c,$(wildcard $(top_srcdir)/server/*.c)) \
	$(wildcard $(top_srcdir)/davfs/*.c) $(if $(FUZZ_FUSE),$(wildcard $(top_srcdir)/fuse/*.c))
LIB_CXX = $(wildcard $(top_srcdir)/server/bt_*.cc)
LIB_OBJ = $(patsubst $(top_srcdir)/%.c,$(O)/obj/%.o,$(LIB_C)) \
	$(patsubst $(top_srcdir)/%.cc,$(O)/obj/%.o,$(LIB_CXX))
HDRS = $(wildcard $(top_srcdir)/server/*.h $(top_srcdir)/davfs/*.h $(top_srcdir)/fuse/*.h $(F)/*.h) \
	$(top_builddir)/config.h
BINS = $(FUZZ_TARGETS:%=$(O)/fuzz_%)

fuzz-build: $(BINS)

$(O)/obj/%.o: $(top_srcdir)/%.c $(HDRS)
	@mkdir -p $(@D)
	@echo "  FUZZ-CC  $(@F)"; $(FUZZ_CC) $(CFLAGS_F) -c -o $@ $<

$(O)/obj/server/%.o: $(top_srcdir)/server/%.cc $(HDRS)
	@mkdir -p $(@D)
	@echo "  FUZZ-CXX $(@F)"; $(FUZZ_CXX) $(CXXFLAGS_F) -c -o $@ $<

$(O)/libgs_fuzz.a: $(LIB_OBJ)
	@rm -f $@
	@echo "  FUZZ-AR  $(@F)"; ar rcs $@ $^

$(O)/obj/fuzz_common.o: $(F)/fuzz_common.c $(HDRS)
	@mkdir -p $(@D)
	@echo "  FUZZ-CC  $(@F)"; $(FUZZ_CC) $(CFLAGS_F) -c -o $@ $<

$(O)/obj/fuzz_%.o: $(F)/fuzz_%.c $(HDRS) $(LIB_C)
	@mkdir -p $(@D)
	@echo "  FUZZ-CC  $(@F)"; $(FUZZ_CC) $(CFLAGS_F) -c -o $@ $<

# The shim is C++: link with the C++ driver. A target that includes a module's .c (to
# reach its statics) defines its symbols, so the archive's copy is not pulled in.
$(O)/fuzz_%: $(O)/obj/fuzz_%.o $(O)/obj/fuzz_common.o $(O)/libgs_fuzz.a
	@echo "  FUZZ-LD  $(@F)"; $(FUZZ_CXX) $(CXXSAN) -fsanitize=fuzzer -o $@ $< $(O)/obj/fuzz_common.o \
		$(O)/libgs_fuzz.a $(PKG_LIBS) -ldl

# One run per target: FUZZ_SECONDS each, new inputs kept in $(O)/corpus/<target> (the
# seeds in tests/fuzz/corpus are read, never written), crashes in $(O)/findings/.
FUZZ_OPTS = -timeout=10 -rss_limit_mb=2560 -max_len=65536 -print_final_stats=1

fuzz: fuzz-build
	@mkdir -p $(O)/findings; fail=0; \
	for t in $(FUZZ_TARGETS); do \
		mkdir -p $(O)/corpus/$$t; \
		echo "== fuzz $$t for $(FUZZ_SECONDS) s"; \
		$(O)/fuzz_$$t $(FUZZ_OPTS) -dict=$(F)/$$t.dict \
			-max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(O)/findings/$$t- \
			$(O)/corpus/$$t $(F)/corpus/$$t > $(O)/fuzz-$$t.log 2>&1 || fail=1; \
		grep -E '^(==[0-9]+==|SUMMARY|.*runtime error)' $(O)/fuzz-$$t.log | head -n 5; \
	done; \
	echo "== results (logs: $(O)/fuzz-<target>.log)"; \
	for t in $(FUZZ_TARGETS); do \
		echo "$$t: $$(sed -n 's/^stat::number_of_executed_units: *//p' $(O)/fuzz-$$t.log) runs," \
		     "$$(sed -n 's/^stat::average_exec_per_sec: *//p' $(O)/fuzz-$$t.log) exec/s," \
		     "$$(ls $(O)/findings | grep -c "^$$t-") finding(s) in $(O)/findings"; \
	done; exit $$fail

# CI: every seed and regression input replayed once, then FUZZ_CHECK_SECONDS of fuzzing
# per target from the seeds (a scratch corpus). Prints one "FUZZ PASS|FAIL: <target>"
# line per target; fails if any target failed.
fuzz-check: fuzz-build
	@fail=0; for t in $(FUZZ_TARGETS); do \
		w=$(O)/check/$$t; rm -rf $$w; mkdir -p $$w; \
		if $(O)/fuzz_$$t $(FUZZ_OPTS) -runs=0 $(F)/corpus/$$t > $(O)/check/$$t.replay.log 2>&1 && \
		   $(O)/fuzz_$$t $(FUZZ_OPTS) -dict=$(F)/$$t.dict -max_total_time=$(FUZZ_CHECK_SECONDS) \
			-artifact_prefix=$(O)/check/$$t- $$w $(F)/corpus/$$t > $(O)/check/$$t.log 2>&1; then \
			echo "FUZZ PASS: $$t ($$(sed -n 's/^stat::number_of_executed_units: *//p' $(O)/check/$$t.log) runs)"; \
		else \
			echo "FUZZ FAIL: $$t"; fail=1; \
			tail -n 40 $(O)/check/$$t.replay.log $(O)/check/$$t.log; \
		fi; \
	done; exit $$fail

.PHONY: fuzz fuzz-build fuzz-check
.SECONDARY:
