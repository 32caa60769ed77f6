#!/bin/bash
# SPDX-License-Identifier: MIT
# The control socket of the real vback-disk binary, and its client
# (vback-disk ctl), without a guest: the socket's mode, every command,
# malformed and oversized requests, a client that never ends its line,
# many clients at once, and a data path that does not notice any of it
# (a second daemon instance is not needed: the disks' sockets keep
# answering vhost-user requests throughout). Fast (suite 'unit').
#
# Usage: control.sh PATH/TO/vback-disk [PATH/TO/bench_vhu_client]
# ok and bad always succeed: "A && ok || bad" is an if-then-else here.
# shellcheck disable=SC2015,SC2181
set -uo pipefail
bin=$(realpath "$1")
client=${2:+$(realpath "$2")}
work=$(mktemp -d "${TMPDIR:-/tmp}/vback-control.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
# A cross build's tests run through meson's emulator (qemu-user): so must
# the binary these checks start.
if [ -n "${MESON_EXE_WRAPPER:-}" ]; then
	printf '#!/bin/sh\nexec %s %q "$@"\n' "$MESON_EXE_WRAPPER" "$bin" >"$work/vback-disk"
	chmod +x "$work/vback-disk"
	bin=$work/vback-disk
fi
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
ctl() { "$bin" ctl "$work/ctl.sock" "$@"; }

truncate -s 4M "$work/a.img" "$work/b.img" "$work/c.img"
"$bin" --vhost-user "$work/a.sock" --image "$work/a.img" \
	--disk "socket=$work/b.sock,image=$work/b.img,name=bee,ro" \
	--control "$work/ctl.sock" --engine posix 2>"$work/log" &
pid=$!
for _ in $(seq 50); do [ -S "$work/ctl.sock" ] && break; sleep 0.1; done
[ -S "$work/ctl.sock" ] || { cat "$work/log"; bad "no control socket"; exit 1; }

# ---- the socket: 0600, the daemon's user ------------------------------------
mode=$(stat -c '%a %u' "$work/ctl.sock")
[ "$mode" = "600 $(id -u)" ] && ok "control socket mode 600, our uid" ||
	bad "control socket: mode and uid '$mode'"

# ---- the commands, through the client ----------------------------------------
out=$(ctl list) && grep -q '"name": "disk0"' <<<"$out" && grep -q '"name": "bee"' <<<"$out" &&
	ok "list: both disks" || bad "list: $out"
out=$(ctl list bee) && grep -q '"read_only": true' <<<"$out" && ! grep -q disk0 <<<"$out" &&
	ok "list NAME" || bad "list bee: $out"
out=$(ctl --raw list nope 2>&1)
[ $? = 1 ] && grep -q '"code":-2,' <<<"$out" && ok "list of no such disk: -2" || bad "list nope: $out"
out=$(ctl add "socket=$work/c.sock" "image=$work/c.img" name=sea queues=2 2>&1)
[ $? = 0 ] && [ -S "$work/c.sock" ] && ok "add: socket created" || bad "add: $out"
out=$(ctl add "socket=$work/d.sock" "image=$work/none.img" 2>&1)
[ $? = 1 ] && [ ! -e "$work/d.sock" ] && grep -q 'cannot open' <<<"$out" &&
	ok "add of a missing image: refused, nothing left" || bad "add missing: $out"
truncate -s 8M "$work/c.img"
out=$(ctl resize sea) && grep -q '"size": 8388608' <<<"$out" && grep -q '"changed": true' <<<"$out" &&
	ok "resize" || bad "resize: $out"
out=$(ctl log-level level=debug) && grep -q '"was": "info"' <<<"$out" &&
	ok "log-level" || bad "log-level: $out"
out=$(ctl remove sea) && grep -q '"drained": true' <<<"$out" && [ ! -e "$work/c.sock" ] &&
	ok "remove: socket gone" || bad "remove: $out"
for t in 0 -1 abc 86401 5x ''; do
	out=$(ctl --timeout "$t" list 2>&1)
	[ $? = 2 ] && grep -q 'timeout wants 1..86400' <<<"$out" ||
		bad "ctl --timeout '$t': $out"
done
ok "ctl --timeout: bad values are usage errors"
out=$(ctl frobnicate 2>&1)
[ $? = 1 ] && grep -q 'unknown command' <<<"$out" && ok "unknown command" || bad "frobnicate: $out"
out=$(ctl help) && grep -q '"cmd": "remove"' <<<"$out" && ok "help" || bad "help: $out"

# ---- adding a network disk whose server never answers ------------------------
# A TCP port that accepts connections (the kernel's backlog) and never
# says a word: connecting waits for the NBD greeting until the IO timeout
# (30 s). Meanwhile the daemon must serve everything else; the reply, an
# error, comes at the end of this script.
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True); time.sleep(90)' >"$work/hung.port" &
hung=$!
for _ in $(seq 50); do [ -s "$work/hung.port" ] && break; sleep 0.1; done
# Named disk2: the name the next add without a name would get (two disks
# at start: indexes 0 and 1), which it must not take meanwhile.
# The client's own wait (for add, longer than any --net-timeout) must not
# end before the daemon's answer.
ctl add "socket=$work/e.sock" "image=nbd://127.0.0.1:$(cat "$work/hung.port")/x" \
	name=disk2 >"$work/hung.out" 2>&1 &
