#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the hand-made seed inputs of tests/fuzz/corpus/<target>/.

Each seed is a short, well-formed scenario in the byte format the target
reads (see the fz_* readers in fuzz_common.c and each target's step()):
a probe, ring set-up, a few requests, kicks, completions, resets. The
fuzzer starts from these and mutates them; they also run as regression
inputs in every build. Run from anywhere: python3 make_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def u8(v):
    return struct.pack('<B', v & 0xff)


def u16(v):
    return struct.pack('<H', v & 0xffff)


def u32(v):
    return struct.pack('<I', v & 0xffffffff)


def u64(v):
    return struct.pack('<Q', v & 0xffffffffffffffff)


def addr(region, off):
    """fz_addr(): region index and byte offset in it."""
    return u32((off << 6) | (region << 4))


def raw_addr(a):
    return u32(0xf) + u64(a)


def mem(regions, unmap=False, cap=None):
    """fz_mem_init(): regions as (size_in_512B_units, read_only, gap)."""
    layout = (len(regions) - 1) | (4 if unmap else 0)
    if cap is not None:
        layout |= 8 | ((cap & 7) << 4)
    out = u8(layout)
    for units, ro, gap in regions:
        out += u8((units - 1) | (0x20 if ro else 0) | (0x40 if gap else 0))
    return out


def ring(size_log2, desc, avail, used):
    """fz_drvq_pick(): size 1 << size_log2 (<= 16), aligned addresses."""
    return u8(size_log2) + desc + avail + used


def length(n):
    """fz_len(): small byte counts as is, multiples of 512 up to 31."""
    if n < 0x80:
        return u8(n)
    if n % 512 == 0 and n // 512 < 32:
        return u8(0x80 | (n // 512))
    return u8(0xff) + u32(n)


F_INDIRECT = 1 << 28
F_EVENT_IDX = 1 << 29
F_VERSION_1 = 1 << 32
# "want" with bit 0 clear: the harness masks it with the offer.
ALL = 0xfffffffffffffffe


def write(target, name, data):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


# ---- virtqueue ----
def vq_chain(head, segs, nread, table=None):
    """Op 13: a chain of (addr, len) segments, the first nread readable."""
    out = u8(13) + u8(head) + u8(len(segs) - 1) + u8(nread)
    out += u8(3) + table if table else u8(0)
    for a, n in segs:
        out += a + length(n)
    return out


def vq_seeds():
    one = mem([(32, False, False)])
    setup = ring(3, addr(0, 0), addr(0, 0x100), addr(0, 0x200)) + u8(15) + \
        u64(F_INDIRECT | F_EVENT_IDX)
    kick_all = u8(5)
    seed = one + setup
    seed += vq_chain(0, [(addr(0, 0x1000), 16), (addr(0, 0x2000), 512),
                         (addr(0, 0x3000), 1)], 1)
    seed += kick_all + u8(0)  # pop it and complete at once
    seed += vq_chain(3, [(addr(0, 0x1100), 16), (addr(0, 0x2200), 100)], 1,
                     table=addr(0, 0x800))
    seed += kick_all + u8(1)  # hold it
    seed += u8(7) + u8(0) + u32(100)  # complete the held one
    seed += u8(8)  # queue reset
    seed += u8(0) + ring(2, addr(0, 0x400), addr(0, 0x500), addr(0, 0x600)) \
        + u8(3) + u64(F_INDIRECT)
    seed += vq_chain(1, [(addr(0, 0x1000), 8)] * 5, 2)
    seed += kick_all + u8(1) + u8(11) + u8(1)
    write('virtqueue', 'seed-basic', seed)

    # Two adjacent regions: the ring and a buffer cross the boundary.
    two = mem([(1, False, False), (2, False, False)])
    setup = ring(4, addr(0, 0x100), addr(0, 0x1e0), addr(1, 0x40)) + \
        u8(2) + u64(0)
    seed = two + setup
    seed += vq_chain(2, [(addr(0, 0x1f0), 64), (addr(1, 0x300), 200)], 1)
    seed += kick_all + u8(0)
    write('virtqueue', 'seed-straddle', seed)

    # A read-only region, a hole, a grant-like view, tiny map pieces.
    ro = mem([(8, False, True), (4, True, False)], unmap=True, cap=2)
    setup = ring(3, addr(0, 0), addr(0, 0x100), addr(0, 0x200)) + u8(15) + \
        u64(F_EVENT_IDX)
    seed = ro + setup
    seed += vq_chain(0, [(addr(1, 0), 16), (addr(1, 0x100), 16)], 1)
    seed += vq_chain(4, [(addr(0, 0x1000 - 8), 32)], 1)
    seed += kick_all + u8(1) + u8(1) + u8(8) + u8(1)
    write('virtqueue', 'seed-readonly-hole', seed)


# ---- blk ----
BLK_T = {'in': 0, 'out': 1, 'flush': 2, 'get_id': 3, 'lifetime': 4,
         'discard': 5, 'write_zeroes': 6, 'secure_erase': 7}


def blk_request(q, kind, head, hdr, sector, data, status, indirect=None):
    """Op 11: shape = type index | ndata << 3."""
    shape = BLK_T[kind] | (len(data) << 3)
    out = u8(11) + u8(q) + u8(shape) + hdr + u8(head) + u8(0) + \
        u16(sector) + u8(0) + u8(0)
    for a, n in data:
        # k: bit 7 = an explicit length follows, else 512 * (1 + k & 3)
        out += u8(0x80) + a + length(n)
        if kind in ('discard', 'write_zeroes', 'secure_erase'):
            out += u16(sector) + u8(0) + u8(1)  # flags, sectors
    out += status + u8(0) + u8(0)
    out += u8(7) + indirect if indirect else u8(0)
    return out


def blk_seeds():
    m = mem([(32, False, False)])
    # seed-held: writethrough (volatile cache, bit 7), IO held (op 0x8a
    # toggles holding) across the queue reset, released after it.
    for name, cfg in (('seed-rw', 0x10), ('seed-readonly', 0x01 | 0x08),
                      ('seed-held', 0x80)):
        held = name == 'seed-held'
        seed = m + u8(cfg) + u8(7) + u8(4) + u8(4)
        # negotiate: everything offered, both rings
        seed += u64(ALL)
        seed += ring(3, addr(0, 0), addr(0, 0x100), addr(0, 0x200))
        seed += ring(3, addr(0, 0x400), addr(0, 0x500), addr(0, 0x600))
        if held:
            seed += u8(0x8a)
        seed += blk_request(0, 'out', 0, addr(0, 0x1000), 1,
                            [(addr(0, 0x2000), 512)], addr(0, 0x3000))
        seed += u8(4) + u8(6)  # kick q0, run the loop
        seed += blk_request(0, 'in', 1, addr(0, 0x1010), 1,
                            [(addr(0, 0x2400), 1024)], addr(0, 0x3001))
        seed += blk_request(1, 'get_id', 0, addr(0, 0x1020), 0,
                            [(addr(0, 0x2800), 20)], addr(0, 0x3002))
        seed += u8(4) + u8(0x14) + u8(6)
        seed += blk_request(0, 'flush', 2, addr(0, 0x1030), 0, [],
                            addr(0, 0x3003))
        seed += blk_request(0, 'discard', 3, addr(0, 0x1040), 0,
                            [(addr(0, 0x2c00), 16)], addr(0, 0x3004))
        seed += blk_request(0, 'write_zeroes', 4, addr(0, 0x1050), 0,
                            [(addr(0, 0x2d00), 16)], addr(0, 0x3005),
                            indirect=addr(0, 0x3800))
        seed += u8(4) + u8(7) + u8(6)  # kick, reset q0 with IO in flight
        if held:
            seed += u8(0x8a)  # let the orphans complete
        seed += u8(8) + u8(1) + u8(9) + u8(64) + u8(6)
        write('blk', name, seed)


# ---- mmio ----
def mmio_seeds():
    m = mem([(32, False, False)])
    # seed-held: the disk holds IO (bit 5); Status = 0 with requests in
    # flight reads back non-zero until op 0x89 releases them.
    for name, cfg in (('seed-modern', 0x02), ('seed-legacy', 0x10 | 0x08),
                      ('seed-held', 0x20)):
        seed = m + u8(cfg) + u8(4) + u8(3)
        seed += u8(3) + u64(ALL)  # probe
        if cfg & 0x10:  # legacy: page-aligned block from the PFN
            seed += u8(4) + u8(3) + addr(0, 0x1000) + addr(0, 0) + \
                addr(0, 0) + addr(0, 0x2000)
        else:
            seed += u8(4) + ring(3, addr(0, 0), addr(0, 0x100),
                                 addr(0, 0x200))
        seed += u8(5)  # DRIVER_OK
        for i in range(3):
            seed += u8(9) + u8(0) + u8(2 | (i & 1)) + \
                addr(0, 0x2000 + 16 * i) + u8(i) + u8(i) + \
                addr(0, 0x2800 + 512 * i) + addr(0, 0x3800 + i)
        seed += u8(6) + u8(7) + u8(2) + u8(0x60 % 0xe0)
        if cfg & 0x20:
            status = u8(46)  # regs[46 % 28]: Status; bit 4 clear: 4 bytes
            seed += u8(0) + status + u8(1) + u8(0)  # write 0: reset
            seed += u8(2) + status  # reads non-zero: in progress
            seed += u8(0x89) + u8(0)  # the held requests complete
            seed += u8(2) + status  # reads 0
        write('mmio', name, seed)


# ---- xen_ioreq ----
def xen_seeds():
    def slot(state_ready=True, addr_off=0x70, size=4, write_=True,
             typ=None, data=0):
        k = (0 if write_ else 4) | (0x40 if typ is not None else 0)
        out = u8(k) + u8(0 if state_ready else 0x82)
        out += u8(0) + u16(addr_off) + u64(data) + u8({1: 0, 2: 1, 4: 2,
                                                       8: 3}[size])
        if typ is not None:
            out += u8(typ)
        return out

    for name, cfg in (('seed-spi', 0x01), ('seed-grants-isa', 0x04 | 0x08)):
        seed = u8(cfg)
        seed += ring(3, addr(0, 0x1000), addr(0, 0x1100), addr(0, 0x1200))
        seed += u8(3) + u64(ALL)
        seed += ring(3, addr(0, 0x1000), addr(0, 0x1100), addr(0, 0x1200))
        seed += u8(4) + u8(0) + addr(0, 0x3000) + u8(0) + u8(1) + \
            addr(0, 0x4000) + addr(0, 0x5000)
        seed += u8(4) + u8(1) + addr(0, 0x3010) + u8(1) + u8(1) + \
            addr(0, 0x4400) + addr(0, 0x5001)
        seed += u8(7)  # interrupt handler
        seed += u8(0) + u8(3) + slot() + slot(False, 0x60, 4, False)
        seed += u8(0) + u8(1) + slot(True, 0x0, 8, False, typ=8)
        seed += u8(5) + u8(2) + u8(0x92) + u8(0) + u16(0x100) + u32(0)
        write('xen_ioreq', name, seed)


# ---- xenstore ----
def xs_seeds():
    # libxl_device(k) then the toolstack closing it, then the node going.
    seed = u8(2) + u8(0x10) + u8(0) + u8(0) + u8(0)
    seed += u8(2) + u8(0x18 | 0x40 | 0x80 | 1) + u8(1) + u8(1) + u8(0)
    seed += u8(4) + u8(0) + u8(0)
    seed += u8(0x14) + u8(2) + u8(0)
    seed += u8(3) + u8(0) + u8(0) + u8(0)
    write('xenstore', 'seed-lifecycle', seed)
    # Garbage in a well-formed device; a domain dies; a tx conflict.
    seed = u8(6) + u8(0) + u8(0)
    seed += u8(2) + u8(0x22) + u8(0xc5) + b'0x2zz' + u8(2) + u8(0)
    seed += u8(0) + u8(0) + u8(0) + u8(2) + u8(19)
    seed += u8(2) + u8(0x30) + u8(0) + u8(1)
    seed += u8(7) + u8(0x17)
    write('xenstore', 'seed-garbage', seed)


# ---- vhost_user ----
def vhu_seeds():
    seed = u8(0)
    seed += u8(3) + u64(ALL) + u64(ALL)  # smart set-up
    seed += u8(2) + u8(1) + u8(3) + u8(3)
    for i in range(3):
        seed += u8(4) + u8(i & 1) + u8(i & 1) + u8(i) + u8(0x10 * i) + u8(i)
    seed += u8(0) + u8(10) + u8(0) + u16(8) + u32(0) + u32(0)  # GET_VRING_BASE
    seed += u8(7)  # reconnect
    seed += u8(3) + u64(1 << 30) + u64(0xffffffff) + u8(1) + u8(2) + \
        u8(3) + u8(4)
    seed += u8(4) + u8(0) + u8(1) + u8(0) + u8(0) + u8(0)
    write('vhost_user', 'seed-setup-io', seed)
    # The disk holds IO (bit 2) and IDLE serves the next front-end (bit 3):
    # GET_VRING_BASE and a new memory table wait for the release (op 0x87).
    seed = u8(0x0c)
    seed += u8(3) + u64(ALL) + u64(ALL)
    for i in range(2):
        seed += u8(4) + u8(0) + u8(0) + u8(i) + u8(0x10 * i) + u8(i)
    seed += u8(0) + u8(10) + u8(0) + u16(8) + u32(0) + u32(0)  # parked
    seed += u8(0x87) + u8(1)  # one completes: still parked
    seed += u8(0x87) + u8(0)  # the rest: GET_VRING_BASE answered
    seed += u8(4) + u8(1) + u8(0) + u8(2) + u8(0x20) + u8(2)
    seed += u8(7)  # disconnect with IO held, IDLE after the release
    seed += u8(0x87) + u8(0)
    seed += u8(3) + u64(ALL) + u64(ALL)
    write('vhost_user', 'seed-held-io', seed)
    # Bad memory tables (op 0x86), each dropping the connection (op 7
    # reconnects): overlapping, empty, past the end of the memfd, nine
    # regions; then a good set-up. Region bytes: k (which fields take
    # edge values), j (which edge values).
    seed = u8(0)
    seed += u8(0x86) + u8(1) + u8(0) + u8(0) + u8(1) + u8(0) + u8(7)
    seed += u8(0x86) + u8(0) + u8(2) + u8(0) + u8(7)  # size 0
    seed += u8(0x86) + u8(0) + u8(10) + u8(0x30) + u8(7)  # past the end
    seed += u8(0x86) + u8(8) + (u8(0) + u8(0)) * 8 + u8(7)  # nine
    seed += u8(3) + u64(ALL) + u64(ALL)
    write('vhost_user', 'seed-mem-tables', seed)
    # Raw messages with fds of every kind and a split frame.
    seed = u8(2)
    seed += u8(0) + u8(4) + u8(2) + u16(8) + u64(0) + u8(0) + u8(3)
    seed += u8(0) + u8(11) + u8(1) + u16(8) + u64(0) + u8(1)
    seed += u8(6) + u8(5) + b'\x01\x00\x00\x00\x01\x00'
    write('vhost_user', 'seed-raw', seed)
    # In-flight tracking (op 0x47): the set-up negotiates everything
    # (INFLIGHT_SHMFD included), GET a region of 2 queues of 16 (k 0),
    # SET it back (k 1), requests, a scribble on the region (k 2), a
    # reconnect, SET again, the rings started again on it.
    rings = u8(4) + u8(0) + u8(4) + u8(1)  # two rings of 16
    seed = u8(0)
    seed += u8(3) + u64(ALL) + u64(ALL) + rings
    seed += u8(0x47) + u8(0) + u8(1) + u8(4)
    seed += u8(0x47) + u8(1)
    for i in range(2):
        seed += u8(4) + u8(0) + u8(0) + u8(i) + u8(0x10 * i) + u8(i)
    seed += u8(0x47) + u8(2) + u8(3) + b'\x01\x02\x03\x04' + u16(40)
    seed += u8(7)
    seed += u8(3) + u64(ALL) + u64(ALL) + rings
    seed += u8(0x47) + u8(1)
    write('vhost_user', 'seed-inflight', seed)


# ---- inflight ----
def rec_chain(head, segs, nread):
    """build_chain(): head, count - 1, readable ones, then the segments."""
    out = u8(head) + u8(len(segs) - 1) + u8(nread)
    for a, n in segs:
        out += a + length(n)
    return out


def inflight_seeds():
    m = mem([(32, False, False)])
    blk = [(addr(0, 0x1000), 16), (addr(0, 0x2000), 512),
           (addr(0, 0x3000), 1)]
    # A ring of 16 at used index 5, two chains made available (heads 0
    # and 4) and taken by the dead backend, in the order 4, 0.
    for name, mode, flags in (('seed-adopt', 0x00, (1, 1)),
                              ('seed-settle', 0x08, (1, 1)),
                              ('seed-empty', 0x00, None)):
        seed = m + ring(4, addr(0, 0), addr(0, 0x200), addr(0, 0x400))
        seed += u16(5) + u8(0)  # avail index 5: the chains make it 7
        seed += u8(2) + rec_chain(0, blk, 1) + rec_chain(4, blk, 1)
        seed += u8(2)  # the record has exactly the ring's length
        if flags is None:
            seed += u8(0x01) + u8(0) + u8(0)  # version 0: empty
            seed += (u8(0) * 3) * 16
        else:
            # version 1, the ring's size, last batch head 0
            seed += u8(0x01 | mode) + u8(0)
            # used index: 5, or 4 (the ring published one head the
            # record has not cleared: settled at adoption)
            seed += u16(4) if mode & 8 else u8(0)
            for i in range(16):
                on = (i == 0 and flags[0]) or (i == 4 and flags[1])
                seed += u8(1 if on else 0) + u8(0) + \
                    u8(2 if i == 0 else 1)
        seed += u64(F_EVENT_IDX | F_INDIRECT) + u16(5)
        # kick, complete, a new chain, kick, hold...
        seed += u8(0) + u8(0) + u8(2) + u8(0) + u8(3) + \
            rec_chain(8, blk, 1) + u8(1) + u8(1) + u8(1)
        write('inflight', name, seed)


# ---- xen_state ----
def xen_state_seeds():
    """mutate(): a count, then per change a kind (header, snapshots,
    anywhere; bit 7: store a u32 rather than flip a bit), where, what."""
    def flip(kind, where, bit):
        return u8(kind) + where + u8(bit)

    def store(kind, where, v):
        return u8(0x80 | kind) + where + u32(v)

    write('xen_state', 'seed-clean', b'')
    # the magic, the version
    write('xen_state', 'seed-magic', u8(0) + flip(0, u8(0), 0))
    write('xen_state', 'seed-version', u8(0) + store(0, u8(8), 2))
    # a snapshot's queue fields, the active one named
    write('xen_state', 'seed-snapshot',
          u8(1) + store(1, u16(40), 0xffff) + flip(1, u16(8), 3))
    # the in-flight record, past both snapshots
    write('xen_state', 'seed-record',
          u8(0) + store(2, u32(0x700), 0x10001))


if __name__ == '__main__':
    vq_seeds()
    blk_seeds()
    mmio_seeds()
    xen_seeds()
    xs_seeds()
    vhu_seeds()
    inflight_seeds()
    xen_state_seeds()
