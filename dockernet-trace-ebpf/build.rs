//! The eBPF crate is linked by bpf-linker, an undeclared build dependency: rebuild when it
//! changes, and say plainly when it is missing instead of failing deep inside rustc.
fn main() {
    match which::which("bpf-linker") {
        Ok(path) => println!("cargo:rerun-if-changed={}", path.display()),
        Err(_) => panic!(
            "bpf-linker is not on PATH: run `cargo xtask setup` (it builds bpf-linker against \
             the nightly toolchain's LLVM) or put ~/.cargo/bin on PATH"
        ),
    }
}
