# samples/: example workloads (samples/*/build.mk).
include $(wildcard samples/*/build.mk)
