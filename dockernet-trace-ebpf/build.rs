//! The eBPF crate is linked by bpf-linker, an undeclared build dependency: rebuild when it
//! changes, and say plainly when it is missing instead of failing deep inside rustc.
fn main() {
    // bpf-linker's default (LLVM's --bpf-expand-memcpy-in-order) leaves every memset to a
    // call of compiler-builtins' byte loop: zeroing a parsed packet cost ~260 instructions on
    // every packet, in every program. Without it LLVM writes memsets and copies as stores.
    println!("cargo:rustc-link-arg=--disable-expand-memcpy-in-order");
    match which::which("bpf-linker") {
        Ok(path) => println!("cargo:rerun-if-changed={}", path.display()),
        Err(_) => panic!(
            "bpf-linker is not on PATH: run `cargo xtask setup` (it builds bpf-linker against \
             the nightly toolchain's LLVM) or put ~/.cargo/bin on PATH"
        ),
    }
}
