# consumers/: the consumer interface (include/kvt/consumer.h, installed by
# formats/build.mk) and the built-in consumers (consumers/*.c), linked into
# run-merger by merger/build.mk.
