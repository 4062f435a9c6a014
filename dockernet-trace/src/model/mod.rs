//! The host as Docker and the kernel describe it (being written).
