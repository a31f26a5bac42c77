//! The results table and, over several rounds or builds, their medians.
//!
//! On a shared machine one run of a phase moves by a tenth either way, so a
//! change between two builds is only seen with the builds taking turns in the
//! same run: each round runs every build once per phase, and the summary says
//! in how many rounds a build did better than the first one.

use std::path::PathBuf;

use crate::scenario::Row;

/// One phase of one build in one round, with its direct figure.
pub struct Run {
    pub round: usize,
    pub build: usize,
    pub direct: f64,
    pub row: Row,
}

impl Run {
    fn ratio(&self) -> f64 {
        100.0 * self.row.delivered_per_s / self.direct
    }
}

/// A build's short name: its file name, or its path where file names repeat.
fn label(builds: &[PathBuf], i: usize) -> String {
    let name = |p: &PathBuf| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let names: Vec<Option<String>> = builds.iter().map(name).collect();
    match &names[i] {
        Some(n) if names.iter().filter(|m| m.as_ref() == Some(n)).count() == 1 => n.clone(),
        _ => builds[i].display().to_string(),
    }
}

pub fn print_rows(runs: &[Run], builds: &[PathBuf]) {
    let several = builds.len() > 1;
    let build_col = if several { "build | " } else { "" };
    println!(
        "| {build_col}scenario | direct req/s | published msg/s | delivered req/s | hookd/direct | p50 ms | p99 ms | max ms | peak RSS MiB | hookd CPU µs/delivery |"
    );
    println!(
        "|{}---|---|---|---|---|---|---|---|---|---|",
        if several { "---|" } else { "" }
    );
    for run in runs {
        let r = &run.row;
        let build = if several {
            format!("{} | ", label(builds, run.build))
        } else {
            String::new()
        };
        println!(
            "| {build}{} | {:.0} | {:.0} | {:.0} | {:.1}% | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} |",
            r.name,
            run.direct,
            r.published_per_s,
            r.delivered_per_s,
            run.ratio(),
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.peak_rss_mib,
            r.cpu_us_per_delivery
        );
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Per phase and build: medians over the rounds, and against the first build,
/// the rounds in which this one's ratio was higher.
pub fn print_summary(runs: &[Run], builds: &[PathBuf]) {
    let rounds = runs.iter().map(|r| r.round + 1).max().unwrap_or(0);
    println!(
        "| scenario | build | rounds | median hookd/direct | median delivered req/s | median p99 ms | median CPU µs/delivery | ratio above the first build's |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut phases: Vec<&str> = Vec::new();
    for r in runs {
        if !phases.contains(&r.row.name.as_str()) {
            phases.push(&r.row.name);
        }
    }
    for phase in phases {
        let of = |build: usize| -> Vec<&Run> {
            runs.iter()
                .filter(|r| r.row.name == phase && r.build == build)
                .collect()
        };
        for build in 0..builds.len() {
            let mine = of(build);
            let stat = |f: fn(&Run) -> f64| median(mine.iter().map(|r| f(r)).collect());
            let above = match build {
                0 => "-".to_string(),
                _ => {
                    let firsts = of(0);
                    let wins = mine
                        .iter()
                        .filter(|r| {
                            firsts
                                .iter()
                                .find(|f| f.round == r.round)
                                .is_some_and(|f| r.ratio() > f.ratio())
                        })
                        .count();
                    format!("{wins} of {rounds}")
                }
            };
            println!(
                "| {phase} | {} | {} | {:.1}% | {:.0} | {:.1} | {:.0} | {above} |",
                label(builds, build),
                mine.len(),
                stat(Run::ratio),
                stat(|r| r.row.delivered_per_s),
                stat(|r| r.row.p99_ms),
                stat(|r| r.row.cpu_us_per_delivery),
            );
        }
    }
}