hung_add=$!
sleep 0.5
# A build without libnbd refuses at once (-95): nothing to wait for.
nbd=true
if ! kill -0 "$hung_add" 2>/dev/null && grep -q 'code -95' "$work/hung.out"; then
	nbd=false
	echo "skip: no NBD engine in this build"
fi
out=$(ctl --timeout 3 list 2>&1) && grep -q '"name": "bee"' <<<"$out" &&
	ok "list answered while a network disk is being added" || bad "list during add: $out"
if $nbd; then
	out=$(ctl --timeout 3 --raw list disk2 2>&1) && grep -q '"disks":\[\]' <<<"$out" &&
		grep -q "\"connecting\":\[{\"name\":\"disk2\",\"socket\":\"$work/e.sock\",\"image\":\"nbd://127.0.0.1:$(cat "$work/hung.port")/x\"}\]" <<<"$out" &&
		ok "list shows the disk connecting" || bad "list hung during its add: $out"
fi
if $nbd; then
	out=$(ctl --raw add "socket=$work/e.sock" "image=$work/c.img" 2>&1)
	[ $? = 1 ] && grep -q 'being added' <<<"$out" &&
		ok "add of a socket being added: refused" || bad "second add of e.sock: $out"
	out=$(ctl add "socket=$work/f.sock" "image=$work/c.img" 2>&1) &&
		grep -q '"name": "disk3"' <<<"$out" &&
		ok "add without a name skips the name of a disk being added" ||
		bad "unnamed add while disk2 connects: $out"
	ctl remove disk3 >/dev/null || bad "remove disk3"
fi

# ---- hostile clients, and the data path meanwhile ----------------------------
python3 - "$work" <<'PY' || fails=$((fails + 1))
import os, socket, struct, sys, time
work = sys.argv[1]
ctl = os.path.join(work, 'ctl.sock')
fails = 0

def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(ctl)
    s.settimeout(5)
    return s

def reply(s):
    buf = b''
    while not buf.endswith(b'\n'):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf.decode('utf-8', 'replace')

def closed(s, secs):
    s.settimeout(secs)
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False

def check(what, cond, detail=''):
    global fails
    if cond:
        print('ok:', what)
    else:
        print('FAIL:', what, detail)
        fails += 1

def vhost_user_alive(name):
    # GET_FEATURES on a disk's socket: the data path answers.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(os.path.join(work, name))
    s.settimeout(5)
    s.sendall(struct.pack('<III', 1, 1, 0))
    hdr = s.recv(12)
    req, flags, size = struct.unpack('<III', hdr)
    body = s.recv(size)
    s.close()
    return req == 1 and size == 8 and len(body) == 8

# Malformed lines: each gets an error reply, the connection goes on.
s = conn()
for line, code in [(b'hello', -32700), (b'{"cmd":', -32700), (b'[]', -32600),
                   (b'{"cmd":"list","x":1}', -32600), (b'{"cmd":"nope"}', -32601),
                   (b'{"cmd":"list","args":{"name":5}}', -32602),
                   (b'\xff\xfe\x00\x01', -32700), (b'{"id":"\\ud800","cmd":"list"}', -32700)]:
    s.sendall(line + b'\n')
    r = reply(s)
    check('malformed %r: error %d' % (line[:20], code), '"code":%d,' % code in r, r)
s.sendall(b'{"id":42,"cmd":"list"}\n')
check('still served after garbage', reply(s).startswith('{"id":42,"ok":'))
s.close()

# An oversized line: an error reply, then the client is dropped.
s = conn()
try:
    s.sendall(b'{"cmd":"list","pad":"' + b'x' * 70000)
except OSError:
    pass
r = reply(s)
check('oversized line: error reply', '"code":-32600,' in r and 'longer than 65536' in r, r)
check('oversized line: dropped', closed(s, 5))
s.close()

# Many clients at once, all answered; one that never ends its line is
# dropped after the timeout (10 s) while the others are served.
slow = conn()
slow.sendall(b'{"cmd":"li')
many = [conn() for _ in range(12)]
for i, c in enumerate(many):
    c.sendall(b'{"id":%d,"cmd":"list"}\n' % i)
