//! tracefs: where it is mounted, and the record layout of classic tracepoints.
use std::{collections::HashMap, path::PathBuf};

use super::KernelError;

const CANDIDATES: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// The tracefs root, mounting it at /sys/kernel/tracing if no mount is visible.
pub fn root() -> Result<PathBuf, KernelError> {
    for c in CANDIDATES {
        if std::path::Path::new(c).join("events").is_dir() {
            return Ok(c.into());
        }
    }
    let target = CANDIDATES[0];
    nix::mount::mount(Some("tracefs"), target, Some("tracefs"), nix::mount::MsFlags::empty(), None::<&str>)
        .map_err(|e| KernelError::NoTracefs { reason: format!("mount on {target}: {e}") })?;
    Ok(target.into())
}

/// One field of a tracepoint record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub offset: u16,
    pub size: u16,
}

/// The fields of `events/<category>/<name>/format`, by name.
pub fn format(category: &str, name: &str) -> Result<HashMap<String, Field>, KernelError> {
    let path = root()?.join("events").join(category).join(name).join("format");
    let text = std::fs::read_to_string(&path)
        .map_err(|source| KernelError::Read { path: path.display().to_string(), source })?;
    Ok(parse_format(&text))
}

/// Parses lines like `\tfield:__u8 src[4];\toffset:28;\tsize:4;\tsigned:0;`.
pub fn parse_format(text: &str) -> HashMap<String, Field> {
    let mut fields = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("field:") else { continue };
        let mut parts = rest.split(';');
        let Some(decl) = parts.next() else { continue };
        let mut offset = None;
        let mut size = None;
        for p in parts {
            let p = p.trim();
            if let Some(v) = p.strip_prefix("offset:") {
                offset = v.parse().ok();
            } else if let Some(v) = p.strip_prefix("size:") {
                size = v.parse().ok();
            }
        }
        // The name is the last word of the declaration, minus any array suffix.
        let Some(last) = decl.split_whitespace().last() else { continue };
        let name = last.split('[').next().unwrap_or(last).to_string();
        if let (Some(offset), Some(size)) = (offset, size) {
            fields.insert(name, Field { offset, size });
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fib_format() {
        let text = "name: fib_table_lookup\nID: 1\nformat:\n\
            \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
            \tfield:u32 tb_id;\toffset:8;\tsize:4;\tsigned:0;\n\
            \tfield:__u8 src[4];\toffset:28;\tsize:4;\tsigned:0;\n\
            \tfield:__data_loc char[] name;\toffset:20;\tsize:4;\tsigned:0;\n\n\
            print fmt: \"table %u\", REC->tb_id\n";
        let f = parse_format(text);
        assert_eq!(f["tb_id"], Field { offset: 8, size: 4 });
        assert_eq!(f["src"], Field { offset: 28, size: 4 });
        assert_eq!(f["name"], Field { offset: 20, size: 4 });
        assert_eq!(f["common_type"].offset, 0);
    }
}
