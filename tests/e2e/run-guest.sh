# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Sourced by e2e tests that boot one guest and wait for its verdict (after
# qemu.sh): the watch loop of vhost-user-e2e.sh as a function.
#
# e2e_run_guest SERIAL_LOG QEMU_LOG SECONDS [HOOK]
#   runs QEMU_CMD, watches it (vback_qemu_watch) and the daemon whose pid
#   is in E2E_DAEMON_PID, and calls the function HOOK (if given) about
#   five times a second while the guest runs (for the host's side of a
#   test: resize, control commands). Returns 0 once QEMU exited with the
#   guest's "VBACK: DONE failed=0" on SERIAL_LOG; otherwise prints the
#   serial and QEMU's last words, sets E2E_WHY and returns 1. A guest that
#   stops, a daemon that dies, or SECONDS passing fail it at once.
e2e_run_guest() {
	local serial=$1 qlog=$2 secs=$3 hook=${4:-} rc deadline
	deadline=$(($(date +%s) + secs))
	E2E_WHY=
	: >"$serial"
	vback_qemu_start "$qlog" "$serial"
	while :; do
		rc=0
		vback_qemu_watch || rc=$?
		[ $rc = 0 ] || break
		[ -n "$hook" ] && "$hook"
		if ! kill -0 "$E2E_DAEMON_PID" 2>/dev/null; then
			E2E_WHY="vback-disk died while the guest ran"
			break
		fi
		if [ "$(date +%s)" -gt "$deadline" ]; then
			E2E_WHY="the guest did not finish within $secs s"
			break
		fi
		sleep 0.2
	done
	[ $rc = 2 ] && E2E_WHY=$QEMU_WHY
	if [ -z "$E2E_WHY" ]; then
		# shellcheck disable=SC2034 # qemu.sh's
		QEMU_PID= # exited and reaped
		grep -aqs 'VBACK: DONE failed=0' "$serial" && return 0
		if grep -aqs 'VBACK: DONE' "$serial"; then
			E2E_WHY="the guest reported a failure"
		else
			E2E_WHY="QEMU exited (status $QEMU_RC) before the guest finished"
		fi
	fi
	vback_qemu_stop
	echo "--- serial"
	cat "$serial" 2>/dev/null
	echo "--- qemu (last lines)"
	vback_qemu_tail "$qlog"
	return 1
}
