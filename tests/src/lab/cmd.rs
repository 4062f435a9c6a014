//! Running commands with errors that say which command failed and what it printed.
use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, bail};

/// Runs `cmd`, returning stdout; a non-zero exit is an error carrying stderr.
pub fn run(cmd: &mut Command) -> Result<String> {
    let out = output(cmd)?;
    if !out.status.success() {
        bail!("`{}` failed ({}): {}", describe(cmd), out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `cmd` and returns its output whatever the exit status.
pub fn output(cmd: &mut Command) -> Result<Output> {
    cmd.stdin(Stdio::null()).output().with_context(|| format!("cannot start `{}`", describe(cmd)))
}

/// Runs a program with arguments (the common case).
pub fn sh(argv: &[&str]) -> Result<String> {
    run(Command::new(argv[0]).args(&argv[1..]))
}

/// Like `sh`, ignoring failure (for best-effort cleanup).
pub fn quiet(argv: &[&str]) {
    let _ = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}
