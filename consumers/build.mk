# consumers/: the consumer interface (include/kvt/consumer.h, installed by
# formats/build.mk) and the built-in consumers, linked into run-merger.
CONSUMER_SRCS := consumers/common.c consumers/basic.c consumers/perfile.c \
	consumers/summary.c
CONSUMER_OBJS := $(CONSUMER_SRCS:%.c=$(OBJ)/%.o)
