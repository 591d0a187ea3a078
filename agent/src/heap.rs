//! glibc malloc settings for a long-running process with many threads.
//!
//! Every GStreamer streaming thread and ONNX Runtime worker that allocates gets its own glibc
//! arena (up to 8 per core), and freed frame-sized blocks stay cached in them; glibc also raises
//! its mmap threshold each time a large block is freed, so later frame buffers come from the
//! arenas instead of `mmap` and are never given back. With four cameras that is 40 MB of
//! resident memory that does no work. Two arenas and a fixed 256 KiB mmap threshold hold the
//! agent's steady RSS at 146 MB over an hour instead of 169–181 MB (docs/performance.md) with no
//! measurable cost per frame, because GStreamer's buffer pools, libav without direct rendering
//! (`source::gst`) and the preallocated ORT tensors keep the hot path from allocating large
//! blocks at all.

/// Arenas glibc may create; two lets the camera threads and the inference thread allocate
/// without contending on one lock.
const ARENAS: i32 = 2;
/// Blocks from this size up are mapped and unmapped on their own, so freeing them returns the
/// memory to the system.
const MMAP_THRESHOLD: i32 = 256 * 1024;

/// Applies the settings; call before threads start. A no-op outside glibc.
pub fn limit_fragmentation() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any other thread
    // exists, and both parameters are documented as settable at any time.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Hands freed heap pages back to the system: what start-up left (the model file read whole,
/// parsed and dropped; GStreamer's registry) and what bursts of load freed. About 1.5 MB of the
/// agent's resident memory with four cameras (docs/performance.md); a walk over the arenas, run
/// with the health log (every `pipeline.health_interval_s`). A no-op outside glibc.
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the system and is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
