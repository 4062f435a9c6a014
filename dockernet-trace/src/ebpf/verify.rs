//! Verifying programs side by side before they are attached. The kernel's verifier spends
//! a few hundred milliseconds on each of the larger programs, and for root it runs without a
//! global lock: with one thread per core, N programs cost about the slowest of them.
//!
//! Nothing here reports: a program that fails to load stays unloaded, and the hook's own
//! attach loads it again and says why (its error, its note).
use aya::{
    Btf, Ebpf,
    programs::{BtfTracePoint, SchedClassifier},
};

/// One program to verify.
enum Job<'a> {
    /// A BTF tracepoint program and the tracepoint it is for.
    Tracepoint(&'a mut BtfTracePoint, &'static str),
    Classifier(&'a mut SchedClassifier),
}

impl Job<'_> {
    fn run(self, btf: &Btf) {
        let t = std::time::Instant::now();
        let (what, result) = match self {
            Job::Tracepoint(p, tracepoint) => (tracepoint, p.load(tracepoint, btf)),
            Job::Classifier(p) => ("tc classifier", p.load()),
        };
        match result {
            Ok(()) => log::debug!("{what} verified in {} ms", t.elapsed().as_millis()),
            Err(e) => log::debug!("{what} not verified ahead: {e}"),
        }
    }
}

/// Loads (verifies) the programs named in `tracepoints` (program, tracepoint) and `classifiers`
/// that are not loaded yet, on as many threads as there are cores.
pub fn verify_ahead(
    ebpf: &mut Ebpf,
    btf: &Btf,
    tracepoints: &[(&'static str, &'static str)],
    classifiers: &[&str],
) {
    let jobs: Vec<Job> = ebpf
        .programs_mut()
        .filter_map(|(name, p)| {
            if let Some((_, tracepoint)) = tracepoints.iter().find(|(program, _)| *program == name) {
                let p: &mut BtfTracePoint = p.try_into().ok()?;
                return p.fd().is_err().then_some(Job::Tracepoint(p, tracepoint));
            }
            if classifiers.contains(&name) {
                let p: &mut SchedClassifier = p.try_into().ok()?;
                return p.fd().is_err().then_some(Job::Classifier(p));
            }
            None
        })
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(jobs.len());
    // One queue the threads take from: the programs' costs differ a hundredfold.
    let queue = std::sync::Mutex::new(jobs);
    let next = || queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while let Some(job) = next() {
                    job.run(btf);
                }
            });
        }
    });
}
