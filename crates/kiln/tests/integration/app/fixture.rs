//! A real, minimal Linux x86_64 executable made in memory: static (so it needs no glibc and
//! meets any floor), it writes a marker line and exits with a chosen status. It stands in for
//! the kiln binary where only the app source's handling of a binary is under test.

/// What the fixture prints.
pub const MARKER: &str = "kiln-fixture-ran\n";

/// The ELF bytes: `write(1, MARKER)`, then `exit(status)`.
pub fn elf(status: u8) -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const CODE_AT: u64 = 64 + 56;
    let mut code = vec![
        0xb8,
        1,
        0,
        0,
        0, // mov eax, 1 (write)
        0xbf,
        1,
        0,
        0,
        0, // mov edi, 1
        0x48,
        0x8d,
        0x35,
        19,
        0,
        0,
        0, // lea rsi, [rip+19] -> msg
        0xba,
        MARKER.len() as u8,
        0,
        0,
        0, // mov edx, len
        0x0f,
        0x05, // syscall
        0xb8,
        60,
        0,
        0,
        0, // mov eax, 60 (exit)
        0xbf,
        status,
        0,
        0,
        0, // mov edi, status
        0x0f,
        0x05, // syscall
    ];
    code.extend_from_slice(MARKER.as_bytes());
    let total = CODE_AT + code.len() as u64;
    let mut b = Vec::new();
    b.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    b.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    b.extend_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&(BASE + CODE_AT).to_le_bytes()); // entry
    b.extend_from_slice(&64u64.to_le_bytes()); // phoff
    b.extend_from_slice(&0u64.to_le_bytes()); // shoff
    b.extend_from_slice(&0u32.to_le_bytes()); // flags
    for v in [64u16, 56, 1, 64, 0, 0] {
        b.extend_from_slice(&v.to_le_bytes()); // ehsize, phentsize, phnum, shentsize, shnum, shstrndx
    }
    b.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    b.extend_from_slice(&5u32.to_le_bytes()); // R+X
    b.extend_from_slice(&0u64.to_le_bytes()); // offset
    b.extend_from_slice(&BASE.to_le_bytes()); // vaddr
    b.extend_from_slice(&BASE.to_le_bytes()); // paddr
    b.extend_from_slice(&total.to_le_bytes()); // filesz
    b.extend_from_slice(&total.to_le_bytes()); // memsz
    b.extend_from_slice(&0x1000u64.to_le_bytes()); // align
    assert_eq!(b.len() as u64, CODE_AT);
    b.extend_from_slice(&code);
    b
}
