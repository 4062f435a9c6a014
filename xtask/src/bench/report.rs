//! Figures, their statistics, goals (met / not met, with the reason: never asserted) and
//! BENCHMARKS.md, whose sections are replaced one by one between markers, so a run of some
//! sections keeps the others' last figures and the hand-written text outside the markers.
use std::fmt::Write;

/// Median, min and max of repeated measurements.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

/// The finite values of `v`, in ascending order.
fn sorted_finite(v: &[f64]) -> Vec<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    s.sort_by(|a, b| a.total_cmp(b));
    s
}

pub fn stats(v: &[f64]) -> Stats {
    let s = sorted_finite(v);
    let n = s.len();
    if n == 0 {
        return Stats::default();
    }
    let median = if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 };
    Stats { median, min: s[0], max: s[n - 1], n }
}

/// Where the true median of what `v` samples lies, from `v` alone: the order statistics
/// x(k) and x(n+1-k) around the sample's median (1-based), with the chance that they bracket
/// it. Distribution-free: how many values fall below the true median is binomial(n, ½). k is
/// the largest that keeps the chance at 95 % or more (k = 1, min and max, below 6 values).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MedianInterval {
    pub low: f64,
    pub high: f64,
    /// The chance, 0–1.
    pub confidence: f64,
}

pub fn median_interval(v: &[f64]) -> Option<MedianInterval> {
    let s = sorted_finite(v);
    let n = s.len();
    if n == 0 {
        return None;
    }
    // P(fewer than k values below the median), k = 0, 1, …
    let below = |k: usize| -> f64 { (0..k).map(|i| binomial(n, i)).sum::<f64>() / 2f64.powi(n as i32) };
    let mut k = 1;
    while k < n.div_ceil(2) && 1.0 - 2.0 * below(k + 1) >= 0.95 {
        k += 1;
    }
    Some(MedianInterval { low: s[k - 1], high: s[n - k], confidence: 1.0 - 2.0 * below(k) })
}

fn binomial(n: usize, k: usize) -> f64 {
    (0..k).fold(1.0, |c, i| c * (n - i) as f64 / (i + 1) as f64)
}

impl Stats {
    /// `median (min–max)` with `prec` decimals.
    pub fn show(&self, prec: usize) -> String {
        if self.n == 0 {
            return "—".into();
        }
        format!("{:.p$} ({:.p$}–{:.p$})", self.median, self.min, self.max, p = prec)
    }
}

/// A goal of issue 14 and what this run measured for it.
#[derive(Clone, Debug)]
pub struct Goal {
    pub what: String,
    pub measured: String,
    pub goal: String,
    pub met: bool,
    /// Why it is (not) met, in a few words.
    pub why: String,
}

pub fn goal(what: &str, measured: String, goal: &str, met: bool, why: String) -> Goal {
    Goal { what: what.into(), measured, goal: goal.into(), met, why }
}

/// One section of BENCHMARKS.md: a title, free markdown, and its goals.
pub struct Section {
    pub id: &'static str,
    pub title: String,
    pub body: String,
    pub goals: Vec<Goal>,
}

impl Section {
    pub fn new(id: &'static str, title: &str) -> Self {
        Self { id, title: title.into(), body: String::new(), goals: Vec::new() }
    }

    pub fn line(&mut self, text: impl AsRef<str>) {
        let _ = writeln!(self.body, "{}", text.as_ref());
    }

    pub fn markdown(&self) -> String {
        let mut s = format!("## {}\n\n{}", self.title, self.body);
        if !self.goals.is_empty() {
            s.push_str("\n| goal | measured | target | met |\n|---|---|---|---|\n");
            for g in &self.goals {
                let met = if g.met { "yes".to_string() } else { format!("**no**: {}", g.why) };
                let _ = writeln!(s, "| {} | {} | {} | {met} |", g.what, g.measured, g.goal);
            }
        }
        s
    }

