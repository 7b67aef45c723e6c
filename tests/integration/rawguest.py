# SPDX-License-Identifier: MIT
"""Tiny multiboot kernels assembled by hand, for exit-path tests.

Each is a Multiboot v1 image using the a.out kludge (header flag 16): the
32-bit code after the 32-byte header is loaded at 1 MiB and entered in flat
protected mode. Byte sequences are commented with their assembly.
"""
import struct

LOAD = 0x100000
HEADER_LEN = 32


def multiboot_image(code: bytes) -> bytes:
    magic, flags = 0x1BADB002, 0x00010000
    checksum = (-(magic + flags)) & 0xFFFFFFFF
    hdr = struct.pack("<8I", magic, flags, checksum, LOAD, LOAD, 0, 0, LOAD + HEADER_LEN)
    return hdr + code


HALT = bytes([0xF4, 0xEB, 0xFD])  # hlt; jmp hlt

# mov dx,0x604; mov ax,(5<<10)|(1<<13); out dx,ax  -> ACPI S5 (SLP_TYP 5, SLP_EN)
POWEROFF = bytes([0x66, 0xBA, 0x04, 0x06, 0x66, 0xB8, 0x00, 0x34, 0x66, 0xEF]) + HALT
# mov al,0xfe; out 0x64,al  -> i8042 pulses the reset line
RESET_8042 = bytes([0xB0, 0xFE, 0xE6, 0x64]) + HALT
# mov dx,0xcf9; mov al,0x06; out dx,al  -> PCI/ACPI reset control register
RESET_CF9 = bytes([0x66, 0xBA, 0xF9, 0x0C, 0xB0, 0x06, 0xEE]) + HALT
# mov dx,0x3f8; mov al,'R'; out dx,al; then the i8042 reset
PRINT_THEN_RESET = bytes([0x66, 0xBA, 0xF8, 0x03, 0xB0, 0x52, 0xEE]) + RESET_8042
# ud2: no IDT is loaded, so #UD escalates to a triple fault (or, under an
# emulator that cannot handle it, a KVM internal error): a guest crash either way.
CRASH = bytes([0x0F, 0x0B]) + HALT
# out 0x80 (unhandled) and a read of unhandled port 0x2f8, then a debug exit 0x2a
UNHANDLED_THEN_EXIT = bytes([0xE6, 0x80, 0x66, 0xBA, 0xF8, 0x02, 0xEC,
                             0xB0, 0x2A, 0xE6, 0xF4]) + HALT
# spin forever with interrupts off
SPIN = bytes([0xEB, 0xFE])


def write(path, code):
    with open(path, "wb") as f:
        f.write(multiboot_image(code))
    return path
