# tests/gen: kvt-gen, the synthetic trace generator (make check-gen).
#   determinism  same seed: same dump and files; another seed: another dump
#   shape        the event mix, write fraction, layout, task life cycles
#   roundtrip    kvt-dump of the output, through kvt-as, dumps the same
#   codecs       every codec and thread count gives the --text records
#   merge        run-merger accepts a trace (one implicit task, few
#                unmapped references, copy-on-write)
#   pid-reuse    --pid-max wraps pids and the trace stays valid
#   usage        bad options and outputs: exit statuses and messages
#   readbench    the formats benchmark's reader counts every record
# The tests use the sanitizer binaries ($(SANBIN)).
GEN_TESTS := determinism shape roundtrip codecs merge pid-reuse usage \
	readbench

.PHONY: check-gen check-gen-build
check-gen-build:
	@$(MAKE) --no-print-directory SAN=1 $(SANBIN)/kvt-gen \
	  $(SANBIN)/kvt-dump $(SANBIN)/kvt-as $(SANBIN)/run-merger \
	  $(BUILDROOT)/san/bench/formats/readbench >/dev/null

check-gen: check-gen-build
	@st=0; for t in $(GEN_TESTS); do \
	  tests/lib/run-test build/test-results gen/$$t \
	    bash tests/gen/gen-test.sh $(SANBIN) $$t \
	      $(BUILDROOT)/san/bench/formats/readbench || st=1; \
	done; exit $$st

CHECKS += check-gen
