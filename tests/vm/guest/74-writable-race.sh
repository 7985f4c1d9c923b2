#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Writable attach, concurrent writers of the SAME chunks (issue 7): the
# driver serialises each chunk's read-modify-write with hashed per-chunk
# mutexes (write.c); without them two workers would both read a chunk,
# each change its own sector and append, and the later record would drop
# the earlier one's sector: a lost update.
#
# A full (zstd) + incremental chain with 64 KiB chunks (pinned: the
# default for zstd is 16 KiB, and a 64 KiB write of 16 KiB chunks is four
# chunk writes, which a concurrent read may see half done), attached
# writable.
# 4 rounds; in each, started together (a pipe as the barrier) by a small
# python3 helper (separate processes, O_DIRECT, page-aligned mmap buffers):
#  - 8 sector writers over the same 3 chunks: writer w writes the 512 B
#    sectors w, w+8, w+16, ... of the range (ascending in even rounds,
#    descending in odd ones), each filled with a pattern naming (round,
#    writer, sector), so the 8 writers hit the same chunk at the same time;
#  - a whole-chunk writer rewriting 4 other chunks 3 times (first all
#    zeros: zero records, then patterns naming (round, pass, sector));
#  - a reader re-reading all 7 chunks (O_DIRECT, one chunk per read) until
#    the writers are done, checking every sector it sees is either the
#    previous round's content or this round's pattern for that sector, and
#    each whole-chunk-written chunk is exactly one of its versions (a read
#    never sees half a chunk write) — the decoded-chunk cache under churn.
# After each round the whole device must equal a model (the source with
# every round's final patterns, kept by the helper; on a difference the
# helper names whose pattern each wrong sector holds).  Then detach seals;
# the sealed image verifies, attaches read-only and reads as the model.
. "$(dirname "$0")/../../lib.sh"
need_spfctl

W=$T/w
CS=65536
ROUNDS=4
NW=8
mkdir -p "$W"
t0=$SECONDS
tnote() { echo "# 74-writable-race: $1 at $((SECONDS - t0)) s"; }

if ! command -v python3 >/dev/null; then
	skip wrace "python3 is not installed"
	finish
fi

# ---- the chain: 16 chunks (random, text, zeros) + an incremental -------------------
{
	head -c $((6 * CS)) /dev/urandom
	yes "spfblk writable race test line" | head -c $((6 * CS))
	head -c $((4 * CS)) /dev/zero
} > "$W/l0.raw"
cp "$W/l0.raw" "$W/l1.raw"
for c in 5 13; do
	dd if=/dev/urandom of="$W/l1.raw" bs=$CS seek=$c count=1 conv=notrunc status=none
done
if ! "$SPFCTL" create -c zstd -s 64K "$W/l0.raw" "$W/full.spf" >/dev/null 2>"$T/err" ||
   ! "$SPFCTL" create --parent "$W/full.spf" "$W/l1.raw" "$W/i1.spi" >/dev/null 2>>"$T/err"; then
	fail wrace-chain "spfctl create: $(head -n 3 "$T/err" | tr '\n' ' ')"
	finish
fi
cp "$W/l1.raw" "$W/model"

# The helper.  race.py round DEV MODEL ROUND CS T0 TN NW W0 WN PASSES: one
# round as above; then writes the round's final content into MODEL.
# race.py explain DEV MODEL: names the wrong sectors' content.
cat > "$T/race.py" <<'EOF'
import mmap, os, select, struct, sys

SEC = 512


def spat(tag, sector, a, b):
    # One sector: a 16-byte record naming (sector, a, b), 32 times.
    return struct.pack("<8sIHH", tag, sector, a, b) * (SEC // 16)


def read_all(path, size):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, size)
    n = os.preadv(fd, [buf], 0)
    os.close(fd)
    if n != size:
        sys.exit("race.py: %s: short read (%d of %d bytes)" % (path, n, size))
    return bytes(buf)


