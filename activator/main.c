// SPDX-License-Identifier: MIT
/*
 * activator - records a trace: the kernel-event stream and the reference
 * stream of everything the traced tasks do.
 *
 *   activator [OPTIONS] KTRACE RTRACE [-- COMMAND ARGS]     kernel device
 *   activator --valgrind [OPTIONS] KTRACE RTRACE -- COMMAND  Valgrind tool
 *
 * This file only chooses the mode; each mode parses its own options
 * (kernel.c, valgrind.c).  See activator/README.md.
 */
#include <string.h>

#include "activator.h"

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--valgrind"))
		return activator_valgrind_main(argc - 1, argv + 1);
	return activator_kernel_main(argc, argv);
}
