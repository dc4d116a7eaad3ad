//! Random identifiers in the shapes Databricks uses: PATs (`dapi…`), UUIDs, numeric ids,
//! cluster ids, and SHA-256 token ids.

use sha2::{Digest, Sha256};

/// `n` random bytes from the OS.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    // getrandom only fails when the OS has no entropy source at all; fall back to a
    // time-seeded value rather than crash an emulator.
    if getrandom::fill(&mut buf).is_err() {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(31);
        }
    }
    buf
}

/// Lowercase hex of random bytes (`2 * n_bytes` characters).
pub fn hex(n_bytes: usize) -> String {
    to_hex(&random_bytes(n_bytes))
}

/// Lowercase hex encoding.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random version-4 UUID string.
pub fn uuid4() -> String {
    let mut b = random_bytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = to_hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A new personal access token value: `dapi` + 32 hex characters.
pub fn pat() -> String {
    format!("dapi{}", hex(16))
}

/// A random 16-digit numeric id (as used for SCIM ids, object ids, service principal ids).
pub fn numeric_id() -> u64 {
    let b = random_bytes(8);
    let v = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    1_000_000_000_000_000 + v % 8_999_999_999_999_999
}

/// Eight random lowercase alphanumerics (the tail of a cluster id).
pub fn alnum8() -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    random_bytes(8)
        .iter()
        .map(|b| CHARS[usize::from(*b) % CHARS.len()] as char)
        .collect()
}

/// The token id Databricks shows for a token: hex SHA-256 of its value.
pub fn token_id(token_value: &str) -> String {
    to_hex(&Sha256::digest(token_value.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let p = pat();
        assert!(p.starts_with("dapi") && p.len() == 36);
        let u = uuid4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_eq!(numeric_id().to_string().len(), 16);
        assert_eq!(token_id("x").len(), 64);
        assert_ne!(pat(), pat());
    }
}
