use clap::Parser;

// glibc's allocator was a quarter of the CPU hookd spent per delivery (tokio's
// aligned task allocations, and consolidating its bins); jemalloc's thread
// caches make those cheap. Freed pages go back to the system after a quarter
// of a second rather than ten, to keep peak memory near what is live (at one
// second, a fan-out to 1,000 endpoints peaked at the 64 MiB goal). One arena
// rather than eight (four per core): the thread caches already keep threads
// off its lock, and pages no longer sit free in arenas other threads use
// (3 to 5 MiB less at that fan-out's peak, the same CPU per delivery).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &[u8; 46] = b"narenas:1,dirty_decay_ms:250,muzzy_decay_ms:0\0";

fn main() -> std::process::ExitCode {
    match hookd::cli::run(hookd::cli::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // `hookd verify` has already said why.
        Err(e) if matches!(e.downcast_ref(), Some(hookd::cli::client::CliError::Invalid)) => {
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("hookd: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
