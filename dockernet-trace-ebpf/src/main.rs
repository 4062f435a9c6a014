//! dockernet-trace's kernel side.
//!
//! Every program here is on a hot path: it looks at a packet, decides in a few comparisons
//! whether the packet belongs to what user space asked for (the probe's flow, or watched Docker
//! networks), and only then reads more and writes one [`Event`] to the ring buffer. Programs
//! never change a packet's fate: tc programs always return "continue".
#![no_std]
#![no_main]

mod context;
mod counting;
mod emit;
mod enrich;
mod filter;
mod ipv6_ext;
mod kernel_packet;
mod maps;
mod names;
mod packet;
mod route;
mod route6;
mod skb;
mod tc;
mod tc_packet;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // The verifier rejects any path that could reach this; it only satisfies no_std.
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
