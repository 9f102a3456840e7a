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

# The compute kernels are built at -O3 (GCC's -O2 vectorises only loops whose
# trip count needs no epilogue) and, with GCC, without turning short copy and
# clear loops into memcpy/memset calls (their call overhead dominated the
# rows of small convolutions). Override with KERNEL_CFLAGS=.
KERNEL_CFLAGS ?= -O3 $(shell $(CC) -fno-tree-loop-distribute-patterns -E -x c /dev/null >/dev/null 2>&1 && echo -fno-tree-loop-distribute-patterns)

LIB_SRC  := $(sort $(shell find src -name '*.c'))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_SRC  := $(sort $(wildcard tools/cnn/*.c))
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_COMMON := $(sort $(wildcard tests/common/*.c))
EX_SRC   := $(sort $(wildcard examples/*.c))
EX_BIN   := $(EX_SRC:examples/%.c=$(BUILD)/examples/%)

.PHONY: all deps data demo check test clean format bench
all: $(BUILD)/cnn $(TEST_BIN) $(EX_BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/src/kernels/%.o: ALL_CFLAGS += $(KERNEL_CFLAGS)

$(BUILD)/libcnn.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/cnn: $(CLI_OBJ) $(BUILD)/libcnn.a
	$(CC) -o $@ $(CLI_OBJ) $(BUILD)/libcnn.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(TEST_COMMON) $(BUILD)/libcnn.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Isrc -o $@ $< $(TEST_COMMON) $(BUILD)/libcnn.a $(LDLIBS)

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

check: deps
	@bash scripts/fetch-data.sh
	@$(MAKE) --no-print-directory all
	@bash tests/run.sh $(BUILD)

# libcnn against PyTorch side by side (not part of check; ~15 minutes). Writes
# docs/benchmarks.md. BENCH_ARGS is passed on, e.g. BENCH_ARGS="--quick --skip-to99".
BENCH_ARGS ?=
$(BUILD)/bench/bench: bench/bench.c $(BUILD)/libcnn.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libcnn.a $(LDLIBS)

bench: deps
	@bash scripts/fetch-data.sh
	@bash bench/install-torch.sh
	@$(MAKE) --no-print-directory $(BUILD)/bench/bench
	/usr/bin/python3 bench/bench.py --cnn $(BUILD)/bench/bench --out docs/benchmarks.md $(BENCH_ARGS)

clean:
	rm -rf $(BUILD)

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(TEST_SRC) $(EX_SRC) include/cnn.h $(shell find src -name '*.h')

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