    /// The goals on stdout, as the bench's verdict: met or not met, with the reason.
    pub fn print_goals(&self) {
        for g in &self.goals {
            let state = if g.met { "met".to_string() } else { format!("NOT MET ({})", g.why) };
            println!("bench: goal {}: {} (target {}) — {state}", g.what, g.measured, g.goal);
        }
    }
}

fn start_marker(id: &str) -> String {
    format!("<!-- bench:{id}:start -->")
}

fn end_marker(id: &str) -> String {
    format!("<!-- bench:{id}:end -->")
}

const HEADER: &str = "# Benchmarks\n\n\
Reproduce (as root, on the build machine): `cargo xtask bench` (all sections, about 20 minutes), \
`cargo xtask bench --quick` (fewer, shorter repetitions), or `cargo xtask bench --only SECTION[,SECTION]`.\n\n\
Measured in an isolated lab (own network namespace and dockerd) with the release binary, on a \
2-core x86_64 VM shared with other work: ratios are taken within one run, with the tool and \
without it alternating, and shown as median (min–max). Each section below is written by the bench; \
its goals are printed as met or not met, with the reason.\n";

/// BENCHMARKS.md with `sections` replaced (or added, in `order`), everything else kept.
pub fn merge(existing: &str, sections: &[Section], order: &[&str]) -> String {
    let mut text = if existing.trim().is_empty() { HEADER.to_string() } else { existing.to_string() };
    for id in order {
        let block = sections.iter().find(|s| s.id == *id);
        let (start, end) = (start_marker(id), end_marker(id));
        match (text.find(&start), text.find(&end), block) {
            (Some(a), Some(b), Some(sec)) if a < b => {
                text = format!("{}{start}\n{}{}", &text[..a], sec.markdown(), &text[b..]);
            }
            (None, _, Some(sec)) => {
                if !text.ends_with("\n\n") {
                    text.push('\n');
                }
                let _ = write!(text, "{start}\n{}{end}\n", sec.markdown());
            }
            _ => {}
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_interval_of_nine_rounds_is_the_second_to_the_eighth() {
        let v: Vec<f64> = (1..=9).rev().map(f64::from).collect();
        let i = median_interval(&v).unwrap();
        assert_eq!((i.low, i.high), (2.0, 8.0));
        // 1 - 2 * (1 + 9) / 512
        assert!((i.confidence - 0.9609).abs() < 1e-3, "{i:?}");
        let few = median_interval(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!((few.low, few.high), (1.0, 5.0));
        assert!((few.confidence - 0.9375).abs() < 1e-9);
        let many: Vec<f64> = (1..=20).map(f64::from).collect();
        let i = median_interval(&many).unwrap();
        // P(B(20, ½) ≤ 5) = 0.0207: x(6)–x(15) at 95.9 %.
        assert_eq!((i.low, i.high), (6.0, 15.0));
        assert!(median_interval(&[]).is_none());
    }

    #[test]
    fn stats_of_a_few_numbers() {
        let s = stats(&[3.0, 1.0, 2.0, 10.0]);
        assert_eq!((s.median, s.min, s.max, s.n), (2.5, 1.0, 10.0, 4));
        assert_eq!(stats(&[]).show(2), "—");
        assert_eq!(stats(&[1.0]).show(1), "1.0 (1.0–1.0)");
    }

    #[test]
    fn merge_replaces_run_sections_and_keeps_the_rest() {
        let mut a = Section::new("a", "A");
        a.line("first");
        let b = Section::new("b", "B");
        let text = merge("", &[a, b], &["a", "b"]);
        assert!(text.starts_with("# Benchmarks"));
        let text = text + "\nhand-written\n";
        let mut a2 = Section::new("a", "A");
        a2.line("second");
        let text = merge(&text, &[a2], &["a", "b"]);
        assert!(text.contains("second") && !text.contains("first"));
        assert!(text.contains("## B") && text.contains("hand-written"));
    }
}
