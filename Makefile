# libcnn — build, test, demo. `make demo` and `make check` install what they need.
CC      ?= cc
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
SAN     ?=
BUILD   ?= build
BLASDIR := /usr/lib/x86_64-linux-gnu/openblas-openmp
BLASINC := /usr/include/x86_64-linux-gnu/openblas-openmp
ALL_CFLAGS  = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Wno-unused-parameter \
              -fopenmp -Iinclude -I$(BLASINC) $(CFLAGS) $(SAN)
LDLIBS  = -lcmocka -L$(BLASDIR) -Wl,-rpath,$(BLASDIR) -lopenblas -lpng -ljpeg -lz -lm -fopenmp $(SAN)

LIB_SRC  := $(sort $(shell find src -name '*.c'))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_SRC  := $(sort $(wildcard tools/cnn/*.c))
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_COMMON := $(sort $(wildcard tests/common/*.c))
EX_SRC   := $(sort $(wildcard examples/*.c))
EX_BIN   := $(EX_SRC:examples/%.c=$(BUILD)/examples/%)
# Each fuzz target also builds as a test that replays its seed and regression corpora.
FUZZ_TARGETS := $(patsubst fuzz/fuzz_%.c,%,$(sort $(wildcard fuzz/fuzz_*.c)))
FUZZ_REPLAY  := $(FUZZ_TARGETS:%=$(BUILD)/tests/test_fuzz_%)

.PHONY: all deps data demo check test clean format fuzz fuzz-smoke check-asan check-tsan \
        check-valgrind
all: $(BUILD)/cnn $(TEST_BIN) $(EX_BIN) $(FUZZ_REPLAY)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libcnn.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/cnn: $(CLI_OBJ) $(BUILD)/libcnn.a
	$(CC) -o $@ $(CLI_OBJ) $(BUILD)/libcnn.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(TEST_COMMON) $(BUILD)/libcnn.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Isrc -o $@ $< $(TEST_COMMON) $(BUILD)/libcnn.a $(LDLIBS)

$(BUILD)/tests/test_fuzz_%: fuzz/fuzz_%.c fuzz/replay.c fuzz/fuzz.h $(BUILD)/libcnn.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -D_GNU_SOURCE -DFUZZ_TARGET='"$*"' -o $@ $< fuzz/replay.c $(BUILD)/libcnn.a $(LDLIBS)

$(BUILD)/examples/%: examples/%.c $(BUILD)/libcnn.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libcnn.a $(LDLIBS)

deps:
	@bash scripts/install-deps.sh

data:
	@bash scripts/fetch-data.sh

# Train LeNet-5 on the 60,000 MNIST images and evaluate on the 10,000 test images.
demo: deps
	@bash scripts/fetch-data.sh
	@$(MAKE) --no-print-directory $(BUILD)/cnn
	$(BUILD)/cnn train models/lenet5.cnn --data data/mnist --save $(BUILD)/lenet5.weights

# The suite, then the same suite under ASan+UBSan, the thread test under TSan,
# valgrind over the CLI and a short run of every fuzz target (docs/security.md).
check: deps
	@bash scripts/fetch-data.sh
	@$(MAKE) --no-print-directory all
	@bash tests/run.sh $(BUILD)
	@$(MAKE) --no-print-directory check-asan check-tsan check-valgrind fuzz-smoke

# ---- sanitizers and valgrind --------------------------------------------------
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
ASAN_SAN   := -fsanitize=address,undefined -fno-omit-frame-pointer
TSAN_SAN   := -fsanitize=thread

# The whole suite built with AddressSanitizer (leaks included) and UBSan; any
# report fails the test that caused it.
check-asan:
	@$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) SAN="$(ASAN_SAN)" all
	@echo "---- the suite under AddressSanitizer + UndefinedBehaviorSanitizer"
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    bash tests/run.sh $(ASAN_BUILD)

# Two nets in two threads under ThreadSanitizer. libgomp is not instrumented, so
# its own workers would give false reports: one OpenMP thread per pthread.
check-tsan:
	@$(MAKE) --no-print-directory BUILD=$(TSAN_BUILD) SAN="$(TSAN_SAN)" \
	    $(TSAN_BUILD)/tests/test_threads
	@echo "---- test_threads under ThreadSanitizer (OMP_NUM_THREADS=1)"
	@OMP_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1:exitcode=66 $(TSAN_BUILD)/tests/test_threads

check-valgrind:
	@$(MAKE) --no-print-directory $(BUILD)/cnn
	@echo "---- valgrind memcheck over the CLI"
	@bash tests/valgrind.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD) $(ASAN_BUILD) $(TSAN_BUILD)

# ---- fuzzing: libFuzzer targets in fuzz/ (docs/fuzzing.md) -------------------
# Built with clang, AddressSanitizer and UndefinedBehaviorSanitizer (any UB is a
# finding). No OpenMP pragmas (clang would need libomp): the library runs
# single-threaded, omp_* calls go to libgomp. The fuzz build lowers the
# parameter and activation ceilings (core.h) so the fuzzer explores instead of
# filling memory; the checks are the same code.
FUZZ_CC    ?= clang
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME  ?= 20
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
              -Wall -Wno-unused-parameter -Iinclude -I$(BLASINC) \
              -idirafter $(shell gcc -print-file-name=include) \
              -DCNN_MAX_PARAMS='((size_t)1 << 22)' -DCNN_MAX_PLAN_BYTES='((size_t)1 << 28)' $(FUZZ_SAN)
FUZZ_LDLIBS = -L$(BLASDIR) -Wl,-rpath,$(BLASDIR) -lopenblas -lpng -ljpeg -lz -lm -lgomp
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_BIN     := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz.h $(FUZZ_LIB_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJ) $(FUZZ_LDLIBS)

# Keep the objects: they are shared by every target.
.SECONDARY: $(FUZZ_LIB_OBJ)

fuzz: $(FUZZ_BIN)

# Every target for FUZZ_TIME seconds from its seeds, after replaying its regression inputs.
fuzz-smoke: fuzz
	@bash fuzz/smoke.sh $(FUZZ_BUILD) $(FUZZ_TIME) $(FUZZ_TARGETS)

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(TEST_SRC) $(EX_SRC) include/cnn.h $(shell find src -name '*.h')

-include $(shell find $(BUILD)/obj $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)
