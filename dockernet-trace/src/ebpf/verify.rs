//! Verifying programs side by side before they are attached. The kernel's verifier spends
//! tens of milliseconds on each of the larger programs (see `ipv6_ext` in the eBPF crate),
//! and for root it runs without a global lock: with one thread per core, N programs cost
//! about the slowest of them.
//!
//! A trace that knows its interfaces attaches the tc classifiers (through tcx) as soon as they
//! are verified, while the tracepoint programs still are: those attaches mostly wait for the
//! kernel (an RCU grace period each), not for a core.
//!
//! Nothing here reports: a program that fails to load stays unloaded, and the hook's own
//! attach loads it again and says why (its error, its note); an interface not attached here
//! is attached later the usual way.
use aya::{
    Btf, Ebpf,
    programs::{BtfTracePoint, SchedClassifier},
};

use super::tc;

/// One program to verify.
enum Job<'a> {
    /// A BTF tracepoint program and the tracepoint it is for.
    Tracepoint(&'a mut BtfTracePoint, &'static str),
    /// A tc classifier and its name.
    Classifier(&'a mut SchedClassifier, &'a str),
}

impl Job<'_> {
    /// Verifies the program; for a classifier, a handle to attach it with (see `tc::handle`).
    fn run(self, btf: &Btf) -> Option<(&'static str, SchedClassifier)> {
        let t = std::time::Instant::now();
        let (what, result, classifier) = match self {
            Job::Tracepoint(p, tracepoint) => (tracepoint, p.load(tracepoint, btf), None),
            Job::Classifier(p, name) => {
                let r = p.load();
                let handle = r.is_ok().then(|| tc::handle(p, name)).flatten();
                ("tc classifier", r, handle)
            }
        };
        match result {
            Ok(()) => log::debug!("{what} verified in {} ms", t.elapsed().as_millis()),
            Err(e) => log::debug!("{what} not verified ahead: {e}"),
        }
        classifier
    }
}

/// Loads (verifies) the programs named in `tracepoints` (program, tracepoint) and `classifiers`
/// that are not loaded yet, on as many threads as there are cores, and attaches both
/// classifiers through tcx to the interfaces `tc_ifaces` gives once they are verified, on a
/// thread of its own (it may wait for them while the tracepoint programs are verified, and
/// attach while they are): the links it made, when joined.
pub fn verify_ahead(
    ebpf: &mut Ebpf,
    btf: &Btf,
    tracepoints: &[(&'static str, &'static str)],
    classifiers: &[&str],
    tc_ifaces: impl FnOnce() -> Vec<String> + Send + 'static,
) -> Option<std::thread::JoinHandle<Vec<tc::TcxMade>>> {
    let mut jobs: Vec<Job> = ebpf
        .programs_mut()
        .filter_map(|(name, p)| {
            if let Some((_, tracepoint)) = tracepoints.iter().find(|(program, _)| *program == name) {
                let p: &mut BtfTracePoint = p.try_into().ok()?;
                return p.fd().is_err().then_some(Job::Tracepoint(p, tracepoint));
            }
            if classifiers.contains(&name) {
                let p: &mut SchedClassifier = p.try_into().ok()?;
                return p.fd().is_err().then_some(Job::Classifier(p, name));
            }
            None
        })
        .collect();
    // Taken from the end: the classifiers first, so that their attaches start early.
    jobs.sort_by_key(|j| matches!(j, Job::Classifier(..)));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(jobs.len());
    // One queue the threads take from: the programs' costs differ a hundredfold.
    let queue = std::sync::Mutex::new(jobs);
    let next = || queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
    let (verified, handles) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let verified = verified.clone();
            s.spawn(move || {
                while let Some(job) = next() {
                    if let Some(handle) = job.run(btf) {
                        let _ = verified.send(handle);
                    }
                }
            });
        }
        drop(verified);
        // Both classifiers, or none here (the channel ends when the last worker does).
        let both: Vec<_> = handles.iter().take(2).collect();
        // Not scoped: the tracepoints' attaches, after this returns, go on beside these (each
        // tcx attach waits for an RCU grace period).
        (both.len() == 2).then(|| {
            std::thread::spawn(move || {
                let ifaces = tc_ifaces();
                if ifaces.is_empty() { vec![] } else { tc::tcx_attach(&both, &ifaces) }
            })
        })
    })
}
