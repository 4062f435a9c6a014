//! `dockernet-trace`: parse the command line, run the command, map the outcome to the exit
//! code (0 reachable / no findings, 1 not reachable / findings, 2 usage or environment error).
use std::process::ExitCode;

use clap::{Parser, error::ErrorKind};
use dockernet_trace::{
    cli::{Cli, Command, one_line_error},
    docs, doctor, kernel_check, trace, watch,
};

async fn run(cli: Cli) -> anyhow::Result<u8> {
    Ok(match cli.command {
        Some(Command::Doctor(args)) => doctor::run(&args).await?,
        Some(Command::KernelCheck(args)) => kernel_check::run(args.json).await?,
        Some(Command::Watch(args)) => watch::run(&args).await?,
        Some(Command::Report(args)) => watch::report::run(&args)?,
        Some(Command::Completions(args)) => docs::completions(args.shell)?,
        Some(Command::Man(args)) => docs::man_pages(&args.dir)?,
        // Cancelling the trace drops its session and nft table, which detach and delete what
        // it made; the default action of these signals would leave that to the next run.
        None => tokio::select! {
            code = trace::run(&cli.trace) => code?,
            signal = interrupted() => {
                anyhow::bail!("interrupted by {signal}; what the trace attached has been removed")
            }
        },
    })
}

/// The first SIGINT or SIGTERM.
async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version are answers, not errors.
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("dockernet-trace: {}", one_line_error(&e));
            return ExitCode::from(2);
        }
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format_timestamp(None)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dockernet-trace: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("dockernet-trace: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// glibc keeps what it freed: in an arena per thread that allocates at the same time as
/// another, and in the heap for large blocks once one was freed. The tool's few threads
/// (kernel probe, verifiers, reads beside the probes) share one arena (at 150 containers and
/// 10k rules the peaks of watch and doctor went 43 → 39 and 22 → 19 MB), and large blocks
/// always get mappings of their own (a trace's peak there: 42 → 35 MB).
fn tune_allocator() {
    #[cfg(target_env = "gnu")]
    // SAFETY: called first thing, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        // Large blocks (aya's copy of the kernel BTF, a chain of thousands of rules, growing
        // by doubling) always in their own mappings, given back whole when freed; glibc's
        // default raises this threshold at the first such free, and the next ones then stay
        // in the heap for good.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}
