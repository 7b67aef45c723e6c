#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Regenerates the seed corpora in tests/fuzz/corpus/<target>/ (docs/testing.md,
"Fuzzing"). Deterministic and stdlib-only: zstd and lz4 streams are built by
hand (raw / literal-only blocks), gzip, bzip2, xz and lzma by Python's modules
with fixed settings. Each seed starts with the configuration bytes its fuzz
target reads first (see the comment at the top of each fuzz_<target>.c).

    python3 tests/fuzz/make_seeds.py            # rewrite the generated seeds
    python3 tests/fuzz/make_seeds.py --check    # fail if they are out of date
"""
import argparse
import bz2
import gzip
import lzma
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------- images ----

HLT_LOOP = b"\xfa\xf4\xeb\xfd"  # cli; hlt; jmp hlt


def elf64(entry, segments, notes=None):
    """ET_EXEC x86-64 image: segments = [(paddr, vaddr, data, memsz)], notes = bytes."""
    phnum = len(segments) + (1 if notes else 0)
    off = 64 + 56 * phnum
    body, phdrs = b"", b""
    for paddr, vaddr, data, memsz in segments:
        phdrs += struct.pack("<IIQQQQQQ", 1, 7, off + len(body), vaddr, paddr, len(data), memsz, 0x1000)
        body += data
    if notes:
        phdrs += struct.pack("<IIQQQQQQ", 4, 4, off + len(body), 0, 0, len(notes), len(notes), 4)
        body += notes
    ehdr = b"\x7fELF\x02\x01\x01" + bytes(9)
    ehdr += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, entry, 64, 0, 0, 64, 56, phnum, 0, 0, 0)
    return ehdr + phdrs + body


def elf32(entry, segments, machine=3):
    off = 52 + 32 * len(segments)
    body, phdrs = b"", b""
    for paddr, vaddr, data, memsz in segments:
        phdrs += struct.pack("<IIIIIIII", 1, off + len(body), vaddr, paddr, len(data), memsz, 7, 0x1000)
        body += data
    ehdr = b"\x7fELF\x01\x01\x01" + bytes(9)
    ehdr += struct.pack("<HHIIIIIHHHHHH", 2, machine, 1, entry, 52, 0, 0, 52, 32, len(segments), 0, 0, 0)
    return ehdr + phdrs + body


def note(name, ntype, desc):
    name += b"\0"
    pad = lambda b: b + bytes(-len(b) % 4)  # noqa: E731
    return struct.pack("<III", len(name), len(desc), ntype) + pad(name) + pad(desc)


def multiboot_header(flags, aout=None):
    magic = 0x1BADB002
    h = struct.pack("<III", magic, flags, (-(magic + flags)) & 0xFFFFFFFF)
    if aout:
        h += struct.pack("<IIIII", *aout)
    return h


def multiboot_aout():
    """The a.out kludge: flags bit 16, loaded at 1 MiB straight from the file."""
    load = 0x100000
    hdr = multiboot_header(0x00010003, (load, load, 0, load + 0x2000, load + 32))
    return hdr + HLT_LOOP + bytes(16)


def multiboot_elf32():
    code = multiboot_header(0x00000003) + HLT_LOOP
    return elf32(0x100000 + 12, [(0x100000, 0x100000, code, 0x1000)])


def vmlinux():
    """A 64-bit kernel as Linux links it: virtual entry, physical load address."""
    return elf64(0xFFFFFFFF81000000, [(0x1000000, 0xFFFFFFFF81000000, HLT_LOOP * 16, 0x2000)])


def pvh_elf64():
    return elf64(0x1000000, [(0x1000000, 0x1000000, HLT_LOOP * 4, 0x1000)],
                 notes=note(b"Xen", 18, struct.pack("<I", 0x1000004)))


# ------------------------------------------------------- compressed data ----

def lz4_legacy(data):
    """Legacy frame with one literal-only block (valid LZ4: the last sequence is literals)."""
    n = len(data)
    block = bytes([min(n, 15) << 4])
    if n >= 15:
        rest = n - 15
        block += b"\xff" * (rest // 255) + bytes([rest % 255])
    block += data
    return struct.pack("<I", 0x184C2102) + struct.pack("<I", len(block)) + block


def zstd_raw(data):
    """One frame, single segment, one raw block, no checksum."""
    assert len(data) < 256 + 65536
    if len(data) < 256:
        hdr = bytes([0x20, len(data)])
    else:
        hdr = bytes([0x60]) + struct.pack("<H", len(data) - 256)
    block = struct.pack("<I", 1 | len(data) << 3)[:3]
    return struct.pack("<I", 0xFD2FB528) + hdr + block + data


def compressors():
    return {
        "gzip": lambda d: gzip.compress(d, 9, mtime=0),
        "bzip2": lambda d: bz2.compress(d, 9),
        "lzma": lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE, preset=6),
        "xz": lambda d: lzma.compress(d, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32, preset=6),
        "lz4": lz4_legacy,
        "zstd": zstd_raw,
    }


# ---------------------------------------------------------------- bzImage ----

def bzimage(payload, version=0x020F, relocatable=1, xlf=1, init_size=0x100000, setup_sects=1,
            pm_prefix=b"\x90" * 0x100):
    """A bzImage: setup sectors with the header, then the protected-mode part, whose
    payload (compressed vmlinux and its 4-byte size, as the kernel build appends it)
    follows a stand-in for the kernel's own decompressor."""
    setup = bytearray((setup_sects + 1) * 512)
    struct.pack_into("<B", setup, 0x1F1, setup_sects)
    struct.pack_into("<H", setup, 0x1FE, 0xAA55)
    setup[0x200], setup[0x201] = 0xEB, 0x26C - 0x202
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, version)
    setup[0x211] = 0x01  # LOADED_HIGH
    struct.pack_into("<I", setup, 0x22C, 0x7FFFFFFF)  # initrd_addr_max
    struct.pack_into("<I", setup, 0x230, 0x200000)  # kernel_alignment
    setup[0x234] = relocatable
    struct.pack_into("<H", setup, 0x236, xlf)
    struct.pack_into("<I", setup, 0x238, 2047)  # cmdline_size
    if payload:
        struct.pack_into("<II", setup, 0x248, len(pm_prefix), len(payload))
    struct.pack_into("<Q", setup, 0x258, 0x1000000)  # pref_address
    struct.pack_into("<I", setup, 0x260, init_size)
    return bytes(setup) + pm_prefix + payload + HLT_LOOP * 4


