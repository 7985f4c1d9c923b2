#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Inspect, patch and check SPF images (tests only).

Usage:
  spfpatch.py IMAGE show                    JSON: header, trailer, summary, index
  spfpatch.py IMAGE get FIELD...            print field values, one a line
  spfpatch.py IMAGE set [MODE] FIELD=VALUE...
  spfpatch.py IMAGE flip [MODE] WHERE...    flip the low bit of a byte
  spfpatch.py IMAGE fix [MODE]              recompute checksums and the seal
  spfpatch.py IMAGE put [MODE] N FILE       replace chunk N's stored bytes by
                                            FILE (at most as long), setting
                                            the entry's length and crc
  spfpatch.py IMAGE check [--key-file F]    conformance check of a writer's
                                            output (docs/format.md)
  spfpatch.py mkimage [--chunk-shift N] [--codec none|deflate]
              [--parent IMAGE]... [--label TEXT] SOURCE IMAGE
                                            an independent reference writer
                                            (plain images only); one --parent
                                            per chain image, top first
  spfpatch.py mkchain DIR DEPTH             a reference chain DEPTH deep
                                            (see mkchain()), and
                                            DIR/expected.raw

FIELD:
  h.NAME            header field (crypt fields by their own names: kdf_t_cost)
  t.NAME            trailer field
  s.NAME            summary field
  b[K].NAME         index block K in file order (b[-1] is the last written,
                    normally the root); b@OFFSET.NAME for the block at OFFSET
  b[K].e[I].NAME    entry I of that block (leaf or node entry)
  c[N].NAME         the leaf entry of chunk N
