//! The process's own gauges, read from `/proc/self` at each scrape (Linux;
//! elsewhere they stay at zero).

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Default)]
pub struct Gauges {
    resident: Gauge,
    threads: Gauge,
    open_fds: Gauge,
}

impl Gauges {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory of the process",
            self.resident.clone(),
        );
        registry.register("process_threads", "Threads of the process", self.threads.clone());
        registry.register(
            "process_open_fds",
            "Open file descriptors: sockets (connections to clients, receivers and the database) and files",
            self.open_fds.clone(),
        );
    }

    pub fn read(&self) {
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            for line in status.lines() {
                let value = |prefix: &str| -> Option<i64> {
                    line.strip_prefix(prefix)?.split_whitespace().next()?.parse().ok()
                };
                if let Some(kb) = value("VmRSS:") {
                    self.resident.set(kb * 1024);
                } else if let Some(n) = value("Threads:") {
                    self.threads.set(n);
                }
            }
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds.set(dir.count() as i64);
        }
    }
}
