//! PTY sessions for kiln: spawning shells on a pseudo-terminal, the per-session output ring
//! addressed by byte offsets, terminal state for snapshots, and reaping. Nothing here speaks HTTP.
