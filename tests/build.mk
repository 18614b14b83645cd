# tests/: each area keeps its tests and their make rules in tests/AREA/
# (tests/AREA/build.mk appends its phony check targets to CHECKS).
include $(wildcard tests/*/build.mk)