def with_size(compressed, raw):
    return compressed + struct.pack("<I", len(raw))


# ----------------------------------------------------------------- seeds ----

def boot_config(ram=0, initrd=0, cmd=0):
    """fuzz_boot.c's byte 0: ram 0-7 (64M, 32M, 17M, 2M, <2M, 16M+123, 3G, 3G+64M),
    initrd 0-3 (none, 1, 4099 bytes, 1 MiB), cmd 0-7 (command line length; odd: kernel path)."""
    return bytes([ram | initrd << 3 | cmd << 5])


def boot_seeds():
    seeds = {}
    vm = vmlinux()
    for name, comp in compressors().items():
        seeds[f"bzimage-{name}"] = boot_config() + bzimage(with_size(comp(vm), vm))
    seeds["bzimage-gzip-initrd-cmdline"] = (boot_config(ram=1, initrd=3, cmd=4)
                                            + bzimage(with_size(compressors()["gzip"](vm), vm)))
    seeds["bzimage-uncompressed-whole"] = boot_config(initrd=1, cmd=2) + bzimage(b"\x89LZO" + bytes(60))
    seeds["bzimage-fixed-no-payload"] = boot_config() + bzimage(b"", relocatable=0, pm_prefix=HLT_LOOP * 64)
    seeds["bzimage-2.06"] = boot_config() + bzimage(b"", version=0x0206, xlf=0)
    seeds["vmlinux-elf64"] = boot_config(initrd=1) + vm
    seeds["vmlinux-elf64-highmem"] = boot_config(ram=7, initrd=2, cmd=1) + vm
    seeds["pvh-elf64"] = boot_config(initrd=1, cmd=3) + pvh_elf64()
    seeds["pvh-elf64-3g"] = boot_config(ram=6, initrd=3, cmd=6) + pvh_elf64()
    seeds["multiboot-aout"] = boot_config(initrd=2, cmd=1) + multiboot_aout()
    seeds["multiboot-elf32"] = boot_config(ram=1, initrd=1, cmd=3) + multiboot_elf32()
    seeds["multiboot-elf32-highmem"] = boot_config(ram=7, initrd=3, cmd=5) + multiboot_elf32()
    return seeds


def decompress_seeds():
    # Byte 0: bits 0-2 format (0: as is), 3-5 output cap; byte 1: size hint.
    text = b"".join(b"kvmm %d decompress seed\n" % i for i in range(40))
    seeds = {}
    for name, comp in compressors().items():
        data = comp(text)
        seeds[f"{name}"] = bytes([5 << 3, 0]) + data
        seeds[f"{name}-trailer-cap"] = bytes([3 << 3, 2]) + with_size(data, text)
        # The same stream after the magic bytes the harness supplies itself (format byte = fmt).
        magic = {1: 2, 2: 3, 3: 3, 4: 6, 5: 4, 6: 4}
        order = {"gzip": 1, "bzip2": 2, "lzma": 3, "xz": 4, "lz4": 5, "zstd": 6}[name]
        seeds[f"{name}-forced"] = bytes([order | 4 << 3, 0]) + data[magic[order]:]
    seeds["gzip-vmlinux-tiny-cap"] = bytes([1 << 3, 0]) + gzip.compress(vmlinux(), 9, mtime=0)
    return seeds