def explain(dev, model):
    size = os.path.getsize(model)
    have, want = read_all(dev, size), open(model, "rb").read()
    bad = [s for s in range(size // SEC)
           if have[s * SEC:(s + 1) * SEC] != want[s * SEC:(s + 1) * SEC]]
    print("%d sectors differ" % len(bad))
    for s in bad[:6]:
        h, w = have[s * SEC:s * SEC + 16], want[s * SEC:s * SEC + 16]

        def name(b):
            tag, sec, a, c = struct.unpack("<8sIHH", b)
            if tag == b"spfrace:":
                return "round %d writer %d (sector %d)" % (a, c, sec)
            if tag == b"spfwhole":
                return "round %d pass %d (sector %d)" % (a, c, sec)
            return "other data"
        print("sector %d: has %s, want %s" % (s, name(h), name(w)))


def run_round(dev, model, rnd, cs, t0, tn, nw, w0, wn, passes):
    spc = cs // SEC
    prev = open(model, "rb").read()
    targets = range(t0 * spc, (t0 + tn) * spc)

    def wchunk(c, p):
        if p == 0:
            return bytes(cs)
        return b"".join(spat(b"spfwhole", c * spc + i, rnd, p)
                        for i in range(spc))

    new = {s: spat(b"spfrace:", s, rnd, s % nw) for s in targets}
    go_r, go_w = os.pipe()
    stop_r, stop_w = os.pipe()

    def writer(w):
        fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)
        buf = mmap.mmap(-1, SEC)
        secs = [s for s in targets if s % nw == w]
        if rnd % 2:
            secs.reverse()
        for s in secs:
            buf[:] = new[s]
            if os.pwrite(fd, buf, s * SEC) != SEC:
                print("writer %d: short write at sector %d" % (w, s))
                return 1
        os.close(fd)
        return 0

    def whole():
        fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)
        buf = mmap.mmap(-1, cs)
        for p in range(passes):
            for c in range(w0, w0 + wn):
                buf[:] = wchunk(c, p)
                if os.pwrite(fd, buf, c * cs) != cs:
                    print("whole: short write of chunk %d" % c)
                    return 1
        os.close(fd)
        return 0

    def reader():
        fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
        buf = mmap.mmap(-1, cs)
        ok = {c: {prev[c * cs:(c + 1) * cs]} |
              {wchunk(c, p) for p in range(passes)}
              for c in range(w0, w0 + wn)}
        chunks = list(range(t0, t0 + tn)) + list(range(w0, w0 + wn))
        reads = bad = 0
        while True:
            for c in chunks:
                if os.preadv(fd, [buf], c * cs) != cs:
                    print("reader: short read of chunk %d" % c)
                    return 1
                data = bytes(buf)
                reads += 1
                if c in ok:
                    if data not in ok[c]:
                        bad += 1
                        if bad <= 3:
                            print("reader: chunk %d is none of its versions" % c)
                    continue
                for i in range(spc):
                    s = c * spc + i
                    d = data[i * SEC:(i + 1) * SEC]
                    if d != new[s] and d != prev[s * SEC:(s + 1) * SEC]:
                        bad += 1
                        if bad <= 3:
                            print("reader: sector %d is neither its old content "
                                  "nor round %d's pattern" % (s, rnd))
            if select.select([stop_r], [], [], 0)[0]:
                break
        os.close(fd)
        print("reader: %d chunk reads, %d bad" % (reads, bad))
        return 1 if bad else 0

    def child(fn, *args):
        pid = os.fork()
        if pid:
            return pid
        os.close(go_w)
        os.close(stop_w)
        os.read(go_r, 1)        # the barrier: EOF once the parent closes go_w
        rc = 1
        try:
            rc = fn(*args)
        except BaseException as e:
            print("%s%s: %s" % (fn.__name__, args, e))
        finally:
            sys.stdout.flush()
            os._exit(rc)

    writers = [child(writer, w) for w in range(nw)] + [child(whole)]
    rpid = child(reader)
    os.close(go_w)
    rc = 0
    for pid in writers:
        rc |= os.waitpid(pid, 0)[1]
    os.close(stop_w)
    rc |= os.waitpid(rpid, 0)[1]

    # The model: what every sector must hold now.
    m = bytearray(prev)
    for s in targets:
        m[s * SEC:(s + 1) * SEC] = new[s]
    for c in range(w0, w0 + wn):
        m[c * cs:(c + 1) * cs] = wchunk(c, passes - 1)
    with open(model, "wb") as f:
        f.write(m)
    print("round %d: %d sector writes, %d whole-chunk writes" %
          (rnd, len(targets), wn * passes))
    return 1 if rc else 0


