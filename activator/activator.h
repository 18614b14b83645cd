/* SPDX-License-Identifier: MIT */
/*
 * activator.h - the two ways the activator records a trace.
 *
 * main.c parses nothing but the mode: "--valgrind" selects the Valgrind
 * collector (valgrind.c and vgtool/), anything else the kernel device
 * (kernel.c).  Each mode owns its own option parsing and usage text.
 */
#ifndef KVT_ACTIVATOR_H
#define KVT_ACTIVATOR_H

/* Exit statuses shared by both modes (documented in activator/README.md). */
#define ACT_EXIT_OK		0
#define ACT_EXIT_USAGE		2	/* bad command line */
#define ACT_EXIT_NODEV		3	/* no kvmtrace device / no valgrind */
#define ACT_EXIT_IO		4	/* cannot write a trace file, disk full */
#define ACT_EXIT_INTERNAL	5

/* ./activator [OPTIONS] KTRACE RTRACE [-- COMMAND ARGS] (kernel.c) */
int activator_kernel_main(int argc, char **argv);

/* ./activator --valgrind [--pool N] KTRACE RTRACE -- COMMAND (valgrind.c) */
int activator_valgrind_main(int argc, char **argv);

#endif /* KVT_ACTIVATOR_H */