check('12 clients answered', all(reply(c).startswith('{"id":%d,"ok":' % i)
                                  for i, c in enumerate(many)))
for c in many:
    c.close()
check('data path served while clients misbehave', vhost_user_alive('a.sock'))
t0 = time.time()
check('a client that never ends its line is dropped', closed(slow, 15))
check('... after about 10 s', 8 <= time.time() - t0 <= 14, time.time() - t0)
slow.close()
check('data path still served', vhost_user_alive('a.sock') and vhost_user_alive('b.sock'))
sys.exit(1 if fails else 0)
PY

# ---- the network disk: refused once the connect gives up ---------------------
wait "$hung_add"
rc=$?
out=$(cat "$work/hung.out")
[ $rc = 1 ] && grep -q 'cannot open nbd://' <<<"$out" && [ ! -e "$work/e.sock" ] &&
	{ $nbd || grep -q 'code -95' <<<"$out"; } && { ! $nbd || grep -q 'code -110' <<<"$out"; } &&
	ok "add of a server that never answers: refused, nothing left" ||
	bad "add of a hung server (exit $rc): $out"
kill "$hung" 2>/dev/null
out=$(ctl --raw list) && ! grep -q '"name":"disk2"' <<<"$out" && grep -q '"connecting":\[\]' <<<"$out" &&
	ok "no disk named disk2, none connecting" || bad "list after the hung add: $out"

# ---- a network disk that answers: connected once, on the add's thread --------
# The add's thread connects, the main loop takes that connection over: the
# server sees one connection (multi-conn off, so the engine wants one).
if $nbd && command -v nbdkit >/dev/null; then
	nbdkit -f --exit-with-parent -U "$work/nbd.sock" --filter=multi-conn --filter=log \
		memory 4M logfile="$work/nbd.log" multi-conn-mode=disable &
	nbdkit_pid=$!
	for _ in $(seq 50); do [ -S "$work/nbd.sock" ] && break; sleep 0.1; done
	out=$(ctl add "socket=$work/n.sock" "image=nbd+unix:///?socket=$work/nbd.sock" name=net 2>&1)
	[ $? = 0 ] && [ -S "$work/n.sock" ] && ok "add of a network disk" || bad "add net: $out"
	conns=$(grep -c ' Connect ' "$work/nbd.log")
	[ "$conns" = 1 ] && ok "the server saw one connection" ||
		bad "the server saw $conns connections for one add"
	out=$(ctl remove net) && grep -q '"drained": true' <<<"$out" &&
		grep -q '"flushed": true' <<<"$out" && [ ! -e "$work/n.sock" ] &&
		ok "remove of the network disk" || bad "remove net: $out"
	# A remove whose final flush fails says so (the disk goes anyway): a
	# server whose every flush fails with EIO.
	# shellcheck disable=SC2016 # the plugin's shell expands them
	nbdkit -f --exit-with-parent -U "$work/nbdf.sock" eval \
		get_size='echo 4194304' can_write='exit 0' can_flush='exit 0' \
		pread='dd if=/dev/zero iflag=count_bytes count=$3 2>/dev/null' \
		pwrite='cat >/dev/null' flush='echo "EIO no flush" >&2; exit 1' &
	nbdkitf_pid=$!
	for _ in $(seq 50); do [ -S "$work/nbdf.sock" ] && break; sleep 0.1; done
	out=$(ctl add "socket=$work/f.sock" "image=nbd+unix:///?socket=$work/nbdf.sock" name=netf 2>&1) ||
		bad "add netf: $out"
	out=$(ctl remove netf) && grep -q '"drained": true' <<<"$out" &&
		grep -q '"flushed": false' <<<"$out" && [ ! -e "$work/f.sock" ] &&
		ok "remove with a failing flush: flushed false" || bad "remove netf: $out"
	# A disk whose image never answers a read (an NBD server whose pread
	# sleeps), with a read in flight: its remove replies at the drain's
	# time limit (10 s), and its IO, which closing would wait for, holds
	# neither the reply nor the loop (the other disks, the control socket).
	if [ -n "$client" ]; then
		# shellcheck disable=SC2016
		nbdkit -f --exit-with-parent -U "$work/nbds.sock" eval \
			get_size='echo 4194304' pread='sleep 20' &
		nbdkits_pid=$!
		for _ in $(seq 50); do [ -S "$work/nbds.sock" ] && break; sleep 0.1; done
		out=$(ctl add "socket=$work/s.sock" "image=nbd+unix:///?socket=$work/nbds.sock" name=slow 2>&1) ||
			bad "add slow: $out"
		"$client" "$work/s.sock" randread 4096 4096 1 60 4 >"$work/client.out" 2>&1 &
		client_pid=$!
		for _ in $(seq 100); do
			ctl --raw list slow 2>/dev/null | grep -q '"inflight":1' && break
			sleep 0.1
		done
		t0=$SECONDS
		out=$(ctl --timeout 40 remove slow 2>&1)
		t=$((SECONDS - t0))
		grep -q '"drained": false' <<<"$out" && [ "$t" -le 14 ] &&
			ok "remove of a disk whose IO never ends: answered in $t s" ||
			bad "remove slow ($t s): $out"
		out=$(ctl --timeout 3 --raw list 2>&1) && grep -q '"name":"bee"' <<<"$out" &&
			! grep -q '"name":"slow"' <<<"$out" &&
			ok "list served while the removed disk's IO is stuck" || bad "list after remove slow: $out"
		grep -q 'slow: 1 requests never came back' "$work/log" &&
			ok "the stuck IO is said" || bad "no word of slow's stuck IO"
		# (nbdkit would wait for its sleeping read: KILL.)
		kill -KILL "$client_pid" "$nbdkits_pid" 2>/dev/null
		wait "$client_pid" "$nbdkits_pid" 2>/dev/null
	fi
	# ... and one more, left for the stop to close.
	out=$(ctl add "socket=$work/f.sock" "image=nbd+unix:///?socket=$work/nbdf.sock" name=netf 2>&1) ||
		bad "add netf again: $out"
	kill "$nbdkit_pid" 2>/dev/null
	wait "$nbdkit_pid" 2>/dev/null
