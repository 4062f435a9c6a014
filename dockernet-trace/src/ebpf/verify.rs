//! Verifying programs side by side, and attaching them as they pass. The kernel's verifier
//! spends tens of milliseconds on each of the larger programs (see `ipv6_ext` in the eBPF
//! crate), and for root it runs without a global lock: with one thread per core, N programs
//! cost about the slowest of them.
//!
//! A trace that knows its interfaces attaches the tc classifiers (through tcx) as soon as they
//! are verified, while the tracepoint programs still are: those attaches mostly wait for the
//! kernel (an RCU grace period each), not for a core.
//!
//! A tracepoint program is attached as soon as it is verified (each attach waits for the
//! kernel to patch the tracepoint's call sites, beside the other programs' verification).
//!
//! Nothing here reports: a program that fails to load or attach is left to the hook's own
//! attach, which tries again and says why (its error, its note); an interface not attached
//! here is attached later the usual way.
use aya::{
    Btf, Ebpf,
    programs::{BtfTracePoint, SchedClassifier},
};

use dockernet_trace_common::programs;

use super::tc;

/// The tracepoint programs in the order their verification starts: the costliest first
/// (about 30 ms for either reset program, then 25, 15, 14, 12, 11, 4, 3 and 1 ms on 6.18 with
/// every mode's code; RUST_LOG=debug says), so that with few cores the last to finish is a short one. The classifiers (about
/// 25 ms each) start before them all: their tcx attaches wait for them.
const COSTLIEST_FIRST: [&str; 10] = [
    programs::TCP_RESET_RSN,
    programs::TCP_SEND_RESET,
    programs::KFREE_SKB,
    programs::ICMP_SEND,
    programs::NET_DEV_XMIT,
    programs::NETIF_RECEIVE_SKB,
    programs::FIB6_TABLE_LOOKUP,
    programs::NEIGH_UPDATE,
    programs::FIB_TABLE_LOOKUP,
    programs::NEIGH_CREATE,
];

/// One program to verify.
enum Job<'a> {
    /// A BTF tracepoint program, its name and the tracepoint it is for.
    Tracepoint(&'a mut BtfTracePoint, &'static str, &'static str),
    /// A tc classifier and its name.
    Classifier(&'a mut SchedClassifier, &'a str),
}

impl Job<'_> {
    /// Where the job stands in the order verification starts in (0 first).
    fn rank(&self) -> usize {
        match self {
            Job::Classifier(..) => 0,
            Job::Tracepoint(_, name, _) => {
                1 + COSTLIEST_FIRST.iter().position(|p| p == name).unwrap_or(COSTLIEST_FIRST.len())
            }
        }
    }

    /// Verifies the program, and attaches a tracepoint's at once (the attach mostly waits for
    /// the kernel to patch its code, beside the other programs' verification).
    fn run(self, btf: &Btf) -> Option<Done> {
        let t = std::time::Instant::now();
        let (what, result, done) = match self {
            Job::Tracepoint(p, program, tracepoint) => {
                let r = p.load(tracepoint, btf);
                let attached = r.is_ok() && p.attach().is_ok();
                (tracepoint, r, attached.then_some(Done::Attached(program)))
            }
            Job::Classifier(p, name) => {
                let r = p.load();
                let handle = r.is_ok().then(|| tc::handle(p, name)).flatten();
                ("tc classifier", r, handle.map(|h| Done::Classifier(Box::new(h))))
            }
        };
        match result {
            Ok(()) => log::debug!("{what} verified in {} ms", t.elapsed().as_millis()),
            Err(e) => log::debug!("{what} not verified ahead: {e}"),
        }
        done
    }
}

/// A job done: a tracepoint program attached, or a classifier ready to attach.
enum Done {
    Attached(&'static str),
    Classifier(Box<(&'static str, SchedClassifier)>),
}

/// What `verify_ahead` did.
pub struct Ahead {
    /// The tracepoint programs it attached.
    pub attached: Vec<&'static str>,
    /// The tcx links it is making (`tc_ifaces`), when joined.
    pub tcx: Option<std::thread::JoinHandle<Vec<tc::TcxMade>>>,
}

/// Loads (verifies) the programs named in `tracepoints` (program, tracepoint) and `classifiers`
/// that are not loaded yet, on as many threads as there are cores, attaching each tracepoint
/// program once it is verified; and attaches both classifiers through tcx to the interfaces
/// `tc_ifaces` gives once they are verified, on a thread of its own (it may wait for them
/// while the tracepoint programs are verified, and attach while they are).
pub fn verify_ahead(
    ebpf: &mut Ebpf,
    btf: &Btf,
    tracepoints: &[(&'static str, &'static str)],
    classifiers: &[&str],
    tc_ifaces: impl FnOnce() -> Vec<String> + Send + 'static,
) -> Ahead {
    let mut jobs: Vec<Job> = ebpf
        .programs_mut()
        .filter_map(|(name, p)| {
            if let Some(&(program, tracepoint)) = tracepoints.iter().find(|(program, _)| *program == name) {
                let p: &mut BtfTracePoint = p.try_into().ok()?;
                return p.fd().is_err().then_some(Job::Tracepoint(p, program, tracepoint));
            }
            if classifiers.contains(&name) {
                let p: &mut SchedClassifier = p.try_into().ok()?;
                return p.fd().is_err().then_some(Job::Classifier(p, name));
            }
            None
        })
        .collect();
    jobs.sort_by_key(|j| std::cmp::Reverse(j.rank()));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(jobs.len());
    // One queue the threads take from: the programs' costs differ a hundredfold.
    // Popped from the end: the lowest rank first.
    let queue = std::sync::Mutex::new(jobs);
    let next = || queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
    let (ready, classifiers_ready) = std::sync::mpsc::channel();
    let attached = std::sync::Mutex::new(Vec::new());
    let tcx = std::thread::scope(|s| {
        for _ in 0..threads {
            let (ready, attached) = (ready.clone(), &attached);
            s.spawn(move || {
                while let Some(job) = next() {
                    match job.run(btf) {
                        Some(Done::Classifier(handle)) => {
                            let _ = ready.send(*handle);
                        }
                        Some(Done::Attached(program)) => {
                            attached.lock().unwrap_or_else(|e| e.into_inner()).push(program)
                        }
                        None => {}
                    }
                }
            });
        }
        drop(ready);
        // Both classifiers, or none here (the channel ends when the last worker does).
        let both: Vec<_> = classifiers_ready.iter().take(2).collect();
        // Not scoped: the hooks' own attaches, after this returns, go on beside these (each
        // tcx attach waits for an RCU grace period).
        (both.len() == 2).then(|| {
            std::thread::spawn(move || {
                let ifaces = tc_ifaces();
                if ifaces.is_empty() { vec![] } else { tc::tcx_attach(&both, &ifaces) }
            })
        })
    });
    Ahead { attached: attached.into_inner().unwrap_or_else(|e| e.into_inner()), tcx }
}