def size_seeds():
    # Byte 0: bits 0-1 default unit (1, MiB, 0, TiB), 2-3 the [min, max] range.
    strs = [b"512M", b"4G", b"1T", b"64KiB", b"3MB", b"4096B", b"128", b"0", b"254", b"255",
            b"18446744073709551615", b"18446744073709551616", b"17179869183G", b"16777215T", b"debug",
            b"warn", b" 12M", b"1.5G", b"12Mx"]
    return {f"s{i:02d}": bytes([i & 0x0F]) + s for i, s in enumerate(strs)}


def console_seeds():
    # Byte 0: chunk size (0: everything at once).
    return {
        "plain": b"\x00hello, guest\r\n",
        "quit": b"\x00ls\r\x01x",
        "help-then-ctrl-a": b"\x03\x01h\x01\x01abc\x01?",
        "unknown-escape": b"\x01\x01q\x01\x01\x01x",
    }


def uart_ops():
    """A Linux-like 8250 bring-up, console I/O and a loopback self-test."""
    def wr(reg, val):
        return bytes([0, reg, 0, val])

    def rd(reg):
        return bytes([1, reg, 0])

    init = (wr(3, 0x80) + wr(0, 0x01) + wr(1, 0x00) + wr(3, 0x03) + wr(2, 0xC7) + wr(4, 0x0B)
            + wr(1, 0x05) + rd(2) + rd(5))
    host = bytes([2, 5]) + b"hello" + bytes([4, 8, 5])
    tx = wr(0, ord("A")) + wr(1, 0x07) + bytes([5]) + rd(2) + bytes([5, 7])
    loop = wr(4, 0x1F) + wr(0, 0x55) + rd(5) + rd(0) + rd(6) + wr(4, 0x0B) + bytes([7])
    flood = bytes([3, 0x41, 4, 31, 5, 6, 0x5A])
    fifo16450 = wr(2, 0x00) + bytes([2, 3]) + b"xyz" + bytes([4, 3]) + wr(2, 0x01) + bytes([5])
    wide = bytes([0, 0, 1, 0x31, 0x32, 1, 4, 2, 1, 6, 3])
    return {
        "init": b"\x00" + init,
        "init-host-input": b"\x00" + init + host,
        "tx-echo": b"\x01" + init + tx,
        "loopback": b"\x00" + init + loop,
        "flood": b"\x00" + init + flood,
        "16450": b"\x00" + init + fifo16450,
        "wide": b"\x00" + wide,
    }


def chips_ops():
    # Ports table index (fuzz_chips.c): 0 0x60, 1 0x64, 3 0x70, 4 0x71, 6 0x600 (PM1_STS),
    # 8 0x602 (PM1_EN), 10 0x604 (PM1_CNT), 12 0x608 (PM_TMR), 14 0x620 (GPE0), 19 0xcf9.
    def out(port, val, width=0):
        n = (1, 2, 4, 8)[width]
        return bytes([0, port, width]) + val.to_bytes(n, "little")

    def inp(port, width=0):
        return bytes([2, port, width])

    kbd = (out(1, 0xAA) + inp(1) + inp(0) + out(1, 0x20) + inp(0) + out(1, 0x60) + out(0, 0x47)
           + out(0, 0xF2) + inp(0) + inp(0) + inp(0) + out(1, 0xD4) + out(0, 0xFF) + inp(1) + inp(0)
           + bytes([7, 0, 0]))
    kbd_reset = out(1, 0xFE) + out(1, 0xD1) + out(0, 0x00)
    rtc = (out(3, 0x0B) + inp(4) + out(3, 0x00) + inp(4) + out(3, 0x0B) + out(4, 0x86) + out(3, 0x00)
           + out(4, 0x59) + out(3, 0x0B) + out(4, 0x06) + bytes([6, 0, 0]) + bytes([4, 0, 0, 0x40, 0x99]))
    acpi = (out(8, 0x0100, 1) + bytes([5, 0, 0]) + inp(6, 1) + out(6, 0x0100, 1) + inp(12, 2)
            + out(10, 0x2000 | (5 << 10), 1))
    sleep = out(10, 0x2000 | (3 << 10), 1) + inp(6, 1) + out(6, 0x8000, 1) + out(19, 0x06)
    return {
        "i8042": b"\x04\x01" + kbd,
        "i8042-reset": b"\x04\x01" + kbd_reset,
        "rtc": b"\x40\x08" + rtc,
        "acpi-poweroff": b"\x04\x01" + acpi,
        "acpi-sleep-reset": b"\x04\x01" + sleep,
    }


