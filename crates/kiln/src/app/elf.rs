//! The glibc versions a Linux binary needs, read from its ELF symbol-version requirements
//! (`.gnu.version_r`), and the floor kiln's release binary must meet: glibc 2.31 (Ubuntu 20.04),
//! so the same binary runs on the Databricks Apps runtime (Ubuntu 22.04, glibc 2.35) and on
//! cluster images built on older Ubuntu releases. A static binary needs no glibc at all.

use std::fmt;

/// The newest glibc a release binary may need (major, minor).
pub const GLIBC_FLOOR: GlibcVersion = GlibcVersion {
    major: 2,
    minor: 31,
};

/// `SHT_GNU_verneed`.
const SHT_GNU_VERNEED: u32 = 0x6fff_fffe;
/// `PT_DYNAMIC`.
const PT_DYNAMIC: u32 = 2;
/// `EM_X86_64`.
const EM_X86_64: u16 = 62;
/// Most requirement entries followed (a real binary has a few dozen).
const MAX_ENTRIES: usize = 10_000;

/// A glibc symbol version such as `GLIBC_2.31`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GlibcVersion {
    /// Major version (2).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl GlibcVersion {
    /// Parses `GLIBC_2.31` (a third component such as `GLIBC_2.2.5` counts as `2.2`).
    pub fn parse(name: &str) -> Option<Self> {
        let rest = name.strip_prefix("GLIBC_")?;
        let mut parts = rest.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(Self { major, minor })
    }
}

impl fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// What a binary asks of the system's C library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    /// Every `(library, version name)` requirement, e.g. `("libc.so.6", "GLIBC_2.29")`.
    pub versions: Vec<(String, String)>,
}

impl Needs {
    /// The newest `GLIBC_x.y` required, if any.
    pub fn max_glibc(&self) -> Option<GlibcVersion> {
        self.versions
            .iter()
            .filter_map(|(_, v)| GlibcVersion::parse(v))
            .max()
    }

