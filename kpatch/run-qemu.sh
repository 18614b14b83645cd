#!/usr/bin/env bash
# run-qemu.sh BZIMAGE INITRAMFS DISK MODE [TIMEOUT [APPEND...]]
# Boots the test-bed kernel under QEMU (TCG: /dev/kvm on these machines
# does not run ordinary guests) with DISK as a raw virtio-blk disk, the
# serial console on standard output, and kvt.mode=MODE on the command line
# (see kpatch/guest/init).  The run is bounded by TIMEOUT seconds (default
# 600); exit status: QEMU's, 124 on timeout.  KVT_QEMU_EXTRA adds QEMU
# options (the benchmark uses -icount: guest time then counts instructions
# and does not depend on the host's load; KVT_TSC_KHZ=none then lets the
# guest calibrate its TSC against that virtual time).
set -euo pipefail
kernel=$1 initrd=$2 disk=$3 mode=$4
limit=${5:-600}
shift $(( $# < 5 ? $# : 5 ))
# The guest's TSC runs at the host's: tell the guest its rate, or its clock
# is off (calibration under TCG is unreliable).
khz=${KVT_TSC_KHZ:-}
if [ "$khz" = none ]; then
	khz=
elif [ -z "$khz" ]; then
	mhz=$(dmesg 2>/dev/null | sed -n 's/.*tsc: Detected \([0-9.]*\) MHz.*/\1/p' | head -n1)
	[ -n "$mhz" ] || mhz=$(sed -n 's/^cpu MHz[^:]*: *\([0-9.]*\).*/\1/p' /proc/cpuinfo | head -n1)
	[ -n "$mhz" ] && khz=$(awk -v m="$mhz" 'BEGIN { printf "%d", m * 1000 }')
fi
append="console=ttyS0 panic=-1 kvt.mode=$mode $*"
[ -n "$khz" ] && append="$append tsc_early_khz=$khz"
# Under TCG the timer interrupts lag: the clocksource watchdog would then
# find the TSC "unstable" and fall back to jiffies (4 ms timestamps).
append="$append tsc=reliable"
exec timeout --foreground -k 5 "$limit" \
	qemu-system-x86_64 -accel tcg -cpu max -smp "${KVT_QEMU_SMP:-2}" \
	-m "${KVT_QEMU_MEM:-1024}" -kernel "$kernel" -initrd "$initrd" \
	-drive "file=$disk,format=raw,if=virtio" \
	-append "$append" -display none -serial stdio -monitor none \
	-no-reboot ${KVT_QEMU_EXTRA:-}