def fw_cfg_ops():
    # Ops (fuzz_fw_cfg.c): 0 select, 1 read data, 2 raw access, 3 DMA, 4 poke, 5 add file,
    # 6 add bytes. near_ram(): region byte (bit 0: top region, bit 7: raw u64), u16 offset.
    def select(key):
        return bytes([0, 0x80]) + struct.pack("<H", key)

    def read(n):
        return bytes([1, n - 1])

    def dma(desc_off, ctl, key, length, dst_off, region=0, dst_region=0):
        return (bytes([3, region]) + struct.pack("<H", desc_off) + bytes([ctl]) + struct.pack("<H", key)
                + struct.pack("<H", length) + bytes([dst_region]) + struct.pack("<H", dst_off))

    def raw(port_off, width, write, data=b""):
        return bytes([2, port_off, width, 1 if write else 0]) + data

    sig = select(0) + read(4) + select(1) + read(4) + raw(4, 3, False)
    walk = select(0x19) + read(4) + read(64) + select(0x20) + read(32)
    dma_dir = dma(0x100, 0x0A, 0x19, 0x200, 0x1000)
    dma_skip = dma(0x100, 0x0C, 0x22, 100, 0) + dma(0x100, 0x02, 0, 64, 0x800)
    dma8 = dma(0x200, 0x4A, 0x8000, 8, 0x300)
    dma_top = dma(0xFF0, 0x0A, 0x20, 0x40, 0xFC0, region=1, dst_region=1)
    dma_err = dma(0x100, 0x18, 0x20, 16, 0x100) + dma(0x100, 0x0A, 0x20, 0x2000, 0x1F00)
    files = (bytes([5, 8]) + b"etc/boot" + struct.pack("<H", 12) + bytes([5, 0]) + struct.pack("<H", 0)
             + bytes([6]) + struct.pack("<HH", 0x8001, 10) + select(0x19) + read(64))
    return {
        "signature": b"\x00" + sig,
        "walk-dir": b"\x0e" + walk,
        "dma-dir": b"\x0e" + dma_dir,
        "dma-skip": b"\x0e" + dma_skip,
        "dma-8byte": b"\x00" + dma8,
        "dma-top-of-memory": b"\x0e" + dma_top,
        "dma-errors": b"\x0e" + dma_err,
        "no-dma": b"\x01" + dma_dir + sig,
        "host-files": b"\x02" + files,
    }


def snapshot_file(config, states=(), mems=()):
    """A version 1 snapshot (docs/snapshot-format.md), written independently of
    the C writer and laid out compactly (the reader accepts any placement that
    does not overlap): header, config, table, state sections, memory sections at
    4 KiB-aligned offsets, trailer. states = [(name, data)], mems = [(name, gpa, data)]."""
    crc = zlib.crc32
    align = lambda v, a: (v + a - 1) // a * a  # noqa: E731
    entries = [(n, 1, d, 0) for n, d in states] + [(n, 2, d, g) for n, g, d in mems]
    config_off = 128
    table_off = align(config_off + len(config), 8)
    pos = table_off + 128 * len(entries)
    table, chunks = b"", []
    for name, kind, data, gpa in entries:
        pos = align(pos, 4096 if kind == 2 else 8)
        table += name.ljust(64, b"\0") + struct.pack("<IIQQQ", kind, crc(data), pos, len(data), gpa) + bytes(32)
        chunks.append((pos, data))
        pos += len(data)
    file_len = align(pos, 8) + 64
    hdr = b"KVMMSNAP" + struct.pack("<IIQQQQQIIIII", 1, 128, 0, file_len, config_off, len(config), table_off,
                                    len(entries), 128, crc(config), crc(table), 4096) + bytes(48)
    hdr += struct.pack("<I", crc(hdr))
    trl = b"KVMMEND!" + struct.pack("<IIQQII", 1, crc(hdr[:124]), file_len, table_off, len(entries), crc(table))
    trl += bytes(20)
    trl += struct.pack("<I", crc(trl))
    out = bytearray(file_len)
    for off, data in [(0, hdr), (config_off, config), (table_off, table)] + chunks + [(file_len - 64, trl)]:
        out[off:off + len(data)] = data
    return bytes(out)