else
	echo "skip: no NBD engine or no nbdkit"
fi

# ---- stop: the control socket goes with the daemon ---------------------------
kill -TERM "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
wait "$pid"
rc=$?
pid=
[ $rc = 0 ] && ok "SIGTERM: exit 0" || bad "exit $rc after SIGTERM"
if [ -n "${nbdkitf_pid:-}" ]; then
	grep -q 'stopped: 1 disk closed without all its requests or its flush' "$work/log" &&
		ok "the stop says a disk was not flushed" ||
		bad "stop with a failing flush: $(grep 'stopped' "$work/log")"
	kill "$nbdkitf_pid" 2>/dev/null
	wait "$nbdkitf_pid" 2>/dev/null
fi
for f in ctl.sock a.sock b.sock; do
	[ -e "$work/$f" ] && bad "$f left behind"
done
# ---- a stop while a network disk connects: a second signal ends the wait ----
if $nbd; then
	python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True); time.sleep(30)' >"$work/hung2.port" &
	hung2=$!
	for _ in $(seq 50); do [ -s "$work/hung2.port" ] && break; sleep 0.1; done
	"$bin" --transport vhost-user --control "$work/ctl2.sock" --net-timeout 60 \
		2>"$work/log2" &
	pid2=$!
	for _ in $(seq 50); do [ -S "$work/ctl2.sock" ] && break; sleep 0.1; done
	"$bin" ctl "$work/ctl2.sock" add "socket=$work/h.sock" \
		"image=nbd://127.0.0.1:$(cat "$work/hung2.port")/x" >/dev/null 2>&1 &
	sleep 0.5
	kill -TERM "$pid2"
	sleep 0.5
	kill -0 "$pid2" 2>/dev/null && grep -q 'waiting for it to end (at most 60 s' "$work/log2" &&
		ok "a stop waits for a connect under way, and says so" ||
		bad "stop during a connect: $(cat "$work/log2")"
	t0=$SECONDS
	kill -TERM "$pid2"
	for _ in $(seq 50); do kill -0 "$pid2" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid2" 2>/dev/null; then
		bad "a second signal did not end the wait for a connect"
		kill -9 "$pid2"
	else
		ok "a second signal ends the wait for a connect ($((SECONDS - t0)) s)"
	fi
	wait "$pid2" 2>/dev/null
	grep -q 'second signal: not waiting for connects' "$work/log2" ||
		bad "no word of the second signal: $(cat "$work/log2")"
	kill "$hung2" 2>/dev/null
	wait "$hung2" 2>/dev/null
fi

# The errors logged: the image that was not there, the server that hung.
unexpected=$(grep 'error:' "$work/log" | grep -v 'none.img' | grep -v 'nbd://127.0.0.1' |
	grep -v 'netf: flush failed' | grep -v 'slow: destroyed with IO in flight')
[ -z "$unexpected" ] || { echo "$unexpected"; bad "unexpected errors in the log"; }
[ $fails = 0 ] || { echo "--- daemon log"; tail -n 30 "$work/log"; }
[ $fails = 0 ]