    /// Requirements newer than `floor`, plus any `GLIBC_PRIVATE` (never portable).
    pub fn above(&self, floor: GlibcVersion) -> Vec<String> {
        let mut out: Vec<String> = self
            .versions
            .iter()
            .filter(|(_, v)| {
                v == "GLIBC_PRIVATE" || GlibcVersion::parse(v).is_some_and(|g| g > floor)
            })
            .map(|(lib, v)| format!("{v} ({lib})"))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Why a file's requirements could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    /// Not an ELF file at all (a macOS or Windows build, a script).
    #[error("not a Linux executable (no ELF header)")]
    NotElf,
    /// An ELF for another machine or class.
    #[error("built for {0}; Databricks runs x86_64 (64-bit) Linux")]
    WrongMachine(String),
    /// Truncated or inconsistent tables.
    #[error("malformed ELF: {0}")]
    Malformed(&'static str),
}

fn u16_at(b: &[u8], off: usize) -> Result<u16, ElfError> {
    b.get(off..off + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or(ElfError::Malformed("truncated"))
}

fn u32_at(b: &[u8], off: usize) -> Result<u32, ElfError> {
    b.get(off..off + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or(ElfError::Malformed("truncated"))
}

fn u64_at(b: &[u8], off: usize) -> Result<usize, ElfError> {
    let v = b
        .get(off..off + 8)
        .map(|s| u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]))
        .ok_or(ElfError::Malformed("truncated"))?;
    usize::try_from(v).map_err(|_| ElfError::Malformed("offset out of range"))
}

fn cstr_at(b: &[u8], off: usize) -> Result<String, ElfError> {
    let tail = b.get(off..).ok_or(ElfError::Malformed("string offset"))?;
    let end = tail
        .iter()
        .position(|&c| c == 0)
        .ok_or(ElfError::Malformed("unterminated string"))?;
    Ok(String::from_utf8_lossy(&tail[..end]).into_owned())
}

/// One section header's fields this module uses.
struct Section {
    kind: u32,
    offset: usize,
    size: usize,
    link: u32,
    info: u32,
}

fn section(b: &[u8], shoff: usize, entsize: usize, i: usize) -> Result<Section, ElfError> {
    let base = i
        .checked_mul(entsize)
        .and_then(|o| o.checked_add(shoff))
        .ok_or(ElfError::Malformed("section table"))?;
    Ok(Section {
        kind: u32_at(b, base + 4)?,
        offset: u64_at(b, base + 24)?,
        size: u64_at(b, base + 32)?,
        link: u32_at(b, base + 40)?,
        info: u32_at(b, base + 44)?,
    })
}

/// Reads the symbol-version requirements of an x86_64 ELF executable.
pub fn needs(b: &[u8]) -> Result<Needs, ElfError> {
    if b.get(..4) != Some(b"\x7fELF") {
        return Err(ElfError::NotElf);
    }
    let machine = u16_at(b, 18)?;
    if b.get(4) != Some(&2) || b.get(5) != Some(&1) || machine != EM_X86_64 {
        return Err(ElfError::WrongMachine(match machine {
            183 => "aarch64".into(),
            3 => "x86 (32-bit)".into(),
            m => format!("ELF machine {m}"),
        }));
    }
    let shoff = u64_at(b, 0x28)?;
    let entsize = usize::from(u16_at(b, 0x3a)?);
    let shnum = usize::from(u16_at(b, 0x3c)?);
    if shnum == 0 {
        // No section table: fine for a static executable (no PT_DYNAMIC), which needs no
        // shared C library; a dynamic one cannot be checked.
        return if has_dynamic_segment(b)? {
            Err(ElfError::Malformed(
                "dynamic executable without section headers",
            ))
        } else {
            Ok(Needs {
                versions: Vec::new(),
            })
        };
    }
    if entsize < 64 {
        return Err(ElfError::Malformed("section header size"));
    }
    let mut versions = Vec::new();
    for i in 0..shnum {
        let s = section(b, shoff, entsize, i)?;
        if s.kind != SHT_GNU_VERNEED {
            continue;
        }
        let strtab = section(b, shoff, entsize, s.link as usize)?;
        let strings = b
            .get(strtab.offset..strtab.offset.saturating_add(strtab.size))
            .ok_or(ElfError::Malformed("string table"))?;
        let table = b
            .get(s.offset..s.offset.saturating_add(s.size))
            .ok_or(ElfError::Malformed("version table"))?;
        read_verneed(table, strings, s.info as usize, &mut versions)?;
    }
    Ok(Needs { versions })
}

/// Whether a program header is `PT_DYNAMIC`.
fn has_dynamic_segment(b: &[u8]) -> Result<bool, ElfError> {
    let phoff = u64_at(b, 0x20)?;
    let entsize = usize::from(u16_at(b, 0x36)?);
    let phnum = usize::from(u16_at(b, 0x38)?);
    for i in 0..phnum {
        let at = i
            .checked_mul(entsize)
            .and_then(|o| o.checked_add(phoff))
            .ok_or(ElfError::Malformed("program headers"))?;
        if u32_at(b, at)? == PT_DYNAMIC {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Walks `Elf64_Verneed` entries (16 bytes) and their `Elf64_Vernaux` lists (16 bytes).
fn read_verneed(
    table: &[u8],
    strings: &[u8],
    count: usize,
    out: &mut Vec<(String, String)>,
) -> Result<(), ElfError> {
    let mut at = 0usize;
    for _ in 0..count.min(MAX_ENTRIES) {
        let aux_count = usize::from(u16_at(table, at + 2)?);
        let file = cstr_at(strings, u32_at(table, at + 4)? as usize)?;
        let mut aux = at
            .checked_add(u32_at(table, at + 8)? as usize)
            .ok_or(ElfError::Malformed("aux offset"))?;
        for _ in 0..aux_count.min(MAX_ENTRIES) {
            let name = cstr_at(strings, u32_at(table, aux + 8)? as usize)?;
            out.push((file.clone(), name));
            let next = u32_at(table, aux + 12)? as usize;
            if next == 0 {
                break;
            }
            aux = aux
                .checked_add(next)
                .ok_or(ElfError::Malformed("aux next"))?;
        }
        let next = u32_at(table, at + 12)? as usize;
        if next == 0 {
            break;
        }
        at = at.checked_add(next).ok_or(ElfError::Malformed("next"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn versions_parse_and_order() {
        let v = |s| GlibcVersion::parse(s).unwrap();
        assert_eq!(v("GLIBC_2.2.5"), GlibcVersion { major: 2, minor: 2 });
        assert!(v("GLIBC_2.34") > GLIBC_FLOOR);
        assert!(v("GLIBC_2.9") < GLIBC_FLOOR);
        assert_eq!(GlibcVersion::parse("GCC_3.0"), None);
        let needs = Needs {
            versions: vec![
                ("libc.so.6".into(), "GLIBC_2.2.5".into()),
                ("libc.so.6".into(), "GLIBC_2.34".into()),
                ("libgcc_s.so.1".into(), "GCC_4.2.0".into()),
                ("libc.so.6".into(), "GLIBC_PRIVATE".into()),
            ],
        };
        assert_eq!(needs.max_glibc(), Some(v("GLIBC_2.34")));
        assert_eq!(
            needs.above(GLIBC_FLOOR),
            vec!["GLIBC_2.34 (libc.so.6)", "GLIBC_PRIVATE (libc.so.6)"]
        );
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        assert_eq!(needs(b"#!/bin/sh\n"), Err(ElfError::NotElf));
        assert_eq!(needs(b""), Err(ElfError::NotElf));
        let mut short = b"\x7fELF\x02\x01".to_vec();
        short.resize(20, 0);
        short[18] = 62;
        assert!(matches!(needs(&short), Err(ElfError::Malformed(_))));
        let mut arm = vec![0u8; 64];
        arm[..6].copy_from_slice(b"\x7fELF\x02\x01");
        arm[18] = 183;
        assert_eq!(needs(&arm), Err(ElfError::WrongMachine("aarch64".into())));
        // Every prefix of a real binary fails cleanly.
        let real = std::fs::read("/proc/self/exe").unwrap();
        for len in [64, 1000, real.len() / 2] {
            let _ = needs(&real[..len]);
        }
    }

    #[test]
    fn reads_this_test_binary() {
        let real = std::fs::read("/proc/self/exe").unwrap();
        let n = needs(&real).unwrap();
        // Built against the host's glibc: it needs at least one GLIBC_ version.
        assert!(n.max_glibc().is_some(), "{n:?}");
        assert!(
            n.versions.iter().any(|(lib, _)| lib == "libc.so.6"),
            "{n:?}"
        );
    }
}
