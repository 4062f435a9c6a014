//! The spinner on stderr while a trace runs, saying which step it is in.
use std::time::Duration;

use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};

pub struct Spinner(ProgressBar);

impl Spinner {
    /// Starts spinning with `what`. The spinner is cleared however the trace ends (an error or
    /// a signal too), so an error stays one line.
    pub fn start(what: &str) -> Self {
        let style =
            ProgressStyle::with_template("{spinner} {msg}").unwrap_or(ProgressStyle::default_spinner());
        let bar = ProgressBar::new_spinner().with_finish(ProgressFinish::AndClear).with_style(style);
        bar.enable_steady_tick(Duration::from_millis(100));
        bar.set_message(what.to_string());
        Self(bar)
    }

    pub fn say(&self, what: String) {
        self.0.set_message(what);
    }

    pub fn clear(&self) {
        self.0.finish_and_clear();
    }
}