if sys.argv[1] == "explain":
    explain(sys.argv[2], sys.argv[3])
else:
    sys.exit(run_round(sys.argv[2], sys.argv[3], *map(int, sys.argv[4:12])))
EOF

# ---- attach writable ------------------------------------------------------------------
if ! out=$("$SPFCTL" attach --writable --overlay "$W/new.spi" "$W/i1.spi" 2>"$T/err") ||
   [[ ! "${out%%$'\n'*}" =~ ^(/dev/spf([0-9]+)) ]]; then
	fail wrace-attach "spfctl attach --writable: $(head -n 3 "$T/err" | tr '\n' ' ')$out"
	finish
fi
DEV=${BASH_REMATCH[1]}
IDX=${BASH_REMATCH[2]}
cleanup_add "'$SPFCTL' detach --discard '$DEV' 2>/dev/null"
v="ro=$(sysval "/sys/block/spf$IDX/ro") writable=$(sysval "/sys/block/spf$IDX/spf/writable")"
v="$v chunk_size=$(sysval "/sys/block/spf$IDX/spf/chunk_size")"
[ "$v" = "ro=0 writable=1 chunk_size=$CS" ] && pass wrace-attach || fail wrace-attach "$DEV: $v"
tnote "attached"

# dev_is_model NAME: the whole device equals the model, else the helper
# names what the wrong sectors hold.
dev_is_model() {
	local out
	if out=$(dd if="$DEV" iflag=direct bs=1M status=none | cmp - "$W/model" 2>&1); then
		pass "$1"
	else
		fail "$1" "$out; $(python3 -S "$T/race.py" explain "$DEV" "$W/model" 2>&1 | tr '\n' ' ')"
	fi
}

# ---- the rounds: chunks 4-6 (sectors 512-895) by 8 writers, 9-12 whole ----------------
for r in $(seq 1 $ROUNDS); do
	recs0=$(sysval "/sys/block/spf$IDX/spf/overlay_records")
	if out=$(python3 -S "$T/race.py" round "$DEV" "$W/model" "$r" $CS 4 3 $NW 9 4 3 2>&1); then
		pass "wrace-round$r-io"
	else
		fail "wrace-round$r-io" "$(printf '%s' "$out" | head -n 6 | tr '\n' ' ')"
	fi
	echo "# 74-writable-race: $(printf '%s' "$out" | tr '\n' ';')"
	recs=$(sysval "/sys/block/spf$IDX/spf/overlay_records")
	# 384 sector writes, 12 whole chunks: at least one record each unless
	# the block layer merged adjacent sector writes.
	if [ $((recs - recs0)) -gt 12 ]; then
		pass "wrace-round$r-records"
	else
		fail "wrace-round$r-records" "overlay_records went from $recs0 to $recs"
	fi
	dev_is_model "wrace-round$r-data"
	tnote "round $r done"
done

# ---- detach seals; the sealed image reads as the model ---------------------------------
if vm_detach wrace-detach-seal "$DEV"; then
	pass wrace-detach-seal
	expect_ok wrace-seal-verify "$SPFCTL" verify "$W/new.spi"
	if vm_attach wrace-sealed-attach "$W/new.spi"; then
		v="ro=$(sysval "/sys/block/spf$IDX/ro") writable=$(sysval "/sys/block/spf$IDX/spf/writable")"
		[ "$v" = "ro=1 writable=0" ] && pass wrace-sealed-readonly || fail wrace-sealed-readonly "$v"
		dev_is_model wrace-sealed-data
		vm_detach wrace-sealed-detach "$DEV"
	fi
fi
tnote "sealed image checked"
finish
