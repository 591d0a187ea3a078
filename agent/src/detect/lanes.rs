//! How many frames to infer side by side when neither the config nor the command says.

/// What each lane beyond the first adds to the agent's memory: its own binding, input and output
/// tensors and ONNX Runtime arena (measured +32 MB for a second lane of the fp32 default over an
/// hour, docs/performance.md; rounded up).
pub const LANE_BYTES: u64 = 40 << 20;

/// Extra lanes may take this share of the memory the kernel reports available, no more: the rest
/// belongs to GStreamer's buffers, the outbox and whatever else the gateway runs.
const MEMORY_SHARE: u64 = 8;

/// Lanes never chosen beyond this many: measured gains are for 1 and 2 (docs/performance.md),
/// and a gateway's 4 cameras seldom have more frames waiting at once.
pub const MAX_AUTO_LANES: usize = 4;

/// One lane per ONNX Runtime thread, each with one intra-op thread: on the measured machine two
/// one-thread lanes run 1.09–1.17 times the frames of one two-thread run, because ORT's split of
/// one small model over threads waits on its slowest part. Fewer lanes when their memory would
/// pass an eighth of `available` bytes; one when memory is unknown.
pub fn auto(threads: usize, available: Option<u64>) -> usize {
    let by_memory = available.map_or(1, |bytes| 1 + bytes / MEMORY_SHARE / LANE_BYTES);
    let by_memory = usize::try_from(by_memory).unwrap_or(usize::MAX);
    threads.clamp(1, MAX_AUTO_LANES).min(by_memory).max(1)
}

/// `MemAvailable` of /proc/meminfo in bytes; None where there is no such file or line.
pub fn memory_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn one_lane_per_thread_up_to_four() {
        assert_eq!(auto(1, Some(8 * GIB)), 1);
        assert_eq!(auto(2, Some(8 * GIB)), 2);
        assert_eq!(auto(4, Some(8 * GIB)), 4);
        assert_eq!(auto(16, Some(8 * GIB)), MAX_AUTO_LANES);
        assert_eq!(auto(0, Some(8 * GIB)), 1);
    }

    #[test]
    fn memory_caps_the_extra_lanes() {
        // 320 MB available: an eighth is 40 MB, room for one extra lane.
        assert_eq!(auto(4, Some(320 << 20)), 2);
        assert_eq!(auto(4, Some(319 << 20)), 1);
        assert_eq!(auto(4, Some(0)), 1);
        assert_eq!(auto(4, None), 1);
    }
}
