#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Data generators for tests/bench/bench-device.sh (host side).

Usage:
  mkbench.py chain DIR SOURCE DEPTH PERCENT SEED [SUMDEPTH...]
      DIR/0.spf must exist: a full image of SOURCE (spfctl create).  Write
      DIR/1.spi .. DIR/DEPTH.spi, each an incremental on top of the previous
      one that rewrites PERCENT % of the chunks, picked at random among the
      chunks of SOURCE that hold data (a fresh pick per level, seeded with
      SEED).  A rewritten chunk keeps its content in SOURCE behind a new
      32-byte stamp (level, chunk), so the disk has the same mix of text,
      random bytes and zeros at every depth.  The
      incrementals are written by tests/tools/spfpatch.py's independent
      writer (deflate, level 6) from the list of changed chunks alone, so a
      level costs only its own chunks, not a pass over the whole source as
      `spfctl create --parent` would.  Prints "SUM DEPTH SHA256" for every
      SUMDEPTH: the sha256 of the disk that the chain ending at that depth
      maps (checked in the guest).

  mkbench.py sparse OUT SIZE DATA_MB SOURCE SEED
      Make OUT a sparse file of SIZE bytes with DATA_MB extents of 1 MiB
      each, at random 1 MiB-aligned offsets (distinct, seeded with SEED),
      filled with consecutive non-zero 1 MiB pieces of SOURCE.  Prints
      "RANGE OFFSET LENGTH" per extent (sorted) and "SUM SHA256", the
      sha256 of the extents' bytes in offset order.
"""

import hashlib
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import spfpatch  # noqa: E402


def chain(argv):
    d, source, depth, pct, seed = argv[0], argv[1], int(argv[2]), float(argv[3]), int(argv[4])
    sumdepths = {int(a) for a in argv[5:]}
    base = spfpatch.Image(os.path.join(d, "0.spf"))
    shift = base.get("h.chunk_shift")
    disk_size = base.get("h.disk_size")
    cs = 1 << shift
    with open(source, "rb") as f:
        disk = bytearray(f.read())
    if len(disk) != disk_size:
        raise SystemExit("mkbench: %s is %d bytes, the image's disk %d" %
                         (source, len(disk), disk_size))
    nr = (disk_size + cs - 1) // cs
    zero = bytes(cs)
    donors = [n for n in range(nr) if disk[n * cs:(n + 1) * cs] != zero]
    pristine = bytes(disk)
    per_level = max(1, round(nr * pct / 100))
    rnd = random.Random(seed)
    par = {"uuid": base.get("h.uuid"), "seal": base.get("t.seal"),
           "disk_size": disk_size, "chain_uuid": base.get("h.chain_uuid"),
           "depth": 0, "name": "0.spf"}
    if 0 in sumdepths:
        print("SUM 0 %s" % hashlib.sha256(disk).hexdigest())
    # Each incremental rewrites 1% of the chunks, picked among those that
    # hold data, each with a new stamp over its first content: the disk
    # keeps the same mix of text, random bytes and zeros at every depth,
    # so that the sweep measures the depth, not a change of data.
    for lvl in range(1, depth + 1):
        picks = sorted(rnd.sample(donors, per_level))
        chunks = []
        for n in picks:
            stamp = (b"spfbench level %6d chunk %8d" % (lvl, n))[:32].ljust(32, b".")
            plain = stamp + pristine[n * cs + 32:(n + 1) * cs]
            disk[n * cs:(n + 1) * cs] = plain
            chunks.append((n, plain))
        name = "%d.spi" % lvl
        uuid, seal = spfpatch.build_image(os.path.join(d, name), disk_size,
                                          shift, 1, chunks, par)
        par = {"uuid": uuid, "seal": seal, "disk_size": disk_size,
               "chain_uuid": par["chain_uuid"], "depth": lvl, "name": name}
        if lvl in sumdepths:
            print("SUM %d %s" % (lvl, hashlib.sha256(disk).hexdigest()), flush=True)
    return 0


def sparse(argv):
    out, size, data_mb, source, seed = argv[0], int(argv[1]), int(argv[2]), argv[3], int(argv[4])
    mib = 1 << 20
    rnd = random.Random(seed)
    slots = sorted(rnd.sample(range(size // mib), data_mb))
    with open(source, "rb") as f:
        src = f.read()
    pieces = [src[i:i + mib] for i in range(0, len(src) - mib + 1, mib)]
    pieces = [p for p in pieces if p.count(0) < mib // 2]
    if not pieces:
        raise SystemExit("mkbench: %s has no non-zero MiB" % source)
    h = hashlib.sha256()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.ftruncate(fd, size)
        for i, s in enumerate(slots):
            p = pieces[i % len(pieces)]
            os.pwrite(fd, p, s * mib)
            h.update(p)
            print("RANGE %d %d" % (s * mib, mib))
    finally:
        os.close(fd)
    print("SUM %s" % h.hexdigest())
    return 0


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(argv) >= 2 else 2
    if argv[1] == "chain" and len(argv) >= 7:
        return chain(argv[2:])
    if argv[1] == "sparse" and len(argv) == 7:
        return sparse(argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
