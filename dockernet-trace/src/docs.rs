//! Shell completions and man pages, generated from the command line's own definition
//! (clap_complete, clap_mangen), so they never disagree with `--help`.
use std::path::Path;

use clap::CommandFactory;

use crate::{
    cli::Cli,
    error::{Error, Result},
};

const NAME: &str = "dockernet-trace";

/// Writes the completion script for `shell` to stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<u8> {
    clap_complete::generate(shell, &mut Cli::command(), NAME, &mut std::io::stdout());
    Ok(0)
}

/// Writes `dockernet-trace.1` and one page per command into `dir`, and lists them on stderr.
pub fn man_pages(dir: &Path) -> Result<u8> {
    let fail = |e: std::io::Error| Error::Usage(format!("cannot write man pages to {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(fail)?;
    clap_mangen::generate_to(Cli::command(), dir).map_err(fail)?;
    let mut pages: Vec<String> = std::fs::read_dir(dir)
        .map_err(fail)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(NAME) && n.ends_with(".1"))
        .collect();
    pages.sort();
    eprintln!("{NAME}: wrote {} into {}", pages.join(", "), dir.display());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_per_command_and_completions_for_each_shell() {
        let dir = tempfile::tempdir().unwrap();
        man_pages(dir.path()).unwrap();
        for page in [
            "dockernet-trace.1",
            "dockernet-trace-watch.1",
            "dockernet-trace-report.1",
            "dockernet-trace-kernel-check.1",
        ] {
            let text =
                std::fs::read_to_string(dir.path().join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
            assert!(text.starts_with(".ie") || text.contains(".TH"), "{page} is roff:\n{text}");
        }
        let root = std::fs::read_to_string(dir.path().join("dockernet-trace.1")).unwrap();
        assert!(
            root.contains("\\\\-\\\\-from") || root.contains("\\-\\-from"),
            "the trace's flags are in the main page"
        );
        let mut out = Vec::new();
        clap_complete::generate(clap_complete::Shell::Bash, &mut Cli::command(), NAME, &mut out);
        let bash = String::from_utf8(out).unwrap();
        assert!(
            bash.contains("complete -F") && bash.contains("kernel-check") && bash.contains("--record"),
            "{bash}"
        );
    }
}
