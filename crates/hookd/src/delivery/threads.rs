//! The threads deliveries run on, apart from the API's and at a lower priority.
//!
//! Every publish waits for a group commit, and how many publishes a commit
//! carries decides how fast hookd takes messages in. When deliveries' HTTP
//! work ran on the same threads, a publish's round trip outside the commit was
//! twice as long as with nothing to deliver: both wanted the same two cores.
//! On threads of their own at nice 5 the kernel runs the API first when both
//! want a core, and deliveries catch up in larger batches. They are never
//! starved: at nice 5 a thread still gets about a quarter of a core that the
//! API's threads also want (scheduler weights 335 against 1,024).

use std::io;

use tokio::runtime::{Builder, Handle, Runtime};

/// How much lower than the API's the deliveries' priority is.
const NICENESS: i32 = 5;

/// A runtime that shuts down without waiting when dropped, which may happen
/// on one of its own threads or in another runtime, where waiting is not allowed.
pub struct DeliveryThreads(Option<Runtime>);

impl DeliveryThreads {
    /// Starts `threads` worker threads; `None` for zero (deliveries then run
    /// wherever they are spawned).
    pub fn start(threads: usize) -> io::Result<Option<DeliveryThreads>> {
        if threads == 0 {
            return Ok(None);
        }
        let runtime = Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("hookd-delivery")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()?;
        Ok(Some(DeliveryThreads(Some(runtime))))
    }

    pub fn handle(&self) -> &Handle {
        self.0.as_ref().expect("present until dropped").handle()
    }
}

impl Drop for DeliveryThreads {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Lowers the calling thread's priority (Linux sets it per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on the calling thread; a failure (never
        // expected, as raising niceness needs no privilege) leaves it as it was.
        let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, NICENESS) };
        if rc != 0 {
            tracing::warn!(error = %io::Error::last_os_error(), "could not lower the delivery threads' priority");
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The threads exist, run what is spawned on them, and run it at nice 5.
    #[test]
    fn deliveries_run_at_a_lower_priority() {
        let threads = DeliveryThreads::start(2).unwrap().unwrap();
        let (name, nice) = threads
            .handle()
            .block_on(async {
                tokio::spawn(async {
                    // SAFETY: reads the calling thread's own priority.
                    let tid = unsafe { libc::gettid() };
                    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
                    // Fields after the command's closing parenthesis; nice is field 19.
                    let nice: i32 = stat
                        .rsplit_once(") ")
                        .unwrap()
                        .1
                        .split(' ')
                        .nth(16)
                        .unwrap()
                        .parse()
                        .unwrap();
                    (std::thread::current().name().map(str::to_owned), nice)
                })
                .await
            })
            .unwrap();
        assert_eq!(name.as_deref(), Some("hookd-delivery"));
        assert_eq!(nice, NICENESS);
        assert!(DeliveryThreads::start(0).unwrap().is_none());
    }
}
