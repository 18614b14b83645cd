# bench/: each area keeps its benchmark in bench/AREA/ (bench/AREA/build.mk
# appends its phony targets to BENCHES).
include $(wildcard bench/*/build.mk)
