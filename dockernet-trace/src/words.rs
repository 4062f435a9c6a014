//! Numbers with their nouns, for sentences people read ("1 probe", "3 probes").

/// `n` and the noun, plural when `n` is not 1 (nouns of this tool take an `s`).
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

#[cfg(test)]
mod tests {
    #[test]
    fn singular_and_plural() {
        assert_eq!(super::count(1u16, "probe"), "1 probe");
        assert_eq!(super::count(0u16, "probe"), "0 probes");
        assert_eq!(super::count(3usize as u64, "packet"), "3 packets");
    }
}
