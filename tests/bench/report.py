#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn one guest run of tests/bench/guest-bench.sh into tables.

Usage: report.py HOSTTXT SCRATCH[:SCRATCH...] DATA OUTPREFIX
  HOSTTXT    the host's notes on the run (host.txt)
  SCRATCH    the guest run folders (metrics.txt, fio/*.json)
  DATA       the image folder (meta, big.meta)
  OUTPREFIX  writes OUTPREFIX.md and OUTPREFIX.json

Exit status 0; 1 when a figure is missing or BENCH_STRICT=1 and a target
is missed.
"""

import json
import os
import sys

SYSTEMS = ["loop", "spf-none", "spf-none-fa", "spf-none-va", "spf-none-nv", "spf-deflate", "spf-zstd", "spf-lz4",
           "spf-zstd-aes", "nbd-zlib", "nbd-zstd", "nbd-luks"]
# spfblk codec -> the qemu-nbd (qcow2) system it is compared with
PEER = {"spf-deflate": "nbd-zlib", "spf-zstd": "nbd-zstd",
        "spf-zstd-aes": "nbd-luks"}
LABEL = {
    "loop": "loop (raw file)",
    "spf-none": "spfblk none",
    "spf-none-fa": "spfblk none, random reads first after the attach",
    "spf-none-va": "spfblk none, attach --verify=always",
    "spf-none-nv": "spfblk none, attach --no-verify",
    "spf-deflate": "spfblk deflate",
    "spf-zstd": "spfblk zstd",
    "spf-lz4": "spfblk lz4",
    "spf-zstd-aes": "spfblk zstd+AES-256-GCM",
    "nbd-zlib": "qemu-nbd qcow2 zlib",
    "nbd-zstd": "qemu-nbd qcow2 zstd",
    "nbd-luks": "qemu-nbd qcow2 LUKS (uncompressed)",
}


def kv(path):
    d = {}
    if os.path.exists(path):
        for line in open(path):
            w = line.rstrip("\n").split(" ", 1)
            if len(w) == 2:
                d[w[0]] = w[1]
    return d


def fio(scratches, name):
    for sc in scratches:
        p = os.path.join(sc, "fio", name + ".json")
        if os.path.exists(p):
            break
    else:
        return None
    with open(p) as f:
        txt = f.read()
    j = json.loads(txt[txt.index("{"):])     # fio may print notes first
    jobs = j["jobs"]
    # read + write: one of the two is zero (the writes phase only writes)
    r = {"mibs": sum(x[d]["bw_bytes"] for x in jobs for d in ("read", "write")) / 1048576,
         "iops": sum(x[d]["iops"] for x in jobs for d in ("read", "write"))}
    pct = jobs[0]["read"]["clat_ns"].get("percentile", {})
    if "50.000000" in pct:
        r["p50_us"] = pct["50.000000"] / 1000
        r["p99_us"] = pct["99.000000"] / 1000
    return r


def num(d, key, conv=int):
    """d[key] converted, or None when the run did not record it."""
    return conv(d[key]) if key in d else None


def mib(b):
    return None if b is None else b / 1048576


def size_bytes(text):
    """"16K" -> 16384."""
    mult = {"K": 1 << 10, "M": 1 << 20}
    return int(text[:-1]) * mult[text[-1]] if text[-1] in mult else int(text)


def ratio(a, b):
    if a is None or b is None or not b:
        return None
    return a / b


def fmt(v, nd=0):
    if v is None:
        return "–"
    return "{:,.{}f}".format(v, nd)


def fx(v):
    return "–" if v is None else "%.2f×" % v


def main(argv):
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    hosttxt, scratch, data, prefix = argv[1:]
    scratch = scratch.split(":")
    host = kv(hosttxt)
    meta = kv(os.path.join(data, "meta"))
    big_meta = kv(os.path.join(data, "big.meta"))
    lines = []
    for sc in scratch:
        p = os.path.join(sc, "metrics.txt")
        if os.path.exists(p):
            lines += open(p).read().splitlines()
    attach, mem, cache, check, layers, misc, wr = {}, {}, [], {}, {}, {}, {}
    for line in lines:
        w = line.split()
        if not w:
            continue
        if w[0] == "attach":
            attach[w[1]] = float(w[2])
        elif w[0] == "mem":
            mem[(w[1], w[2])] = int(w[3])
        elif w[0] == "cache":
            cache.append({"run": w[1], "cache_bytes": int(w[2]),
                          "cache_budget": int(w[3]), "hits": int(w[4]),
                          "misses": int(w[5])})
        elif w[0] == "datacheck":
            check[w[1]] = w[2]
        elif w[0] == "layers":
            layers[w[1]] = int(w[2])
        elif w[0] == "w" and len(w) == 4:
            wr.setdefault(w[1], {})[w[2]] = w[3]
        else:
            misc[w[0]] = " ".join(w[1:])
    missing = []
    # phases the run asked for (host.txt; older runs: the three of issue 4)
    phases = host.get("phases", "systems sweep big").split()

    # 1. systems
    # The workloads each system runs (guest-bench.sh): all three, but
    # spf-none-fa runs only the random one, first after its attach.
    workloads = ("seq", "rand", "lat")
    runs = {"spf-none-fa": ("rand",)}

    def row(s, r, expected):
        """r, with system s's fio figures, attach time and memory."""
        for wl in workloads:
            f = fio(scratch, "%s-%s" % (s, wl))
            if f is None:
                if expected and wl in runs.get(s, workloads):
                    missing.append("%s-%s" % (s, wl))
                continue
            if wl == "seq":
                r["seq_mibs"] = f["mibs"]
            elif wl == "rand":
                r["rand_iops"] = f["iops"]
            else:
                r["lat_iops"] = f["iops"]
                r["lat_p50_us"] = f.get("p50_us")
                r["lat_p99_us"] = f.get("p99_us")
        r["attach_s"] = attach.get(s)
        r["mem_attach_kib"] = mem.get((s, "attach"))
        return r

    res = {}
    for s in SYSTEMS:
        r = row(s, {"label": LABEL[s]}, "systems" in phases)
        key = "size_" + ("spf-none" if s in ("spf-none-fa", "spf-none-nv", "spf-none-va") else s)
        if key in meta:
            r["image_mib"] = int(meta[key]) / 1048576
        elif s == "loop":
            r["image_mib"] = float(meta.get("src_mb", 0))
        res[s] = r
    # 1b. chunk sizes: spf-CODEC-cSIZE, the same workloads, each row
    # compared with loop and with the codec's qemu-nbd peer of part 1.
    csizes = host.get("chunk_sizes", "").split() if "chunks" in phases else []
    ccodecs = host.get("chunk_codecs", "").split()
    # each codec's default chunk size (its systems image), and the chunks
    # phase's images, from the host (runs before 2026-11-23: 64K for all)
    def default_cs(codec):
        return host.get("default_chunk_" + codec, "64K")
    csystems = host.get("chunk_systems")
    cpeer = {"deflate": "nbd-zlib", "zstd": "nbd-zstd"}
    chunks = []
    for cs in csizes:
        for c in ccodecs:
            s = "spf-%s-c%s" % (c, cs)
            if s not in (csystems.split() if csystems is not None else [s]):
                continue
            r = row(s, {"label": "spfblk %s, %s chunks" % (c, cs), "codec": c,
                        "chunk_size": cs}, True)
            img = os.path.join(data, s + ".spf")
            if os.path.exists(img):
                r["image_mib"] = os.path.getsize(img) / 1048576
            res[s] = r
            chunks.append(s)
            if c in cpeer:
                PEER[s] = cpeer[c]

    figs = ("seq_mibs", "rand_iops", "lat_p50_us", "lat_p99_us")
    for s, r in res.items():
        r["vs_loop"] = {k: ratio(r.get(k), res["loop"].get(k)) for k in figs}
        p = PEER.get(s)
        r["vs_qemu_nbd"] = ({k: ratio(r.get(k), res[p].get(k)) for k in figs}
                            if p else None)
        r["qemu_nbd_peer"] = p

    # 2. sweep
    depths = [int(d) for d in meta.get("depths", "").split()]
    # The depths this run attached (BENCH_DEPTHS may pick fewer).
    depths = [d for d in depths if "depth-%d" % d in attach] or depths
    sweep = {}
    def mean(vals):
        vals = [v for v in vals if v is not None]
        return round(sum(vals) / len(vals), 4) if vals else None

    for d in depths:
        # pass 1 ("depth-D") and pass 2 ("depth-D.2", the depths in
        # reverse order): each figure is the mean of the passes run.
        n = "depth-%d" % d
        names = [n, n + ".2"]
        sqs = [fio(scratch, m + "-seq") for m in names]
        rns = [fio(scratch, m + "-rand") for m in names]
        if (sqs[0] is None or rns[0] is None) and "sweep" in phases:
            missing.append(n)
        cb = [c for c in cache if c["run"] == n + "-attach"]
        seq_runs = [f["mibs"] for f in sqs if f]
        rand_runs = [f["iops"] for f in rns if f]
        attach_runs = [attach[m] for m in names if m in attach]
        again = sorted(attach[m + ".again%d" % k] for m in names for k in (1, 2, 3)
                       if m + ".again%d" % k in attach)
        sweep[d] = {"layers": layers.get(n), "attach_s": mean(attach_runs),
                    "attach_s_runs": attach_runs,
                    "attach_again_s": again[len(again) // 2] if again else None,
                    "attach_again_s_runs": again,
                    "mem_attach_kib": mem.get((n, "attach")),
                    "mem_end_kib": mem.get((n, "end")),
                    "cache_bytes_attach": cb[0]["cache_bytes"] if cb else None,
                    "seq_mibs": mean(seq_runs), "seq_mibs_runs": seq_runs,
                    "rand_iops": mean(rand_runs), "rand_iops_runs": rand_runs,
                    "datacheck": check.get(n)}
    d1 = sweep.get(min(depths)) if depths else None
    for d, v in sweep.items():
        v["seq_vs_first"] = ratio(v["seq_mibs"], d1 and d1["seq_mibs"])
        v["rand_vs_first"] = ratio(v["rand_iops"], d1 and d1["rand_iops"])

    # 3. big disk
    cbig = {c["run"]: c for c in cache if c["run"].startswith("big")}
    big = {"virtual_bytes": int(big_meta.get("big_size", 0)),
           "data_mib": int(big_meta.get("big_data_mb", 0)),
           "create_s_host": float(big_meta.get("big_create_seconds", "nan")),
           "image_mib": int(meta.get("size_big", 0)) / 1048576,
           "dev_bytes": int(misc.get("big_dev_bytes", 0)),
           "chunk_cache_kib": (int(misc["big_chunk_cache_bytes"]) // 1024
                               if "big_chunk_cache_bytes" in misc else None),
           "attach_s": attach.get("big"),
           "mem_attach_kib": mem.get(("big", "attach")),
           "mem_attach_tiny_kib": mem.get(("tiny", "attach")),
           "mem_after_read_kib": mem.get(("big", "read")),
           "cache_bytes_attach": cbig.get("big-attach", {}).get("cache_bytes"),
           "cache_bytes_after_read": cbig.get("big-read", {}).get("cache_bytes"),
           "read_s": num(misc, "big_read_seconds", float),
           "datacheck": check.get("big")}

    # 4. writes (issue 7): spfblk writable on a fresh overlay against
    # qemu-nbd on a qcow2 overlay backed by the same image read-only
    wcodecs = host.get("write_codecs", "zstd").split()
    writes = {}
    for c in wcodecs:
        row = {}
        for wl in ("wseq", "wseqz", "wrand"):
            sp, nb = "spfw-%s-%s" % (c, wl), "nbdw-%s-%s" % (c, wl)
            fs, fn = fio(scratch, sp), fio(scratch, nb)
            if "writes" in phases:
                missing += [n for n, f in ((sp, fs), (nb, fn)) if f is None]
            k = "iops" if wl == "wrand" else "mibs"
            ws, wn = wr.get(sp, {}), wr.get(nb, {})
            row[wl] = {
                "spfblk": fs and fs[k], "qemu_nbd": fn and fn[k],
                "ratio": ratio(fs and fs[k], fn and fn[k]),
                "unit": "MiB/s" if k == "mibs" else "IOPS",
                "spfblk_attach_s": attach.get(sp), "qemu_nbd_attach_s": attach.get(nb),
                "overlay_bytes": num(ws, "overlay_bytes"),
                "overlay_records": num(ws, "overlay_records"),
                "overlay_file_bytes": num(ws, "overlay_file"),
                "overlay_alloc_bytes": num(ws, "alloc"),
                "detach_seal_s": num(ws, "detach_s", float),
                "sealed_bytes": num(ws, "sealed_bytes"),
                "seal": ws.get("seal"),
                "qcow2_file_bytes": num(wn, "overlay_file"),
                "qcow2_alloc_bytes": num(wn, "alloc"),
                "qemu_nbd_disconnect_s": num(wn, "detach_s", float),
            }
        writes[c] = row
        if "writes" in phases and any(row[wl]["seal"] != "ok" for wl in row):
            check["writes-" + c] = "seal-" + "/".join(
                "%s:%s" % (wl, row[wl]["seal"] or "none") for wl in row)

    # 5. targets
    T = []

    def target(name, value, goal, met, note=""):
        T.append({"target": name, "value": value, "goal": goal,
                  "met": met, "note": note})

    def ge(name, v, g, note=""):
        target(name, None if v is None else round(v, 3), ">= %g" % g,
               None if v is None else v >= g, note)

    ge("spfblk none seq vs loop", res["spf-none"]["vs_loop"]["seq_mibs"], 0.9)
    ge("spfblk none 4K random IOPS vs loop", res["spf-none"]["vs_loop"]["rand_iops"], 0.9)
    ge("spfblk none 4K random IOPS vs loop, first run after the attach",
       res["spf-none-fa"]["vs_loop"]["rand_iops"], 0.9,
       "the default settings, but no earlier run has checked the chunks: "
       "each chunk's first read pays its crc32c check")
    va = "not the default: each read's chunk crc32c is checked"
    ge("spfblk none --verify=always seq vs loop", res["spf-none-va"]["vs_loop"]["seq_mibs"], 0.9, va)
    ge("spfblk none --verify=always 4K random IOPS vs loop",
       res["spf-none-va"]["vs_loop"]["rand_iops"], 0.9, va)
    nv = "not the default: each chunk's crc32c is not checked"
    ge("spfblk none --no-verify seq vs loop", res["spf-none-nv"]["vs_loop"]["seq_mibs"], 0.9, nv)
    ge("spfblk none --no-verify 4K random IOPS vs loop",
       res["spf-none-nv"]["vs_loop"]["rand_iops"], 0.9, nv)
    for s in ("spf-deflate", "spf-zstd"):
        ge("%s seq vs %s" % (LABEL[s], LABEL[PEER[s]]), res[s]["vs_qemu_nbd"]["seq_mibs"], 3)
        ge("%s 4K random IOPS vs %s" % (LABEL[s], LABEL[PEER[s]]),
           res[s]["vs_qemu_nbd"]["rand_iops"], 5)
    ge("spfblk zstd+AES seq vs qemu-nbd qcow2 LUKS", res["spf-zstd-aes"]["vs_qemu_nbd"]["seq_mibs"], 3,
       "qcow2 LUKS is uncompressed (aes-xts-plain64); spfblk's image is zstd-compressed")
    # The same targets for the images with smaller chunks (not the
    # default: `spfctl create --chunk-size`); the note gives the size cost.
    for s in chunks:
        r = res[s]
        base = res.get("spf-" + r["codec"], {}).get("image_mib")
        note = "`spfctl create --chunk-size %s`, not the default" % r["chunk_size"]
        if base and r.get("image_mib"):
            note += "; image %+.1f%% against the default %s chunks" % (
                (r["image_mib"] / base - 1) * 100, default_cs(r["codec"]))
        if r["codec"] == "none":
            ge("%s seq vs loop" % r["label"], r["vs_loop"]["seq_mibs"], 0.9, note)
            ge("%s 4K random IOPS vs loop" % r["label"], r["vs_loop"]["rand_iops"], 0.9, note)
        elif PEER.get(s):
            ge("%s seq vs %s" % (r["label"], LABEL[PEER[s]]),
               r["vs_qemu_nbd"]["seq_mibs"], 3, note)
            ge("%s 4K random IOPS vs %s" % (r["label"], LABEL[PEER[s]]),
               r["vs_qemu_nbd"]["rand_iops"], 5, note + "; qcow2 keeps its 64 KiB clusters")
    if depths:
        dmax = max(depths)
        ge("depth %d warm seq vs depth %d" % (dmax, min(depths)), sweep[dmax]["seq_vs_first"], 0.9)
        ge("depth %d warm 4K random IOPS vs depth %d" % (dmax, min(depths)),
           sweep[dmax]["rand_vs_first"], 0.9)
        a = sweep[dmax]["attach_s"]
        target("depth %d attach time after a cache drop (s)" % dmax, a, "< 2",
               None if a is None else a < 2,
               "wall time of spfctl attach, spfctl already paged in; mean of the passes")
        a = sweep[dmax]["attach_again_s"]
        if a is not None:
            target("depth %d attach time, repeated (s)" % dmax, a, "< 2", a < 2,
                   "median of %d attaches with no cache drop before them"
                   % len(sweep[dmax]["attach_again_s_runs"]))
    over = [c for c in cache if c["cache_bytes"] > c["cache_budget"]]
    peak = max(cache, key=lambda c: c["cache_bytes"]) if cache else None
    target("cache_bytes <= cache_budget after every run", 
           None if not peak else "max %d of %d (%s); %d checks" %
           (peak["cache_bytes"], peak["cache_budget"], peak["run"], len(cache)),
           "never over", not over if cache else None,
           "; ".join("%s %d > %d" % (c["run"], c["cache_bytes"], c["cache_budget"]) for c in over))
    m = big["mem_attach_kib"]
    mt = big["mem_attach_tiny_kib"]
    cc = big["chunk_cache_kib"]
    gib = big["virtual_bytes"] / 2 ** 40
    # Metadata: the whole delta less the decoded-chunk cache, which holds
    # data (chunk_cache_bytes); the rest of the device (gendisk, tag set,
    # worker buffers) stays counted.
    md = None if m is None or cc is None else m - cc
    target("metadata memory at attach, %g TiB disk (KiB)" % gib, md, "<= 1024",
           None if md is None else md <= 1024,
           "Slab + VmallocUsed delta over the attach (%s KiB) less the decoded-chunk "
           "cache (%s KiB of data); the device's own structures are included" % (fmt(m), fmt(cc)) +
           ("" if mt is None or m is None else
            " (a one-chunk image: %d KiB, so the chunk metadata is %d KiB over it)" % (mt, m - mt)) +
           ("" if gib >= 16 else "; smaller than the 16 TiB of the target"))
    if "writes" in phases:
        for c in wcodecs:
            ge("spfblk %s writable 1 MiB seq write vs qemu-nbd qcow2 overlay" % c,
               writes[c]["wseq"]["ratio"], 2,
               "overlay on the image attached read-only (/dev/spfM)")
            ge("spfblk %s writable 1 MiB seq write, half-compressible data, vs qemu-nbd" % c,
               writes[c]["wseqz"]["ratio"], 2,
               "the overlay compresses these chunks; qcow2 stores them as they are")
            ge("spfblk %s writable 4K random write IOPS vs qemu-nbd qcow2 overlay" % c,
               writes[c]["wrand"]["ratio"], 2,
               "overlay on the image attached read-only (/dev/spfM)")
        bs = [c for c in wcodecs for wl in ("wseq", "wseqz", "wrand")
              if writes[c][wl]["seal"] != "ok"]
        target("writable devices detach and seal", "%d ok, %d failed" %
               (3 * len(wcodecs) - len(bs), len(bs)), "all ok", not bs, " ".join(bs))
    bad = [k for k, v in check.items() if v != "ok"]
    target("data read back matches (sweep depths, big disk)", "%d ok, %d bad" %
           (len(check) - len(bad), len(bad)), "all ok", (not bad) if check else None,
           " ".join(bad))

    settings = dict(host)
    settings.update({
        "source_disk_mib": int(meta.get("src_mb", 0)),
        "sweep_disk_mib": int(meta.get("sweep_mb", 0)),
        "sweep_rewrite_percent": float(meta.get("sweep_pct", 0)),
        "sweep_chain_mib": int(meta.get("chain_bytes", 0)) / 1048576,
        "guest_kernel": misc.get("guest_kernel"),
        "guest_cpus": misc.get("guest_cpus"),
        "module_cache_mb": misc.get("module_cache_mb"),
    })
    out = {"settings": settings, "systems": res, "chunk_systems": chunks,
           "sweep": {str(k): v for k, v in sweep.items()}, "big": big,
           "writes": writes,
           "cache_checks": cache, "targets": T, "missing": missing}
    with open(prefix + ".json", "w") as f:
        json.dump(out, f, indent=1, sort_keys=False)
        f.write("\n")

    # Markdown
    L = []
    st = settings
    L.append("# spfblk device benchmark: Linux %s" % st.get("kver", "?"))
    L.append("")
    L.append("%s; qemu TCG guest, %s vCPUs, %s MiB RAM, images on a tmpfs in the guest; "
             "host: %s CPUs (%s), load average %s before, %s after; fio %s, qemu %s, "
             "%s s per fio run%s; driver tree %s (spfblk.ko sha256 %s); whole run %s s." % (
                 st.get("date"), st.get("guest_cpus"), st.get("guest_mem_mb"),
                 st.get("host_cpus"), st.get("host_cpu"), st.get("load_before"),
                 st.get("load_after"), st.get("fio"), st.get("qemu"), st.get("runtime"),
                 " (BENCH_QUICK: small disks, not for comparison)" if st.get("quick") == "1" else "",
                 st.get("tree"), st.get("ko_srcversion"), st.get("wall_seconds")))
    L.append("")
    L.append("Under TCG every figure is far below real hardware; the ratios are what "
             "this measures.  Ratios are value / reference (for latencies lower is better).")
    L.append("")
    L.append("## Systems on the same %d MiB disk" % settings["source_disk_mib"])
    L.append("")
    L.append("fio, O_DIRECT, libaio, caches dropped before each run: seq = 1 MiB reads QD16; "
             "rand = 4 KiB random reads QD32 × 4 jobs; QD1 = 4 KiB random reads QD1 "
             "(completion latency).  \"vs nbd\" compares with qemu-nbd on qcow2 with the same "
             "codec (deflate↔zlib, zstd↔zstd, zstd+AES↔LUKS, which is uncompressed).")
    L.append("")
    L.append("| system | image MiB | attach s | seq MiB/s | vs loop | vs nbd | rand IOPS | vs loop "
             "| vs nbd | QD1 p50 µs | vs loop | vs nbd | QD1 p99 µs | vs loop | vs nbd |")
    L.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for s in SYSTEMS:
        r = res[s]
        vl, vn = r["vs_loop"], r["vs_qemu_nbd"] or {}
        L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["label"], fmt(r.get("image_mib"), 1), fmt(r.get("attach_s"), 2),
            fmt(r.get("seq_mibs"), 1), fx(vl["seq_mibs"]), fx(vn.get("seq_mibs")),
            fmt(r.get("rand_iops")), fx(vl["rand_iops"]), fx(vn.get("rand_iops")),
            fmt(r.get("lat_p50_us")), fx(vl["lat_p50_us"]), fx(vn.get("lat_p50_us")),
            fmt(r.get("lat_p99_us")), fx(vl["lat_p99_us"]), fx(vn.get("lat_p99_us"))))
    L.append("")
    if chunks:
        L.append("## Chunk size (`spfctl create --chunk-size`, same disk, same workloads)")
        L.append("")
        L.append("The rows marked \"(default)\" are the systems above: spfctl's default "
                 "chunk size, 64K for none and 16K for a codec.  A smaller "
                 "chunk means less to read, check and decode per 4 KiB read, and more "
                 "chunks per sequential read and a larger image.  \"vs nbd\": qcow2 with "
                 "its default 64 KiB clusters, the same codec.")
        L.append("")
        L.append("| codec | chunk | image MiB | seq MiB/s | vs loop | vs nbd | rand IOPS | "
                 "vs loop | vs nbd | QD1 p50 µs | QD1 p99 µs |")
        L.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
        for c in ccodecs:
            rows = ["spf-" + c] + [s for s in chunks if res[s]["codec"] == c]
            rows.sort(key=lambda s: -size_bytes(res[s].get("chunk_size", default_cs(c))))
            for s in rows:
                r = res.get(s)
                if r is None:
                    continue
                vl, vn = r["vs_loop"], r["vs_qemu_nbd"] or {}
                L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    c, r.get("chunk_size", default_cs(c) + " (default)"), fmt(r.get("image_mib"), 1),
                    fmt(r.get("seq_mibs"), 1), fx(vl["seq_mibs"]), fx(vn.get("seq_mibs")),
                    fmt(r.get("rand_iops")), fx(vl["rand_iops"]), fx(vn.get("rand_iops")),
                    fmt(r.get("lat_p50_us")), fmt(r.get("lat_p99_us"))))
        L.append("")
    L.append("## Chain depth (%d MiB disk, deflate, each incremental rewrites %g%% of the chunks)"
             % (settings["sweep_disk_mib"], settings["sweep_rewrite_percent"]))
    L.append("")
    L.append("Depth N = a full image plus N incrementals (chain of N+1 files, %.0f MiB for the "
             "deepest).  Warm: one fio run to warm, then the measured run.  Two passes, the "
             "depths in order and then in reverse: each figure is their mean, the two runs "
             "in brackets.  Memory = Slab + VmallocUsed delta over the attach (first pass)." % settings["sweep_chain_mib"])
    L.append("")
    L.append("| depth | layers | attach s | attach s, repeated (median) | memory at attach KiB | "
             "cache_bytes at attach | seq MiB/s | vs depth %s | rand IOPS | vs depth %s | "
             "memory after runs KiB | data |"
             % (min(depths) if depths else "?", min(depths) if depths else "?"))
    L.append("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")

    def runs(v, k, nd):
        r = v.get(k + "_runs") or []
        s = fmt(v.get(k), nd)
        if len(r) > 1:
            s += " (%s)" % ", ".join(fmt(x, nd) for x in r)
        return s

    for d in depths:
        v = sweep[d]
        L.append("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            d, fmt(v["layers"]), runs(v, "attach_s", 3), fmt(v["attach_again_s"], 3),
            fmt(v["mem_attach_kib"]),
            fmt(v["cache_bytes_attach"]), runs(v, "seq_mibs", 1), fx(v["seq_vs_first"]),
            runs(v, "rand_iops", 0), fx(v["rand_vs_first"]), fmt(v["mem_end_kib"]),
            v["datacheck"] or "–"))
    L.append("")
    L.append("## Big sparse disk")
    L.append("")
    L.append("Memory = Slab + VmallocUsed delta from before the attach.  For reference, "
             "attaching a one-chunk (16 KiB) image costs %s KiB (the device itself: gendisk, "
             "blk-mq tag set, ...)." % fmt(big["mem_attach_tiny_kib"]))
    L.append("")
    L.append("| virtual size | data | image MiB | spfctl create (host) s | attach s | "
             "memory at attach KiB | cache_bytes at attach | read all data s | "
             "memory after reading KiB | cache_bytes after reading | data |")
    L.append("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
    L.append("| %g TiB | %d MiB in 1 MiB extents | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        gib, big["data_mib"], fmt(big["image_mib"], 1), fmt(big["create_s_host"], 1),
        fmt(big["attach_s"], 3), fmt(big["mem_attach_kib"]), fmt(big["cache_bytes_attach"]),
        fmt(big["read_s"], 1), fmt(big["mem_after_read_kib"]),
        fmt(big["cache_bytes_after_read"]), big["datacheck"] or "–"))
    L.append("")
    if "writes" in phases:
        L.append("## Writes: writable attach against a qcow2 overlay (issue 7)")
        L.append("")
        L.append("fio, O_DIRECT, libaio, no fsync, fio's default (incompressible) data: "
                 "seq = 1 MiB writes QD16; rand = 4 KiB random writes QD32 × 4 jobs.  "
                 "Each run starts from a fresh overlay on the guest's tmpfs.  spfblk: "
                 "`spfctl attach --writable --overlay` on the image (the overlay gets "
                 "the image's codec); detach + seal = `spfctl detach`.  qemu-nbd: a qcow2 "
                 "overlay (64 KiB clusters) whose backing file is the same image attached "
                 "read-only (/dev/spfM, raw), `qemu-nbd -f qcow2 -c /dev/nbd0` with its "
                 "defaults as in the systems phase (writeback cache).  Overlay = the "
                 "overlay file after the run (records, size); sealed = the incremental "
                 "it became.")
        L.append("")
        L.append("| image | workload | spfblk | qemu-nbd | ratio | target 2× | spfblk overlay "
                 "MiB (records) | detach + seal s | sealed MiB | qcow2 overlay MiB |")
        L.append("|---|---|--:|--:|--:|---|--:|--:|--:|--:|")
        for c in wcodecs:
            for wl in ("wseq", "wseqz", "wrand"):
                v = writes[c][wl]
                r = v["ratio"]
                L.append("| %s | %s | %s %s | %s %s | %s | %s | %s (%s) | %s | %s | %s |" % (
                    "spf-%s.spf" % c,
                    {"wseq": "1 MiB seq write", "wseqz": "1 MiB seq write, data compress 2:1",
                     "wrand": "4 KiB random write"}[wl],
                    fmt(v["spfblk"], 0 if wl == "wrand" else 1), v["unit"],
                    fmt(v["qemu_nbd"], 0 if wl == "wrand" else 1), v["unit"], fx(r),
                    "–" if r is None else ("met" if r >= 2 else "**missed**"),
                    fmt(mib(v["overlay_file_bytes"]), 1), fmt(v["overlay_records"]),
                    fmt(v["detach_seal_s"], 2), fmt(mib(v["sealed_bytes"]), 1),
                    fmt(mib(v["qcow2_file_bytes"]), 1)))
        L.append("")
    L.append("## Targets (issues 4 and 7)")
    L.append("")
    L.append("| target | measured | goal | result | note |")
    L.append("|---|--:|---|---|---|")
    for t in T:
        L.append("| %s | %s | %s | %s | %s |" % (
            t["target"], "–" if t["value"] is None else t["value"], t["goal"],
            {True: "met", False: "**missed**", None: "not measured"}[t["met"]], t["note"]))
    if missing:
        L.append("")
        L.append("Missing runs: " + ", ".join(missing))
    with open(prefix + ".md", "w") as f:
        f.write("\n".join(L) + "\n")
    if missing:
        return 1
    if os.environ.get("BENCH_STRICT") == "1" and any(t["met"] is False for t in T):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
