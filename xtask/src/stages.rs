//! Wall-clock time of each stage of a task, printed as each ends and as a table at the end
//! (CI must stay under its time budget: this shows where the time goes).
use std::time::Instant;

#[derive(Default)]
pub struct Stages {
    done: Vec<(String, f64)>,
}

impl Stages {
    /// Runs `f` as the stage `name`, printing its time whether it succeeds or fails.
    pub fn run<T>(&mut self, name: &str, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
        println!("== stage: {name}");
        let t = Instant::now();
        let result = f();
        let secs = t.elapsed().as_secs_f64();
        let how = if result.is_ok() { "done" } else { "FAILED" };
        println!("== stage: {name}: {how} in {}", clock(secs));
        self.done.push((name.to_string(), secs));
        result
    }

    /// The table of stages and their total.
    pub fn print(&self, task: &str) {
        println!("{task}: time per stage");
        for (name, secs) in &self.done {
            println!("  {:<32} {:>9}", name, clock(*secs));
        }
        let total: f64 = self.done.iter().map(|(_, s)| s).sum();
        println!("  {:<32} {:>9}", "total", clock(total));
    }
}

fn clock(secs: f64) -> String {
    let s = secs.round() as u64;
    format!("{}m{:02}s", s / 60, s % 60)
}
