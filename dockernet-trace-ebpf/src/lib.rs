#![no_std]
// This library target exists so that dockernet-trace can declare a build dependency on this
// crate (cargo then rebuilds it when this crate changes); the programs are in main.rs.
