//! The names the C library asks for, in order, for one name typed by the user (glibc's
//! res_search): a name ending in a dot as is only; a name with at least `ndots` dots as is
//! first, then with each search domain; any other name with each search domain first and as
//! is last (unless it has no dot and `no-tld-query` is set).
use super::{DnsName, ResolverConfig};

/// The candidates for `name` under `cfg`. A search domain that would make the name too long
/// for DNS is skipped, as glibc does.
pub fn query_names(name: &DnsName, cfg: &ResolverConfig) -> Vec<DnsName> {
    if name.is_absolute() {
        return vec![name.clone()];
    }
    let searched: Vec<DnsName> = cfg.search.iter().filter_map(|d| name.with_domain(d).ok()).collect();
    let as_is = || DnsName::parse(&format!("{name}."));
    let mut out = Vec::new();
    let many_dots = name.dots() >= cfg.ndots as usize;
    if many_dots {
        out.extend(as_is().ok());
    }
    out.extend(searched);
    let skip_tld = name.dots() == 0 && cfg.no_tld_query && !cfg.search.is_empty();
    if !many_dots && !skip_tld {
        out.extend(as_is().ok());
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(name: &str, conf: &str) -> Vec<String> {
        let cfg = ResolverConfig::parse(conf);
        query_names(&DnsName::parse(name).unwrap(), &cfg).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn enough_dots_go_as_is_first() {
        let conf = "search corp.example svc.example\n";
        assert_eq!(
            names("db.example.com", conf),
            ["db.example.com", "db.example.com.corp.example", "db.example.com.svc.example"]
        );
        // ndots:0 (Docker's embedded DNS files): even a bare name goes as is first.
        assert_eq!(names("db", "search corp.example\noptions ndots:0\n"), ["db", "db.corp.example"]);
    }

    #[test]
    fn short_names_are_searched_first() {
        let conf = "search corp.example svc.example\noptions ndots:5\n";
        assert_eq!(
            names("db.example.com", conf),
            ["db.example.com.corp.example", "db.example.com.svc.example", "db.example.com"]
        );
        assert_eq!(names("db", "search corp.example\n"), ["db.corp.example", "db"]);
        assert_eq!(names("db", "search corp.example\noptions no-tld-query\n"), ["db.corp.example"]);
        assert_eq!(names("db", "options no-tld-query\n"), ["db"], "nothing to search: as is");
    }

    #[test]
    fn a_trailing_dot_stops_the_search() {
        assert_eq!(names("db.", "search corp.example\noptions ndots:5\n"), ["db"]);
    }

    #[test]
    fn without_search_domains_only_the_name() {
        assert_eq!(
            names("xxxx-xxxx.mysql.rds.aliyuncs.com", "nameserver 10.0.0.2\n"),
            ["xxxx-xxxx.mysql.rds.aliyuncs.com"]
        );
        assert_eq!(names("db", "search .\n"), ["db"], "the root domain adds nothing");
    }

    #[test]
    fn too_long_expansions_are_skipped() {
        let long = [&"x".repeat(60)[..]; 4].join(".");
        let conf = format!("search {}\noptions ndots:9\n", "y".repeat(20));
        assert_eq!(names(&long, &conf), vec![long]);
    }
}
