# tests/formats: libkvt, kvt-as and kvt-dump (owned by formats/).
#
#   make check-formats    unit tests (cmocka), kvt-as/kvt-dump on bad input
#                         and bad usage, every scenario round trip for every
#                         codec
#
# The tests use the sanitizer binaries ($(SANBIN)).
FORMATS_SAN_TOOLS := $(SANBIN)/kvt-as $(SANBIN)/kvt-dump
FORMATS_TEST_DIR := $(BUILDROOT)/san/tests/formats

$(BUILD)/tests/formats/test-kvt: $(OBJ)/tests/formats/test-kvt.o $(LIBKVT_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(KVT_LIBS) -lcmocka

.PHONY: check-formats check-formats-build
check-formats-build:
	@$(MAKE) --no-print-directory SAN=1 $(FORMATS_SAN_TOOLS) \
	  $(FORMATS_TEST_DIR)/test-kvt

check-formats: check-formats-build
	@st=0; \
	tests/lib/run-test build/test-results formats/unit \
	  $(FORMATS_TEST_DIR)/test-kvt || st=1; \
	tests/lib/run-test build/test-results formats/cli \
	  tests/formats/cli.sh $(SANBIN) tests/data || st=1; \
	tests/lib/each-scenario build/test-results formats/scenario \
	  $(SCENARIO_DIRS) -- tests/formats/scenario-roundtrip.sh $(SANBIN) \
	  || st=1; \
	exit $$st

CHECKS += check-formats