WHERE (flip):       a field (flips its first byte), @OFFSET (a file byte),
                    or c[N]+K (byte K of chunk N's stored data)
VALUE:              integer (0x.. ok), +N / -N (relative), ^N (xor),
                    hex:AABB.., str:TEXT, or a FIELD of this image (=copy)

MODE (after set / flip / fix):
  (default)         recompute every checksum that the change invalidates:
                    block crcs, node entry crcs, index_root_crc, summary crc,
                    header crc, trailer header_crc, seal and trailer crc.
                    Fields set explicitly on the command line are kept.
  --keep-seal       the same, but leave the seal as it was
  --raw             recompute nothing
  --data-crc        also recompute the entry crc of each chunk flipped
                    (so that corruption reaches the AEAD or decompressor)

All integers are little-endian.  Exit status 0 ok, 1 failure, 2 usage.
"""

import hashlib
import json
import os
import re
import struct
import sys
import zlib

HDR_SIZE = 4096
TRL_SIZE = 512
BLK = 4096
LEAF_ENTRIES = 84
NODE_ENTRIES = 169
MAGIC = b"\x89SPF\r\n\x1a\n"
TRL_MAGIC = b"SPF-END\n"
LEAF_MAGIC = 0x4c465053
NODE_MAGIC = 0x4e465053
SUMMARY_MAGIC = 0x53465053
SUMMARY_BITS = (BLK - 32) * 8

# name: (offset, format) ; format: struct code or "Ns" for bytes
HEADER = {
    "magic": (0, "8s"), "version": (8, "I"), "header_size": (12, "I"),
    "compat": (16, "Q"), "incompat": (24, "Q"), "disk_size": (32, "Q"),
    "chunk_shift": (40, "I"), "codec": (44, "H"), "codec_level": (46, "H"),
    "depth": (48, "I"), "reserved0": (52, "I"), "create_time": (56, "Q"),
    "uuid": (64, "16s"), "parent_uuid": (80, "16s"),
    "parent_seal": (96, "32s"), "parent_disk_size": (128, "Q"),
    "chain_uuid": (136, "16s"), "reserved1": (152, "40s"),
    "kdf": (192, "I"), "kdf_t_cost": (196, "I"), "kdf_m_cost": (200, "I"),
    "kdf_parallelism": (204, "I"), "salt": (208, "16s"),
    "wrap_nonce": (224, "12s"), "crypt_reserved0": (236, "I"),
    "wrapped_keys": (240, "64s"), "wrap_tag": (304, "16s"),
    "key_check": (320, "16s"), "crypt_reserved": (336, "112s"),
    "label": (448, "128s"), "parent_name": (576, "256s"),
    "reserved2": (832, "3260s"), "crc": (4092, "I"),
}
TRAILER = {
    "magic": (0, "8s"), "trailer_size": (8, "I"), "header_crc": (12, "I"),
    "uuid": (16, "16s"), "data_end": (32, "Q"), "index_root": (40, "Q"),
    "index_root_crc": (48, "I"), "index_levels": (52, "H"),
    "reserved0": (54, "H"), "index_offset": (56, "Q"),
    "index_blocks": (64, "Q"), "summary_offset": (72, "Q"),
    "summary_crc": (80, "I"), "reserved1": (84, "I"),
    "nr_entries": (88, "Q"), "nr_stored": (96, "Q"),
    "stored_bytes": (104, "Q"), "seal_time": (112, "Q"),
    "link_uuid": (120, "16s"), "link_seal": (136, "32s"),
    "reserved2": (168, "304s"), "seal": (472, "32s"), "reserved3": (504, "I"),
    "crc": (508, "I"),
}
BLOCK = {
    "magic": (0, "I"), "level": (4, "H"), "count": (6, "H"),
    "first_chunk": (8, "Q"), "last_chunk": (16, "Q"), "reserved": (24, "I"),
    "crc": (28, "I"),
}
SUMMARY = {
    "magic": (0, "I"), "region_shift": (4, "I"), "nr_regions": (8, "Q"),
    "reserved0": (16, "Q"), "reserved1": (24, "I"), "crc": (28, "I"),
    "bits": (32, "%ds" % (BLK - 32)),
}
LEAF_ENTRY = {
    "chunk": (0, "Q"), "offset": (8, "Q"), "length": (16, "I"),
    "crc": (20, "I"), "state": (24, "B"), "reserved": (25, "7s"),
    "digest": (32, "16s"),
}
NODE_ENTRY = {
    "first_chunk": (0, "Q"), "offset": (8, "Q"), "crc": (16, "I"),
    "reserved": (20, "I"),
}
STATES = {1: "zero", 2: "raw", 3: "compressed"}
CODECS = {0: "none", 1: "deflate", 2: "zstd", 3: "lz4"}


class Usage(Exception):
    pass


# crc32c ---------------------------------------------------------------------

def _crc_table():
    tab = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        tab.append(c)
    return tab


_TAB = _crc_table()


def _crc32c_py(data, crc=0):
    c = crc ^ 0xFFFFFFFF
    tab = _TAB
    for b in data:
        c = tab[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _native():
    """Native helpers through ctypes, when the libraries are there:
    crc32c from libext2fs (e2fsprogs), zstd and lz4 decompression."""
    import ctypes
    import ctypes.util
    libs = {}
    for name, so in (("ext2fs", "libext2fs.so.2"), ("zstd", "libzstd.so.1"),
                     ("lz4", "liblz4.so.1")):
        try:
            libs[name] = ctypes.CDLL(so)
        except OSError:
            pass
    return ctypes, libs


try:
    _ct, _LIBS = _native()
except Exception:           # no ctypes: pure python
    _ct, _LIBS = None, {}

if "ext2fs" in _LIBS:
    _e2crc = _LIBS["ext2fs"].ext2fs_crc32c_le
    _e2crc.restype = _ct.c_uint32
    _e2crc.argtypes = [_ct.c_uint32, _ct.c_char_p, _ct.c_size_t]

    def crc32c(data, crc=0):
        data = bytes(data)
        return _e2crc((crc ^ 0xFFFFFFFF) & 0xFFFFFFFF, data, len(data)) ^ 0xFFFFFFFF
else:
    crc32c = _crc32c_py


def digest(plain, key=None):
    """A chunk's content digest (docs/format.md section 3): the first 16
    bytes of BLAKE2b-512 of the plaintext, keyed with the chain's digest
    key in an encrypted image."""
    if key is not None:
        return hashlib.blake2b(plain, digest_size=64, key=key).digest()[:16]
    return hashlib.blake2b(plain, digest_size=64).digest()[:16]


def block_crc(blk):
    return crc32c(bytes(blk[:28]) + b"\0\0\0\0" + bytes(blk[32:BLK]))


# The image ---------------------------------------------------------------------

class Image:
    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.buf = bytearray(f.read())
        self.size = len(self.buf)
        if self.size < HDR_SIZE + TRL_SIZE:
            raise Usage("%s: too short for an SPF image (%d bytes)" %
                        (path, self.size))
        self.toff = self.size - TRL_SIZE
        # Layout from the trailer as it is now (before any patch).
        t = self.fields("t")
        self.index_offset = t["index_offset"]
        self.summary_offset = t["summary_offset"]
        self.blocks = []
        if (self.index_offset <= self.summary_offset <= self.toff and
                (self.summary_offset - self.index_offset) % BLK == 0):
            self.blocks = list(range(self.index_offset, self.summary_offset,
                                     BLK))
        self.explicit = set()      # (absolute offset) of fields set by hand
        self.flipped_chunks = set()

    # raw access
    def read(self, off, fmt):
        size = struct.calcsize("<" + fmt)
        if off < 0 or off + size > self.size:
            raise Usage("offset %d+%d outside the file" % (off, size))
        return struct.unpack_from("<" + fmt, self.buf, off)[0]

    def write(self, off, fmt, val):
        size = struct.calcsize("<" + fmt)
        if off < 0 or off + size > self.size:
            raise Usage("offset %d+%d outside the file" % (off, size))
        if fmt.endswith("s"):
            val = bytes(val)[:size].ljust(size, b"\0")
        struct.pack_into("<" + fmt, self.buf, off, val)

    def table(self, kind):
        return {"h": HEADER, "t": TRAILER, "s": SUMMARY}[kind]

    def base(self, kind):
        if kind == "h":
            return 0
        return self.toff if kind == "t" else self.summary_offset

    def fields(self, kind, off=None):
        tab = {"h": HEADER, "t": TRAILER, "s": SUMMARY, "b": BLOCK,
               "le": LEAF_ENTRY, "ne": NODE_ENTRY}[kind]
        if off is None:
            off = self.base(kind)
        return {n: self.read(off + o, f) for n, (o, f) in tab.items()}

    def block_at(self, off):
        return self.buf[off:off + BLK]

    def leaves(self):
        return [o for o in self.blocks if self.read(o, "I") == LEAF_MAGIC]

    def entry_of_chunk(self, n):
        for o in self.leaves():
            cnt = min(self.read(o + 6, "H"), LEAF_ENTRIES)
            for i in range(cnt):
                eo = o + 32 + 48 * i
                if self.read(eo, "Q") == n:
                    return eo
        raise Usage("no index entry for chunk %d" % n)

    # field addressing: returns (absolute offset, format)
    def locate(self, name):
        m = re.fullmatch(r"([hts])\.(\w+)", name)
        if m:
            tab = self.table(m.group(1))
            if m.group(2) not in tab:
                raise Usage("unknown field %s" % name)
            o, f = tab[m.group(2)]
            return self.base(m.group(1)) + o, f
        m = re.fullmatch(r"b(?:\[(-?\d+)\]|@(\d+))(?:\.e\[(\d+)\])?\.(\w+)",
                         name)
        if m:
            if m.group(1) is not None:
                k = int(m.group(1))
                try:
                    boff = self.blocks[k]
                except IndexError:
                    raise Usage("no index block %d (image has %d)" %
                                (k, len(self.blocks)))
            else:
                boff = int(m.group(2))
            if m.group(3) is None:
                tab, o = BLOCK, boff
            else:
                i = int(m.group(3))
                leaf = self.read(boff + 4, "H") == 0
                tab = LEAF_ENTRY if leaf else NODE_ENTRY
                o = boff + 32 + (48 if leaf else 24) * i
            if m.group(4) not in tab:
                raise Usage("unknown field %s" % name)
            fo, f = tab[m.group(4)]
            return o + fo, f
        m = re.fullmatch(r"c\[(\d+)\]\.(\w+)", name)
        if m:
            eo = self.entry_of_chunk(int(m.group(1)))
            if m.group(2) not in LEAF_ENTRY:
                raise Usage("unknown field %s" % name)
            fo, f = LEAF_ENTRY[m.group(2)]
            return eo + fo, f
        raise Usage("bad field name %r" % name)

    def get(self, name):
        off, fmt = self.locate(name)
        return self.read(off, fmt)

    def set(self, name, value):
        off, fmt = self.locate(name)
        old = self.read(off, fmt)
        if fmt.endswith("s"):
            if value.startswith("hex:"):
                val = bytes.fromhex(value[4:])
            elif value.startswith("str:"):
                val = value[4:].encode()
            elif re.fullmatch(r"[hbtsc][\[\]@.\w-]*", value):
                val = self.get(value)
            else:
                raise Usage("bytes field %s needs hex:, str: or a field" % name)
        else:
            m = re.fullmatch(r"([+^-]?)(0x[0-9a-fA-F]+|\d+)", value)
            if m:
                v = int(m.group(2), 0)
                val = {"": v, "+": old + v, "-": old - v,
                       "^": old ^ v}[m.group(1)]
            else:
                val = self.get(value)
            bits = 8 * struct.calcsize("<" + fmt)
            val &= (1 << bits) - 1
        self.write(off, fmt, val)
        self.explicit.add(off)

    def flip(self, where):
        m = re.fullmatch(r"@(\d+)", where)
        if m:
            off = int(m.group(1))
        else:
            m = re.fullmatch(r"c\[(\d+)\]\+(\d+)", where)
            if m:
                eo = self.entry_of_chunk(int(m.group(1)))
                length = self.read(eo + 16, "I")
                k = int(m.group(2))
                if k >= length:
                    raise Usage("chunk %s has only %d stored bytes" %
                                (m.group(1), length))
                off = self.read(eo + 8, "Q") + k
                self.flipped_chunks.add(eo)
            else:
                off, _ = self.locate(where)
                self.explicit.add(off)
        if not 0 <= off < self.size:
            raise Usage("offset %d outside the file" % off)
        self.buf[off] ^= 1

    # checksums
    def fix(self, seal=True, data_crc=False):
        ex = self.explicit
        if data_crc:
            for eo in self.flipped_chunks:
                doff, length = self.read(eo + 8, "Q"), self.read(eo + 16, "I")
                if eo + 20 not in ex:
                    self.write(eo + 20, "I", crc32c(self.buf[doff:doff + length]))
        # Index blocks in file order: children come before their parents.
        crcs = {}
        for o in self.blocks:
            magic = self.read(o, "I")
            if magic == NODE_MAGIC:
                cnt = min(self.read(o + 6, "H"), NODE_ENTRIES)
                for i in range(cnt):
                    eo = o + 32 + 24 * i
                    child = self.read(eo + 8, "Q")
                    if child in crcs and eo + 16 not in ex:
                        self.write(eo + 16, "I", crcs[child])
            if magic in (LEAF_MAGIC, NODE_MAGIC) and o + 28 not in ex:
                self.write(o + 28, "I", block_crc(self.block_at(o)))
            crcs[o] = self.read(o + 28, "I")
        t = self.toff
        root = self.read(t + 40, "Q")
        if t + 48 not in ex and root + BLK <= self.toff and root >= HDR_SIZE:
            self.write(t + 48, "I", block_crc(self.block_at(root)))
        so = self.summary_offset
        if (so + BLK <= self.toff and self.read(so, "I") == SUMMARY_MAGIC):
            if so + 28 not in ex:
                self.write(so + 28, "I", block_crc(self.block_at(so)))
            if t + 80 not in ex:
                self.write(t + 80, "I", self.read(so + 28, "I"))
        if 4092 not in ex:
            self.write(4092, "I", crc32c(self.buf[:4092]))
        if t + 12 not in ex:
            self.write(t + 12, "I", self.read(4092, "I"))
        if seal and t + 472 not in ex:
            self.write(t + 472, "32s", self.seal())
        if t + 508 not in ex:
            self.write(t + 508, "I", crc32c(self.buf[t:t + 508]))

    def seal(self):
        return hashlib.sha256(bytes(self.buf[:HDR_SIZE]) +
                              bytes(self.buf[self.toff:self.toff + 472])).digest()

    def save(self):
        with open(self.path, "r+b") as f:
            f.write(self.buf)

    # a JSON-able view
    def show(self):
        def conv(d):
            return {k: (v.hex() if isinstance(v, bytes) else v)
                    for k, v in d.items() if not k.startswith("reserved")
                    and k not in ("bits", "crypt_reserved")}
        h = conv(self.fields("h"))
        h["label"] = self.get("h.label").rstrip(b"\0").decode("utf-8", "replace")
        h["parent_name"] = self.get("h.parent_name").rstrip(b"\0").decode(
            "utf-8", "replace")
        out = {"file_size": self.size, "header": h,
               "trailer": conv(self.fields("t")), "blocks": []}
        if self.summary_offset + BLK <= self.toff:
            s = self.fields("s")
            out["summary"] = conv(s)
            out["summary"]["set_regions"] = [
                r for r in range(min(s["nr_regions"], SUMMARY_BITS))
                if s["bits"][r // 8] & (1 << (r % 8))]
        for o in self.blocks:
            b = conv(self.fields("b", o))
            b["offset"] = o
            ents = []
            leaf = b["magic"] == LEAF_MAGIC
            cnt = min(b["count"], LEAF_ENTRIES if leaf else NODE_ENTRIES)
            for i in range(cnt):
                if leaf:
                    ents.append(conv(self.fields("le", o + 32 + 48 * i)))
                else:
                    ents.append(conv(self.fields("ne", o + 32 + 24 * i)))
            b["entries"] = ents
            out["blocks"].append(b)
        return out


# Conformance check -------------------------------------------------------------

def decompress(codec, data, cs):
    if codec == 0:
        return data
    if codec == 1:
        return zlib.decompress(data)
    if codec == 2:
        if "zstd" in _LIBS:
            f = _LIBS["zstd"].ZSTD_decompress
            f.restype = _ct.c_size_t
            f.argtypes = [_ct.c_char_p, _ct.c_size_t, _ct.c_char_p, _ct.c_size_t]
            out = _ct.create_string_buffer(cs + 1)
            n = f(out, cs + 1, data, len(data))
            if n > cs + 1:          # an error code
                raise ValueError("zstd error")
            return out.raw[:n]
        try:
            import zstandard
            return zstandard.ZstdDecompressor().decompress(data)
        except ImportError:
            import subprocess
            return subprocess.run(["zstd", "-q", "-d", "-c"], input=data,
                                  stdout=subprocess.PIPE, check=True).stdout
    if codec == 3:
        if "lz4" in _LIBS:
            f = _LIBS["lz4"].LZ4_decompress_safe
            f.restype = _ct.c_int
            f.argtypes = [_ct.c_char_p, _ct.c_char_p, _ct.c_int, _ct.c_int]
            out = _ct.create_string_buffer(cs + 1)
            n = f(data, out, len(data), cs + 1)
            if n < 0:
                raise ValueError("lz4 error")
            return out.raw[:n]
        try:
            import lz4.block
            return lz4.block.decompress(data, uncompressed_size=cs)
        except ImportError:
            return None
    return None


def unwrap_keys(img, passphrase):
    """Return (data_key, digest_key), or None if the crypto modules lack."""
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
    except ImportError:
        return None
    h = img.fields("h")
    kdf = Argon2id(salt=h["salt"], length=32, iterations=h["kdf_t_cost"],
                   lanes=h["kdf_parallelism"], memory_cost=h["kdf_m_cost"])
    kek = kdf.derive(passphrase)
    keys = AESGCM(kek).decrypt(h["wrap_nonce"],
                               h["wrapped_keys"] + h["wrap_tag"], h["uuid"])
    return keys[:32], keys[32:]


def check(img, key_file=None):
    errs = []

    def err(msg):
        errs.append(msg)

    buf = img.buf
    h = img.fields("h")
    t = img.fields("t")
    if h["magic"] != MAGIC:
        err("header magic")
    if h["version"] != 1 or h["header_size"] != HDR_SIZE:
        err("header version/size")
    if h["crc"] != crc32c(buf[:4092]):
        err("header crc")
    label = h["label"].rstrip(b"\0")
    pname = h["parent_name"].rstrip(b"\0")
    if bool(h["compat"] & 1) != bool(label):
        err("compat LABEL bit (%d) does not match the label %r" %
            (h["compat"] & 1, label))
    if bool(h["compat"] & 2) != bool(pname):
        err("compat PARENT_NAME bit does not match parent_name %r" % pname)
    if h["compat"] & ~3:
        err("unknown compat bits 0x%x" % h["compat"])
    enc = bool(h["incompat"] & 1)
    if h["incompat"] & ~1:
        err("incompat 0x%x on an ordinary image" % h["incompat"])
    crypt = buf[192:448]
    if not enc and any(crypt):
        err("crypt area not zero on a plain image")
    if enc and (h["kdf"] != 1 or not any(h["salt"]) or not any(h["wrap_nonce"])):
        err("encrypted image without kdf/salt/nonce")
    if any(h["reserved1"]) or any(h["reserved2"]) or h["reserved0"]:
        err("header reserved bytes not zero")
    if h["disk_size"] == 0 or h["disk_size"] % 512:
        err("disk_size %d" % h["disk_size"])
    cs = 1 << h["chunk_shift"] if 12 <= h["chunk_shift"] <= 20 else None
    if cs is None:
        err("chunk_shift %d" % h["chunk_shift"])
        return errs
    nr_chunks = (h["disk_size"] + cs - 1) // cs
    if h["uuid"][6] >> 4 != 4 or h["uuid"][8] >> 6 != 2:
        err("uuid %s is not a random (v4) uuid" % h["uuid"].hex())
    if h["depth"] == 0:
        if h["chain_uuid"] != h["uuid"]:
            err("full image: chain_uuid != uuid")
        if any(h["parent_uuid"]) or any(h["parent_seal"]) or h["parent_disk_size"]:
            err("full image with parent fields")
        if pname:
            err("full image with a parent name")
    else:
        if not any(h["parent_uuid"]) or not any(h["parent_seal"]):
            err("incremental without parent uuid/seal")
        if not h["parent_disk_size"] or h["parent_disk_size"] > h["disk_size"]:
            err("parent_disk_size %d" % h["parent_disk_size"])
    if h["codec"] > 3:
        err("codec %d" % h["codec"])

    # trailer
    to = img.toff
    if t["magic"] != TRL_MAGIC or t["trailer_size"] != TRL_SIZE:
        err("trailer magic/size")
    if t["crc"] != crc32c(buf[to:to + 508]):
        err("trailer crc")
    if t["header_crc"] != h["crc"] or t["uuid"] != h["uuid"]:
        err("trailer header_crc/uuid copy")
    if t["seal"] != img.seal():
        err("seal")
    if any(t["link_uuid"]) or any(t["link_seal"]):
        err("link identity set on an ordinary image")
    if any(t["reserved2"]) or t["reserved0"] or t["reserved1"] or t["reserved3"]:
        err("trailer reserved bytes not zero")
    if img.size != t["summary_offset"] + BLK + TRL_SIZE:
        err("file size %d != summary_offset + 4096 + 512" % img.size)
    if t["index_offset"] != t["data_end"]:
        err("index_offset %d != data_end %d" % (t["index_offset"],
                                               t["data_end"]))
    if t["index_offset"] + BLK * t["index_blocks"] != t["summary_offset"]:
        err("index blocks do not end at the summary")
    if t["data_end"] != HDR_SIZE + t["stored_bytes"]:
        err("data_end %d != 4096 + stored_bytes %d" % (t["data_end"],
                                                      t["stored_bytes"]))

    # keys for an encrypted image
    keys = None
    if enc and key_file:
        with open(key_file, "rb") as f:
            pw = f.read()
        if pw.endswith(b"\n"):
            pw = pw[:-1]
        try:
            keys = unwrap_keys(img, pw)
        except Exception as e:  # InvalidTag
            err("cannot unwrap the keys with %s: %r" % (key_file, e))
        if keys:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
            kc = AESGCM(keys[0]).encrypt(b"\xff" * 12, b"", h["uuid"])
            if kc != h["key_check"]:
                err("key_check is not GCM(data key, ff*12, uuid) of ''")

    # index: walk the blocks level by level
    entries = []
    levels = []
    blocks = img.blocks
    if len(blocks) != t["index_blocks"]:
        err("index_blocks %d, %d blocks between index and summary" %
            (t["index_blocks"], len(blocks)))
    level_of = {}
    info = {}
    for o in blocks:
        b = img.fields("b", o)
        if b["crc"] != block_crc(img.block_at(o)):
            err("block at %d: crc" % o)
        if b["reserved"] or any(img.buf[o + 32 + (48 if b["level"] == 0 else 24) *
                                        b["count"]:o + BLK]):
            err("block at %d: reserved or unused bytes not zero" % o)
        level_of[o] = b["level"]
        info[o] = b
        if b["level"] == 0:
            if b["magic"] != LEAF_MAGIC or not 1 <= b["count"] <= LEAF_ENTRIES:
                err("leaf at %d: magic/count" % o)
                continue
            ents = [img.fields("le", o + 32 + 48 * i) for i in range(b["count"])]
            if ents[0]["chunk"] != b["first_chunk"] or \
                    ents[-1]["chunk"] != b["last_chunk"]:
                err("leaf at %d: first/last chunk" % o)
            entries.extend(ents)
        else:
            if b["magic"] != NODE_MAGIC or not 1 <= b["count"] <= NODE_ENTRIES:
                err("node at %d: magic/count" % o)
                continue
            ne = [img.fields("ne", o + 32 + 24 * i) for i in range(b["count"])]
            for e in ne:
                c = e["offset"]
                if c not in info:
                    err("node at %d: child %d not an earlier block" % (o, c))
                    continue
                if info[c]["level"] != b["level"] - 1:
                    err("node at %d: child %d level" % (o, c))
                if e["crc"] != info[c]["crc"] or \
                        e["first_chunk"] != info[c]["first_chunk"]:
                    err("node at %d: child %d crc/first_chunk" % (o, c))
                if e["reserved"]:
                    err("node at %d: entry reserved" % o)
            if ne[0]["first_chunk"] != b["first_chunk"] or \
                    info.get(ne[-1]["offset"], {}).get("last_chunk") != b["last_chunk"]:
                err("node at %d: first/last chunk" % o)
        if not levels or levels[-1] != b["level"]:
            levels.append(b["level"])
    if levels != list(range(len(levels))):
        err("index levels in file order: %s (leaves first, then each level)" %
            levels)
    if t["nr_entries"]:
        if not blocks or t["index_root"] != blocks[-1]:
            err("index_root %d is not the last index block" % t["index_root"])
        elif t["index_root_crc"] != info[blocks[-1]]["crc"]:
            err("index_root_crc")
        if t["index_levels"] != len(levels):
            err("index_levels %d, index has %d levels" %
                (t["index_levels"], len(levels)))
        # every level but the root packs full blocks but for its last one
        for lv in levels:
            at = [o for o in blocks if level_of[o] == lv]
            cap = LEAF_ENTRIES if lv == 0 else NODE_ENTRIES
            if any(info[o]["count"] != cap for o in at[:-1]):
                err("level %d: blocks not packed full" % lv)
            if lv == levels[-1] and len(at) != 1:
                err("top level has %d blocks" % len(at))
    elif t["index_levels"] or t["index_blocks"] or t["index_root"]:
        err("image without entries but with an index")
    if len(entries) != t["nr_entries"]:
        err("nr_entries %d, index has %d" % (t["nr_entries"], len(entries)))

    # entries and data
    pos = HDR_SIZE
    prev = -1
    stored = 0
    nbytes = 0
    maxlen = cs + (16 if enc else 0)
    dkey = keys[0] if keys else None
    undecoded = 0
    for e in entries:
        n = e["chunk"]
        if n <= prev:
            err("chunk %d after %d: not strictly increasing" % (n, prev))
        prev = n
        if n >= nr_chunks:
            err("chunk %d past the disk (%d chunks)" % (n, nr_chunks))
        if any(e["reserved"]):
            err("chunk %d: reserved bytes" % n)
        st = e["state"]
        if st == 1:
            if h["depth"] == 0:
                err("chunk %d: ZERO entry in a full image (should be absent)" % n)
            if e["offset"] or e["length"] or e["crc"] or any(e["digest"]):
                err("chunk %d: ZERO entry with offset/length/crc/digest" % n)
            continue
        if st not in (2, 3):
            err("chunk %d: state %d" % (n, st))
            continue
        stored += 1
        nbytes += e["length"]
        if e["offset"] != pos:
            err("chunk %d at %d, expected %d (records back to back, in order)" %
                (n, e["offset"], pos))
        pos = e["offset"] + e["length"]
        if st == 2 and e["length"] != maxlen:
            err("chunk %d: raw length %d" % (n, e["length"]))
        if st == 3 and (h["codec"] == 0 or e["length"] >= maxlen):
            err("chunk %d: compressed length %d" % (n, e["length"]))
        data = bytes(buf[e["offset"]:e["offset"] + e["length"]])
        if crc32c(data) != e["crc"]:
            err("chunk %d: crc of stored bytes" % n)
            continue
        if enc:
            if dkey is None:
                undecoded += 1
                continue
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
            try:
                data = AESGCM(dkey).decrypt(struct.pack("<Q", n) + b"\0" * 4,
                                            data,
                                            h["uuid"] + struct.pack("<Q", n))
            except Exception:
                err("chunk %d: GCM open with nonce le64(chunk)||0000, "
                    "aad uuid||le64(chunk) fails" % n)
                continue
        try:
            plain = data if st == 2 else decompress(h["codec"], data, cs)
        except Exception as e:
            err("chunk %d: does not decompress with %s: %s" %
                (n, CODECS.get(h["codec"]), e))
            continue
        if plain is None:
            undecoded += 1
            continue
        if len(plain) != cs:
            err("chunk %d: plaintext of %d bytes, not %d" % (n, len(plain), cs))
            continue
        dig = digest(plain, keys[1] if enc else None)
        if dig != e["digest"]:
            err("chunk %d: digest is not %s of the plaintext" %
                (n, "keyed BLAKE2b-512" if enc else "BLAKE2b-512"))
        if h["depth"] == 0 and not any(plain):
            err("chunk %d: all-zero chunk stored in a full image" % n)
        if n == nr_chunks - 1 and h["disk_size"] % cs and \
                any(plain[h["disk_size"] % cs:]):
            err("chunk %d: padding past disk_size not zero" % n)
        if st == 3 and h["codec"] == 0:
            err("chunk %d: compressed with codec none" % n)
    if pos != t["data_end"]:
        err("data ends at %d, data_end %d" % (pos, t["data_end"]))
    if stored != t["nr_stored"] or nbytes != t["stored_bytes"]:
        err("nr_stored/stored_bytes %d/%d, index says %d/%d" %
            (t["nr_stored"], t["stored_bytes"], stored, nbytes))

    # summary
    so = t["summary_offset"]
    if so + BLK <= img.toff:
        s = img.fields("s", so)
        if s["magic"] != SUMMARY_MAGIC or s["crc"] != block_crc(img.block_at(so)) \
                or t["summary_crc"] != s["crc"]:
            err("summary magic/crc")
        shift = 0
        while (nr_chunks + (1 << shift) - 1) >> shift > SUMMARY_BITS:
            shift += 1
        regions = (nr_chunks + (1 << shift) - 1) >> shift
        if s["region_shift"] != shift or s["nr_regions"] != regions:
            err("summary shift/regions %d/%d, expected %d/%d" %
                (s["region_shift"], s["nr_regions"], shift, regions))
        want = bytearray(BLK - 32)
        for e in entries:
            r = e["chunk"] >> shift
            if r < SUMMARY_BITS:
                want[r // 8] |= 1 << (r % 8)
        if bytes(want) != s["bits"]:
            err("summary bits do not match the entries")
        if s["reserved0"] or s["reserved1"]:
            err("summary reserved")
    return errs, undecoded


# Reference writer -------------------------------------------------------------

def _uuid4():
    u = bytearray(os.urandom(16))
    u[6] = (u[6] & 0x0F) | 0x40
    u[8] = (u[8] & 0x3F) | 0x80
    return bytes(u)


def _chain_lookup(chain, n):
    """What the chain (top first) holds for chunk n: None (zeros) or digest."""
    for img, ents in chain:
        if n in ents:
            st, dig = ents[n]
            return None if st == 1 else dig
    return None


def mkimage(argv):
    shift, codec, parents, label = 16, 0, [], b""
    args = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--chunk-shift":
            shift = int(argv[i + 1]); i += 2
        elif a == "--codec":
            codec = {"none": 0, "deflate": 1}[argv[i + 1]]; i += 2
        elif a == "--parent":
            parents.append(argv[i + 1]); i += 2
        elif a == "--label":
            label = argv[i + 1].encode(); i += 2
        else:
            args.append(a); i += 1
    if len(args) != 2:
        raise Usage("mkimage needs SOURCE IMAGE")
    src, out = args
    cs = 1 << shift
    with open(src, "rb") as f:
        data = f.read()
    disk_size = (len(data) + 511) // 512 * 512
    nr_chunks = (disk_size + cs - 1) // cs
    chain = []
    for p in parents:
        pi = Image(p)
        ents = {}
        for o in pi.leaves():
            for k in range(pi.read(o + 6, "H")):
                e = pi.fields("le", o + 32 + 48 * k)
                ents[e["chunk"]] = (e["state"], e["digest"])
        chain.append((pi, ents))
    par = None
    if parents:
        top = chain[0][0]
        par = {"uuid": top.get("h.uuid"), "seal": top.get("t.seal"),
               "disk_size": top.get("h.disk_size"),
               "chain_uuid": top.get("h.chain_uuid"),
               "depth": top.get("h.depth"),
               "name": os.path.basename(parents[0])}
    chunks = []
    for n in range(nr_chunks):
        plain = data[n * cs:(n + 1) * cs].ljust(cs, b"\0")
        zero = not any(plain)
        if parents:
            below = _chain_lookup(chain, n) if n < (
                (par["disk_size"] + cs - 1) // cs) else None
            if zero and below is None:
                continue
            if zero:
                chunks.append((n, None))
                continue
            if below == digest(plain):
                continue
        elif zero:
            continue
        chunks.append((n, plain))
    build_image(out, disk_size, shift, codec, chunks, par, label)
    return 0


def build_image(out, disk_size, shift, codec, chunks, parent=None, label=b""):
    """Write a plain image: @chunks is a list of (chunk, plaintext), in
    order, plaintext None for a ZERO entry; @parent a dict (uuid, seal,
    disk_size, chain_uuid, depth, name) or None.  Returns (uuid, seal)."""
    cs = 1 << shift
    nr_chunks = (disk_size + cs - 1) // cs
    uuid = _uuid4()
    now = int(__import__("time").time())
    hdr = bytearray(HDR_SIZE)
    struct.pack_into("<8sIIQQQIHHI", hdr, 0, MAGIC, 1, HDR_SIZE,
                     (1 if label else 0) | (2 if parent else 0), 0,
                     disk_size, shift, codec, 6 if codec else 0,
                     parent["depth"] + 1 if parent else 0)
    struct.pack_into("<Q16s", hdr, 56, now, uuid)
    if parent:
        hdr[80:96] = parent["uuid"]
        hdr[96:128] = parent["seal"]
        struct.pack_into("<Q", hdr, 128, parent["disk_size"])
        hdr[136:152] = parent["chain_uuid"]
        pn = parent["name"].encode()[:255]
        hdr[576:576 + len(pn)] = pn
    else:
        hdr[136:152] = uuid
    hdr[448:448 + len(label[:127])] = label[:127]
    struct.pack_into("<I", hdr, 4092, crc32c(hdr[:4092]))

    body = bytearray()
    entries = []
    for n, plain in chunks:
        if plain is None:
            entries.append((n, 0, 0, 0, 1, b"\0" * 16))
            continue
        st, payload = 2, plain
        if codec == 1:
            c = zlib.compress(plain, 6)
            if len(c) < cs:
                st, payload = 3, c
        entries.append((n, HDR_SIZE + len(body), len(payload), crc32c(payload),
                        st, digest(plain)))
        body += payload
    data_end = HDR_SIZE + len(body)
    index = bytearray()
    level_items = []   # (first_chunk, last_chunk, offset, crc)
    for k in range(0, len(entries), LEAF_ENTRIES):
        part = entries[k:k + LEAF_ENTRIES]
        blk = bytearray(BLK)
        struct.pack_into("<IHHQQ", blk, 0, LEAF_MAGIC, 0, len(part),
                         part[0][0], part[-1][0])
        for j, (n, off, ln, c, st, dig) in enumerate(part):
            struct.pack_into("<QQIIB7x16s", blk, 32 + 48 * j, n, off, ln, c,
                             st, dig)
        crc = block_crc(blk)
        struct.pack_into("<I", blk, 28, crc)
        level_items.append((part[0][0], part[-1][0], data_end + len(index), crc))
        index += blk
    levels = 1 if level_items else 0
    while len(level_items) > 1:
        nxt = []
        for k in range(0, len(level_items), NODE_ENTRIES):
            part = level_items[k:k + NODE_ENTRIES]
            blk = bytearray(BLK)
            struct.pack_into("<IHHQQ", blk, 0, NODE_MAGIC, levels, len(part),
                             part[0][0], part[-1][1])
            for j, (fc, lc, off, c) in enumerate(part):
                struct.pack_into("<QQI4x", blk, 32 + 24 * j, fc, off, c)
            crc = block_crc(blk)
            struct.pack_into("<I", blk, 28, crc)
            nxt.append((part[0][0], part[-1][1], data_end + len(index), crc))
            index += blk
        level_items = nxt
        levels += 1
    rs = 0
    while (nr_chunks + (1 << rs) - 1) >> rs > SUMMARY_BITS:
        rs += 1
    summ = bytearray(BLK)
    struct.pack_into("<IIQ", summ, 0, SUMMARY_MAGIC, rs,
                     (nr_chunks + (1 << rs) - 1) >> rs)
    for e in entries:
        r = e[0] >> rs
        summ[32 + r // 8] |= 1 << (r % 8)
    scrc = block_crc(summ)
    struct.pack_into("<I", summ, 28, scrc)
    summary_offset = data_end + len(index)
    trl = bytearray(TRL_SIZE)
    root, rcrc = (level_items[0][2], level_items[0][3]) if level_items else (0, 0)
    struct.pack_into("<8sII16sQQIHHQQQIIQQQQ", trl, 0, TRL_MAGIC, TRL_SIZE,
                     struct.unpack_from("<I", hdr, 4092)[0], uuid, data_end,
                     root, rcrc, levels, 0, data_end, len(index) // BLK,
                     summary_offset, scrc, 0, len(entries),
                     sum(1 for e in entries if e[4] != 1), len(body), now)
    seal = hashlib.sha256(bytes(hdr) + bytes(trl[:472])).digest()
    trl[472:504] = seal
    struct.pack_into("<I", trl, 508, crc32c(trl[:508]))
    with open(out, "wb") as f:
        f.write(hdr + body + index + summ + trl)
    return uuid, seal


def mkchain(argv):
    """mkchain DIR DEPTH: DIR/0.spf .. DIR/DEPTH.spi, a chain over a 64 KiB
    disk of 4 KiB chunks where level i rewrites chunk i % 16 (every 7th
    level zeroes it), and DIR/expected.raw, the top's disk.  Each level is
    written from the previous one's identity alone, so a deep chain takes
    seconds."""
    if len(argv) != 2:
        raise Usage("mkchain needs DIR DEPTH")
    d, depth = argv[0], int(argv[1])
    shift, disk_size = 12, 65536
    cs = 1 << shift
    disk = bytearray(disk_size)
    for n in range(16):
        disk[n * cs:(n + 1) * cs] = (b"level 0 chunk %2d " % n) * (cs // 17) + \
            b"x" * (cs % 17)
    uuid, seal = build_image("%s/0.spf" % d, disk_size, shift, 1,
                             [(n, bytes(disk[n * cs:(n + 1) * cs]))
                              for n in range(16)])
    chain_uuid, name = uuid, "0.spf"
    for i in range(1, depth + 1):
        n = i % 16
        if i % 7 == 0 and any(disk[n * cs:(n + 1) * cs]):
            plain = None
            disk[n * cs:(n + 1) * cs] = bytes(cs)
        else:
            plain = ((b"level %d chunk %d " % (i, n)) * cs)[:cs]
            disk[n * cs:(n + 1) * cs] = plain
        par = {"uuid": uuid, "seal": seal, "disk_size": disk_size,
               "chain_uuid": chain_uuid, "depth": i - 1, "name": name}
        name = "%d.spi" % i
        uuid, seal = build_image("%s/%s" % (d, name), disk_size, shift,
                                 1, [(n, plain)], par)
    with open("%s/expected.raw" % d, "wb") as f:
        f.write(disk)
    return 0


# main -----------------------------------------------------------------------------

def main(argv):
    if len(argv) < 3 or argv[1] in ("-h", "--help"):
        sys.stdout.write(__doc__)
        return 0 if len(argv) > 1 and argv[1] in ("-h", "--help") else 2
    if argv[1] == "mkimage":
        return mkimage(argv[2:])
    if argv[1] == "mkchain":
        return mkchain(argv[2:])
    path, cmd, args = argv[1], argv[2], argv[3:]
    img = Image(path)
    if cmd == "show":
        json.dump(img.show(), sys.stdout, indent=1)
        print()
        return 0
    if cmd == "get":
        for name in args:
            v = img.get(name)
            print(v.hex() if isinstance(v, bytes) else v)
        return 0
    if cmd == "check":
        key = None
        if args[:1] == ["--key-file"]:
            key = args[1]
        errs, undecoded = check(img, key)
        for e in errs:
            print("%s: %s" % (path, e))
        if undecoded:
            print("%s: note: %d chunks not decoded (no codec/key in python)" %
                  (path, undecoded), file=sys.stderr)
        return 1 if errs else 0
    if cmd in ("set", "flip", "fix", "put"):
        mode = {"seal": True, "raw": False, "data_crc": False}
        ops = []
        for a in args:
            if a == "--keep-seal":
                mode["seal"] = False
            elif a == "--raw":
                mode["raw"] = True
            elif a == "--data-crc":
                mode["data_crc"] = True
            else:
                ops.append(a)
        for op in ops:
            if cmd == "set":
                name, eq, value = op.partition("=")
                if not eq:
                    raise Usage("set needs FIELD=VALUE, got %r" % op)
                img.set(name, value)
            elif cmd == "flip":
                img.flip(op)
        if cmd == "put":
            if len(ops) != 2:
                raise Usage("put needs CHUNK FILE")
            eo = img.entry_of_chunk(int(ops[0]))
            with open(ops[1], "rb") as f:
                data = f.read()
            doff, length = img.read(eo + 8, "Q"), img.read(eo + 16, "I")
            if len(data) > length:
                raise Usage("%d bytes do not fit in chunk %s's %d" %
                            (len(data), ops[0], length))
            img.buf[doff:doff + len(data)] = data
            img.write(eo + 16, "I", len(data))
            img.write(eo + 20, "I", crc32c(data))
        if not mode["raw"]:
            img.fix(seal=mode["seal"], data_crc=mode["data_crc"])
        img.save()
        return 0
    raise Usage("unknown command %r" % cmd)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Usage as e:
        print("spfpatch: %s" % e, file=sys.stderr)
        sys.exit(2)
