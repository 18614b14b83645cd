# tests/formats: libkvt, kvt-as and kvt-dump (owned by formats/).
#
#   make check-formats    every scenario round trip, for every codec
#
# The tests use the sanitizer binaries ($(SANBIN)).
FORMATS_SAN_TOOLS := $(SANBIN)/kvt-as $(SANBIN)/kvt-dump

.PHONY: check-formats check-formats-build
check-formats-build:
	@$(MAKE) --no-print-directory SAN=1 $(FORMATS_SAN_TOOLS)

check-formats: check-formats-build
	@st=0; n=0; \
	for d in $(SCENARIO_DIRS); do \
	  for s in $$d/*.kvt; do \
	    [ -e "$$s" ] || continue; n=$$((n + 1)); \
	    tests/lib/run-test build/test-results \
	      formats/scenario/$$(basename $$s .kvt) \
	      tests/formats/scenario-roundtrip.sh $(SANBIN) $$s || st=1; \
	  done; \
	done; \
	[ $$n -gt 0 ] || { echo "check-formats: no scenarios found"; st=1; }; \
	exit $$st

CHECKS += check-formats
