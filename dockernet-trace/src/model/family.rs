//! Which address family a trace uses. `-4`/`-6` choose; without them IPv4 when both ends have
//! an IPv4 address, else IPv6 when both have an IPv6 one. An end that has no address yet (a
//! stopped container, `--network none`) does not constrain the choice: the trace then refuses
//! it for what it is.
use crate::{flow::IpFamily, model::ModelError};

/// The families one end has an address of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Families {
    pub v4: bool,
    pub v6: bool,
}

impl Families {
    pub fn has(self, f: IpFamily) -> bool {
        match f {
            IpFamily::V4 => self.v4,
            IpFamily::V6 => self.v6,
        }
    }

    pub fn with(mut self, f: IpFamily) -> Self {
        match f {
            IpFamily::V4 => self.v4 = true,
            IpFamily::V6 => self.v6 = true,
        }
        self
    }

    pub fn of(families: impl IntoIterator<Item = IpFamily>) -> Self {
        families.into_iter().fold(Self::default(), Self::with)
    }

    fn describe(self) -> &'static str {
        match (self.v4, self.v6) {
            (true, true) => "IPv4 and IPv6",
            (true, false) => "only IPv4",
            (false, true) => "only IPv6",
            (false, false) => "no address",
        }
    }
}

/// What one end offers: its name for messages, its families (None: not known yet), and
/// what to do when it lacks a family.
#[derive(Clone, Debug)]
pub struct Offer {
    pub what: String,
    pub families: Option<Families>,
    /// Said when this end lacks the family asked for (e.g. how to give a container IPv6).
    pub hint: String,
}

impl Offer {
    fn allows(&self, f: IpFamily) -> bool {
        self.families.is_none_or(|x| x.has(f))
    }
}

/// The family of the trace (see the module documentation).
pub fn choose(asked: Option<IpFamily>, from: &Offer, to: &Offer) -> Result<IpFamily, ModelError> {
    if let Some(f) = asked {
        for end in [from, to] {
            if !end.allows(f) {
                let flag = if f == IpFamily::V4 { "-4" } else { "-6" };
                return Err(ModelError::NoAddress {
                    what: end.what.clone(),
                    family: f.name().into(),
                    hint: format!("{}, or drop {flag}", end.hint),
                });
            }
        }
        return Ok(f);
    }
    [IpFamily::V4, IpFamily::V6].into_iter().find(|f| from.allows(*f) && to.allows(*f)).ok_or_else(|| {
        let say = |o: &Offer| format!("{} has {}", o.what, o.families.unwrap_or_default().describe());
        ModelError::NoCommonFamily {
            from: from.what.clone(),
            to: to.what.clone(),
            detail: format!("{}, {}", say(from), say(to)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(what: &str, families: Option<&[IpFamily]>) -> Offer {
        Offer {
            what: what.into(),
            families: families.map(|f| Families::of(f.iter().copied())),
            hint: "connect it to a network created with --ipv6".into(),
        }
    }

    const BOTH: &[IpFamily] = &[IpFamily::V4, IpFamily::V6];
    const V4: &[IpFamily] = &[IpFamily::V4];
    const V6: &[IpFamily] = &[IpFamily::V6];

    #[test]
    fn ipv4_by_default_when_both_ends_have_it() {
        assert_eq!(choose(None, &offer("a", Some(BOTH)), &offer("b", Some(BOTH))).unwrap(), IpFamily::V4);
        assert_eq!(choose(None, &offer("a", Some(BOTH)), &offer("b", Some(V6))).unwrap(), IpFamily::V6);
        assert_eq!(choose(None, &offer("a", None), &offer("b", Some(V6))).unwrap(), IpFamily::V6);
        assert_eq!(choose(None, &offer("a", None), &offer("b", None)).unwrap(), IpFamily::V4);
    }

    #[test]
    fn asked_family_must_be_on_both_ends() {
        let v6 = Some(IpFamily::V6);
        assert_eq!(choose(v6, &offer("a", Some(BOTH)), &offer("b", Some(BOTH))).unwrap(), IpFamily::V6);
        assert_eq!(choose(v6, &offer("a", None), &offer("b", Some(V6))).unwrap(), IpFamily::V6);
        let e = choose(v6, &offer("web", Some(V4)), &offer("b", Some(BOTH))).unwrap_err().to_string();
        assert!(
            e.contains("web has no IPv6 address") && e.contains("--ipv6") && e.contains("drop -6"),
            "{e}"
        );
        let e = choose(Some(IpFamily::V4), &offer("a", Some(BOTH)), &offer("[fd00::2]", Some(V6)));
        assert!(e.unwrap_err().to_string().contains("drop -4"));
    }

    #[test]
    fn ends_of_different_families_say_so() {
        let e = choose(None, &offer("web", Some(V4)), &offer("[fd00::2]", Some(V6))).unwrap_err().to_string();
        assert!(e.contains("web has only IPv4") && e.contains("[fd00::2] has only IPv6"), "{e}");
    }
}
