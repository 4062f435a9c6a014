//! A helper program (`nft monitor`) that must not outlive the tool: started by a thread of
//! our own with PR_SET_PDEATHSIG, so the kernel kills it when that thread ends, even when the
//! tool is SIGKILLed. The thread must therefore live as long as the child (it reads its output).
use std::{
    io,
    os::unix::process::CommandExt,
    process::{Child, Command},
};

/// Spawns `cmd` so that it gets SIGKILL when the calling thread exits.
pub fn spawn(cmd: &mut Command) -> io::Result<Child> {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: runs in the child between fork and exec; prctl and getppid are
    // async-signal-safe, and the closure touches no memory of the parent.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before the prctl: then nobody would kill us.
            if libc::getppid() != parent {
                return Err(io::Error::other("parent exited"));
            }
            Ok(())
        });
    }
    cmd.spawn()
}
