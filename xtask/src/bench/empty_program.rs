//! An eBPF program that does nothing (`r0 = 0; exit`), attached to the raw tracepoint
//! kfree_skb: what the kernel's call into any program there costs each dropped packet. No
//! tool that counts drops on that tracepoint (watch, bpftrace, pwru, retis) can cost less;
//! the bench shows it beside them as the floor of a drop flood's cost.
//!
//! Loaded with two bpf(2) calls of our own: the program is two instructions, and a raw
//! tracepoint needs no BTF, ELF or loader library.
use std::os::fd::{FromRawFd, OwnedFd};

use anyhow::{Result, bail};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_RAW_TRACEPOINT_OPEN: libc::c_long = 17;
const BPF_PROG_TYPE_RAW_TRACEPOINT: u32 = 17;
/// `r0 = 0` (BPF_ALU64 | BPF_MOV | BPF_K) and `exit` (BPF_JMP | BPF_EXIT), as struct bpf_insn.
const PROGRAM: [u64; 2] = [0xb7, 0x95];

/// The attached program; dropping it detaches it.
pub struct EmptyProgram {
    _link: OwnedFd,
    _program: OwnedFd,
}

impl EmptyProgram {
    pub fn attach(tracepoint: &str) -> Result<Self> {
        let license = c"GPL";
        let mut load = [0u64; 16];
        // union bpf_attr for BPF_PROG_LOAD: prog_type and insn_cnt (two u32), insns, license.
        load[0] = BPF_PROG_TYPE_RAW_TRACEPOINT as u64 | (PROGRAM.len() as u64) << 32;
        load[1] = PROGRAM.as_ptr() as u64;
        load[2] = license.as_ptr() as u64;
        let program = bpf(BPF_PROG_LOAD, &load, "loading the empty program")?;
        let name = std::ffi::CString::new(tracepoint)?;
        // union bpf_attr for BPF_RAW_TRACEPOINT_OPEN: the tracepoint's name, the program's fd.
        let open = [name.as_ptr() as u64, program as u64, 0, 0];
        let link = bpf(BPF_RAW_TRACEPOINT_OPEN, &open, "attaching the empty program")?;
        // SAFETY: both descriptors were just returned by the kernel, and nothing else owns them.
        unsafe { Ok(Self { _link: OwnedFd::from_raw_fd(link), _program: OwnedFd::from_raw_fd(program) }) }
    }
}

/// bpf(2) with `attr` (a union bpf_attr, zero beyond the fields set); the fd it returns.
fn bpf(cmd: libc::c_long, attr: &[u64], what: &str) -> Result<i32> {
    let size = std::mem::size_of_val(attr);
    // SAFETY: `attr` is as large as the size passed, and the pointers in it (the program, the
    // license, the name) outlive the call.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_ptr(), size) };
    if fd < 0 {
        bail!("{what}: {}", std::io::Error::last_os_error());
    }
    Ok(fd as i32)
}