def snapshot_seeds():
    """First byte: the fuzz target's mode (bit 0: it recomputes the CRCs)."""
    pattern = lambda n, seed: bytes((i * 131 + seed) & 0xFF for i in range(n))  # noqa: E731
    config = b'{"cpus": 2, "memory": "8K", "kernel": "/boot/vmlinuz"}'
    states = [(b"vcpu0", pattern(64, 1)), (b"irqchip", b""), (b"uart:ttyS0", pattern(16, 2))]
    mems = [(b"ram-low", 0, pattern(4096, 3) + bytes(4096)), (b"ram-high", 1 << 32, pattern(4096, 4))]
    vm = snapshot_file(config, states, mems)
    # An entry pointing into the trailer: refused whether or not CRCs are fixed.
    bad = bytearray(vm)
    table_off = struct.unpack_from("<Q", vm, 48)[0]
    struct.pack_into("<Q", bad, table_off + 72, len(vm) - 32)
    return {
        "empty": b"\x00" + snapshot_file(b"{}"),
        "vm": b"\x00" + vm,
        "vm-fix-crcs": b"\x01" + vm,
        "state-only": b"\x01" + snapshot_file(b"{}", states),
        "overlapping-entry": b"\x01" + bytes(bad),
        "truncated": b"\x00" + vm[:len(vm) // 2],
    }


def qmp_seeds():
    # Byte 0: bits 0-6 read size (0: all at once), bit 7 pause after each value.
    return {
        "session": b"\x00" + b'{"execute":"qmp_capabilities"}\r\n{"execute":"query-status","id":1}\n'
                   b'{"execute":"snapshot-save","arguments":{"job-id":"j","tag":"t","vmstate":"d",'
                   b'"devices":["d"]},"id":{"n":[1,"x"]}}',
        "bytewise": b"\x01" + b'{ "execute" : "stop", "id" : "a\\"}" }{"execute":"cont"}',
        "paused": b"\x83" + b'{"execute":"a"}{"execute":"b"}42"s"[1]true{"execute":"c"}',
        "errors": b"\x00" + b'{"execute": }\n]]\n{"a":[}\n{"execute":1}{"execute":"x","arguments":[]}'
                  b'{"execute":"x","bogus":0}{"exec-oob":"x"}{"d":1,"d":2}\n{"execute":"\xff"}'
                  b'{"execute":"x\x01"}\x1b{"execute":"ok"}',
        "deep": b"\x10" + b"[" * 70 + b"]" * 70 + b'{"execute":"after"}',
    }


def virtq_ops():
    # Byte 0 (fuzz_virtq.c): bits 0-3 log2 queue size, bit 4 event index, bit 5 indirect.
    # Size 8 packs the rings at 0: descriptors 0x0, available 0x80, used 0x98.
    # Ops: 0 poke, 1 descriptor, 2 make a head available, 3 set available idx,
    # 4/5 pop (and push), 6 suppression fields + notification decision.
    # near_ram(): region byte (bit 0: top region, bit 7: raw u64), u16 offset.
    IND = 0x8000  # descriptor index flag: the indirect table at 0xe000

    def desc(idx, addr, length, flags, nxt=0, region=0):
        n = flags | (0x80 if length >= 0x1200 else 0) | (0x40 if nxt > 0xFF else 0)
        return (bytes([1]) + struct.pack("<HBHB", idx, region, addr, n)
                + struct.pack("<I" if n & 0x80 else "<H", length)
                + (struct.pack("<H", nxt) if n & 0x40 else bytes([nxt])))

    def avail(head):
        return bytes([2]) + struct.pack("<H", head)

    def pop(written, keep=False):
        how = (1 if written > 0xFFFF else 0) | (2 if keep else 0)
        return bytes([4, how]) + struct.pack("<I" if how & 1 else "<H", written)

    def notify(flags=None, used_event=None):
        n = (1 if flags is not None else 0) | (2 if used_event is not None else 0)
        out = bytes([6, n])
        if flags is not None:
            out += struct.pack("<H", flags)
        if used_event is not None:
            out += struct.pack("<H", used_event)
        return out

    R, W, N, I = 0, 2, 1, 4  # readable, VIRTQ_DESC_F_WRITE, _NEXT, _INDIRECT
    direct = desc(0, 0x2000, 64, W) + avail(0) + pop(64) + notify()
    chain = (desc(3, 0x2000, 16, R | N, 5) + desc(5, 0x2100, 32, R | N, 1) + desc(1, 0x3000, 512, W)
             + avail(3) + pop(100) + avail(3) + pop(1 << 20) + notify())
    indirect = (desc(IND | 0, 0x2000, 16, R | N, 1) + desc(IND | 1, 0x3000, 100, W)
                + desc(2, 0xE000, 32, I) + avail(2) + pop(100) + notify(flags=1))
    event = (desc(0, 0x2000, 8, W) + notify(used_event=1) + avail(0) + pop(8) + notify()
             + avail(0) + pop(8) + notify() + avail(0) + pop(8, keep=True) + notify())
    loop = desc(0, 0x2000, 8, N, 1) + desc(1, 0x2000, 8, N, 0) + avail(0) + pop(0)
    top = desc(0, 0xFF8, 0x10, W, region=1) + avail(0) + pop(0) + desc(0, 0xF00, 0x100, W, region=1) + pop(16)
    return {
        "direct": b"\x03" + direct,
        "chain": b"\x03" + chain,
        "indirect": b"\x23" + indirect,
        "event-idx": b"\x13" + event,
        "loop": b"\x03" + loop,
        "top-region": b"\x03" + top,
    }


def virtio_blk_ops():
    # Byte 0 (fuzz_virtio_blk.c): bit 0 EVENT_IDX, 1 INDIRECT_DESC, 2 FLUSH, 3 DISCARD and
    # WRITE_ZEROES, 4 requests on queue 1. Ops: 0 request, 1 raw RAM write, 2 raw descriptor
    # made available, 3 reset with a new configuration byte.
    # A request: sel (bits 0-2 type: IN OUT FLUSH GET_ID DISCARD WRITE_ZEROES, 6 raw u32;
    # bit 3 indirect), sector flag (bit 7: u64), layout (bits 0-1 header whole / split /
    # short / long, 2-3 data pieces, 4 data writable, 5 last piece flipped, 6 status inside
    # the data, 7 no status buffer), the sector, [raw type], reserved u32, header argument,
    # then per piece: 0x80 + u16 length + (seed byte | segments | nothing when writable).
    IN, OUT, FLUSH, GET_ID, DISCARD, WZ, RAW = 0, 1, 2, 3, 4, 5, 6

    def seg(sector, num, flags=0):
        return bytes([0xE0]) + struct.pack("<QII", sector, num, flags)

    def req(t, sector, pieces=(), writable=False, header=0, hdr_arg=b"", indirect=False,
            flip=False, merged=False, nostatus=False, raw_type=0):
        """pieces: (length, seed byte or segment bytes); what a piece carries is only sent
        when the harness reads it: for device-readable pieces."""
        lay = (header | len(pieces) << 2 | (0x10 if writable else 0) | (0x20 if flip else 0)
               | (0x40 if merged else 0) | (0x80 if nostatus else 0))
        out = bytes([0, t | (8 if indirect else 0), 0x80, lay]) + struct.pack("<Q", sector)
        if t == RAW:
            out += struct.pack("<I", raw_type)
        out += struct.pack("<I", 0) + hdr_arg
        for i, (length, content) in enumerate(pieces):
            w = writable != (flip and i == len(pieces) - 1)
            out += bytes([0x80]) + struct.pack("<H", length) + (b"" if w else content)
        return out

    def data(length, seed=7):
        return (length, bytes([seed]))

    def segs(*s):
        return (16 * len(s), b"".join(s))

    def poke(gpa, b):
        return bytes([0x81]) + struct.pack("<I", gpa) + bytes([len(b)]) + b

    def raw_desc(head, addr, length, flags, nxt, avail):
        return (bytes([0x82]) + struct.pack("<HIHBB", head, addr, length, flags, nxt)
                + struct.pack("<H", avail))

    def reset(cfg):
        return bytes([3, cfg])

    rw = (req(OUT, 10, [data(4096, 1)]) + req(IN, 8, [data(2048), data(6144)], writable=True)
          + req(OUT, 2047, [data(512, 9), data(0)]) + req(IN, 2047, [data(513)], writable=True, merged=True)
          + req(FLUSH, 0) + req(GET_ID, 0, [data(20)], writable=True)
          + req(GET_ID, 0, [data(7)], writable=True, indirect=True))
    ranges = (req(OUT, 0, [data(8192, 3)]) + req(WZ, 0, [segs(seg(2, 3), seg(9, 0), seg(12, 2, 1))])
              + req(DISCARD, 0, [segs(seg(4, 4))]) + req(IN, 0, [data(8192)], writable=True)
              + req(WZ, 0, [segs(seg(2047, 1, 1))]) + req(WZ, 0, [segs(seg(2047, 2))])
              + req(DISCARD, 0, [segs(seg(1, 1, 1))]) + req(WZ, 0, [segs(seg(1, 1, 6))])
              + req(DISCARD, 0, [segs(*[seg(i, 1) for i in range(33)])])
              + req(WZ, 0, [], header=3, hdr_arg=bytes([32]) + seg(40, 8) + seg(60, 1) + seg(0, 0))
              + req(IN, 0, [data(64 * 512)], writable=True))
    malformed = (req(IN, 0, [data(500)], writable=True) + req(OUT, 0, [data(512)], writable=True)
                 + req(IN, 2048, [data(512)], writable=True) + req(OUT, 2047, [data(1024)])
                 + req(IN, 1 << 60, [data(512)], writable=True) + req(RAW, 0, raw_type=77)
                 + req(RAW, 0, [data(8)], writable=True, raw_type=10) + req(FLUSH, 0, [data(512)])
                 + req(OUT, 0, [], header=2, hdr_arg=bytes([8]))
                 + req(IN, 0, [data(512)], header=1, hdr_arg=bytes([5]), writable=True)
                 + req(OUT, 0, [data(512), data(512)], flip=True)
                 + req(IN, 0, [data(512), data(512)], writable=True, flip=True))
    queues = (req(OUT, 100, [data(1024, 5), data(1024, 6)], indirect=True)
              + req(IN, 100, [data(1024), data(1024)], writable=True, indirect=True)
              + reset(0x0f) + req(IN, 100, [data(2048)], writable=True))
    broken = (req(OUT, 5, [data(512)], nostatus=True) + req(FLUSH, 0) + reset(0x06)
              + req(OUT, 5, [data(512, 2)]) + req(IN, 5, [data(512)], writable=True))
    raw = (raw_desc(1, 0x9000, 1, 2, 0, 1) + poke(0x8000, struct.pack("<IIQ", 0, 0, 3))
           + raw_desc(0, 0x8000, 16, 1, 1, 0) + raw_desc(2, 0x1000F0, 512, 2, 0, 2)
           + reset(0x0d) + poke(0x1002, b"\x40\x00") + req(IN, 0, [data(512)], writable=True))
    return {
        "rw": b"\x0f" + rw,
        "ranges": b"\x0d" + ranges,
        "malformed": b"\x0f" + malformed,
        "queues-indirect": b"\x13" + queues,
        "no-status": b"\x0c" + broken,
        "raw": b"\x0f" + raw,
    }


def virtio_pci_ops():
    # Ops (fuzz_virtio_pci.c): 0 config write, 1 config read, 2 BAR 4 write, 3 BAR 4 read,
    # 4 MSI-X BAR access (offset bit 15: write), 5 eventfd of queue (bit 8: signal it first),
    # 6 poke 8 bytes of RAM, 7 bring up a queue, 8 snapshot round trip, 9 hostile snapshot
    # (offset bit 0: of the host bridge; u8 count, count x (u16 at, u8 byte), u8 truncate
    # flag, [u16 length]). Widths are log2 bytes. Config offsets:
    # MSI-X cap 0x40, then common 0x4c, notify 0x5c, ISR 0x70, device 0x80 (the made-up
    # device only), PCI configuration access window after them.
    def cw(off, val, width=2):
        return bytes([0]) + struct.pack("<HBI", off, width, val)

    def cr(off, width=2):
        return bytes([1]) + struct.pack("<HB", off, width)

    def bw(off, val, width=1):
        return bytes([2]) + struct.pack("<HBQ", off, width, val)

    def br(off, width=1):
        return bytes([3]) + struct.pack("<HB", off, width)

    def msix(off, val, width=3):
        return bytes([4]) + struct.pack("<HBQ", 0x8000 | off, width, val)

    def fire(q, signal=True):
        return bytes([5]) + struct.pack("<H", q | (0x100 if signal else 0))

    def poke(off, data):
        return bytes([6]) + struct.pack("<H", off) + data.ljust(8, b"\0")

    def up(q=0):
        return bytes([7]) + struct.pack("<H", q)

    def snap():
        return bytes([8]) + struct.pack("<H", 0)

    def hostile(host, changes, truncate=None):
        b = bytes([9]) + struct.pack("<HB", 1 if host else 0, len(changes))
        b += b"".join(struct.pack("<HB", at, v) for at, v in changes)
        return b + (struct.pack("<BH", 1, truncate) if truncate is not None else b"\0")

    request = (poke(0x1000, struct.pack("<Q", 0x4000)) + poke(0x1008, struct.pack("<IHH", 64, 2, 0))
               + poke(0x2000, struct.pack("<HHH", 0, 1, 0)))
    loop = (poke(0x1000, struct.pack("<Q", 0x4000)) + poke(0x1008, struct.pack("<IHH", 16, 3, 1))
            + poke(0x1010, struct.pack("<Q", 0x4010)) + poke(0x1018, struct.pack("<IHH", 16, 3, 0))
            + poke(0x2000, struct.pack("<HHH", 0, 1, 0)))
    msix_on = (cw(0x04, 0x6, 1) + msix(0, 0xfee00000) + msix(8, 0x30) + msix(16, 0xfee00000)
               + msix(24, 0x31) + cw(0x43, 0x80, 0))
    window = (cw(0x94, 4, 0) + cw(0x98, 0x12) + cw(0x9c, 2) + cr(0xa0, 1) + cw(0x98, 0x14)
              + cw(0x9c, 1) + cw(0xa0, 1, 0) + cr(0xa0))
    moves = (cw(0x04, 0x6, 1) + cw(0x20, 0xc8000000) + cw(0x24, 0) + fire(0) + cw(0x04, 0, 1)
             + cw(0x20, 0xffffffff) + cr(0x20) + cw(0x20, 0xc8004000) + cw(0x04, 0x2, 1) + fire(0))
    return {
        "rng-request-msix": b"\x00" + msix_on + up(0) + bw(0x1a, 0, 1) + bw(0x10, 1, 1) + request
        + fire(0) + br(0x1000, 0) + br(0x14, 0),
        "rng-request-intx-exit": b"\x02" + up(0) + request + bw(0x3000, 0) + br(0x1000, 0),
        "rng-loop": b"\x00" + msix_on + up(0) + loop + fire(0, True) + br(0x14, 0) + bw(0x14, 0, 0),
        "toy-config-window": b"\x01" + cw(0x04, 0x6, 1) + br(0x2000, 3) + bw(0x2004, 0xbeef, 1)
        + br(0x2006, 2) + window + up(2) + fire(2),
        "toy-bar-moves": b"\x01" + moves + up(1) + bw(0x3004, 1) + bw(0x20, 0x1234, 3),
        "rng-snapshot": b"\x00" + msix_on + up(0) + request + fire(0) + snap()
        + hostile(False, [(40, 0x55), (200, 1)]) + hostile(False, [], truncate=100)
        + hostile(True, [(8, 9)]) + snap() + fire(0),
        "toy-snapshot": b"\x01" + moves + up(2) + snap() + hostile(False, [(300, 0xff)])
        + bw(0x3008, 2) + snap(),
    }


def virtio_console_ops():
    # Byte 0 (fuzz_virtio_console.c): bit 0 EVENT_IDX, 1 INDIRECT_DESC. Ops: 0 transmit chain,
    # 1 receive chain (flags: bits 0-1 pieces - 1, 2 indirect, 3 notify, 4-7 piece i the
    # wrong way; per piece u16 length, seed byte), 2 host input (u8 length, bytes), 3 host
    # takes output (u16 most, 0 all), 4 notify (queue), 5 raw RAM write (u32 address, u8
    # length, bytes), 6 reset (configuration byte), 7 other (0 rx_space, 1 save/load, 2 size).
    def chain(q, pieces, indirect=False, notify=True, wrong=()):
        fl = (len(pieces) - 1) | (4 if indirect else 0) | (8 if notify else 0)
        for i in wrong:
            fl |= 0x10 << i
        return bytes([q, fl]) + b"".join(struct.pack("<HB", n, seed) for n, seed in pieces)

    def tx(*pieces, **kw):
        return chain(0, pieces, **kw)

    def rx(*pieces, **kw):
        return chain(1, pieces, **kw)

    def inp(data):
        return bytes([2, len(data)]) + data

    def take(most=0):
        return bytes([3]) + struct.pack("<H", most)

    def notify(q):
        return bytes([4, q])

    def poke(gpa, b):
        return bytes([5]) + struct.pack("<IB", gpa, len(b)) + b

    def reset(cfg):
        return bytes([6, cfg])

    def space():
        return bytes([7, 0])

    def save_load():
        return bytes([7, 1])

    def size(cols, rows):
        return bytes([7, 2]) + struct.pack("<HH", cols, rows)

    basic = (tx((12, 1)) + tx((5, 2), (0, 3), (7, 4), indirect=True) + take()
             + rx((16, 0)) + rx((8, 0), (8, 0)) + space() + inp(b"hello, hvc0\n") + space()
             + inp(bytes(range(40))) + tx((100, 9), notify=False) + notify(1) + take(50) + take())
    stream = (b"".join(tx((2048, i), (2048, i + 1), (2048, i + 2), (2048, i + 3))
                       for i in range(0, 40, 4)) + take(1000) + take(1) + save_load() + take(30000)
              + tx((1, 7)) + save_load() + take() + reset(0x03) + tx((3, 3)) + take())
    wrong = (tx((8, 1), (8, 2), wrong=(1,)) + rx((4, 0), (6, 0), wrong=(0,)) + inp(b"0123456789")
             + take() + rx((9, 0), wrong=(0,)) + inp(b"x") + space() + reset(0x01)
             + rx((4, 0)) + inp(b"ok"))
    malformed = (tx((4, 1)) + tx((4, 2), (4, 3), wrong=(0,)) + tx((4, 4)) + take()
                 + inp(b"late") + reset(0x00) + tx((4, 5)) + take())
    backpressure = (inp(b"nobody listens") + space() + rx((4, 0)) + inp(b"abcdefgh")
                    + rx((3, 0), notify=False) + notify(0) + inp(b"efgh") + space()
                    + rx((2048, 0), indirect=True) + save_load() + space() + inp(b"after load"))
    raw = (tx((4, 1)) + poke(0x3000, struct.pack("<QIHH", 0x7fff0000, 4, 0, 0))
           + poke(0x4002, b"\x05\x00") + notify(1) + take() + reset(0x03)
           + poke(0x1004, b"\x03\x00") + poke(0x1002, b"\x01\x00") + inp(b"raw") + take())
    sizes = size(80, 25) + size(80, 25) + size(132, 43) + save_load() + size(0, 0) + tx((6, 1))
    return {
        "basic": b"\x03" + basic,
        "stream": b"\x01" + stream,
        "wrong-way": b"\x02" + wrong,
        "malformed": b"\x00" + malformed,
        "backpressure": b"\x03" + backpressure,
        "raw": b"\x03" + raw,
        "size": b"\x00" + sizes,
    }


TARGETS = {
    "boot": boot_seeds,
    "decompress": decompress_seeds,
    "size": size_seeds,
    "console": console_seeds,
    "uart": uart_ops,
    "chips": chips_ops,
    "fw_cfg": fw_cfg_ops,
    "snapshot": snapshot_seeds,
    "qmp": qmp_seeds,
    "virtq": virtq_ops,
    "virtio_blk": virtio_blk_ops,
    "virtio_console": virtio_console_ops,
    "virtio_pci": virtio_pci_ops,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only report seeds that differ")
    args = ap.parse_args()
    stale = 0
    for target, gen in TARGETS.items():
        d = os.path.join(HERE, "corpus", target)
        os.makedirs(d, exist_ok=True)
        for name, data in sorted(gen().items()):
            path = os.path.join(d, name)
            old = open(path, "rb").read() if os.path.exists(path) else None
            if old == data:
                continue
            stale += 1
            if args.check:
                print(f"out of date: {os.path.relpath(path)}")
            else:
                with open(path, "wb") as f:
                    f.write(data)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
