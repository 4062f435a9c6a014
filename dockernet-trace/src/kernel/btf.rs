//! The running kernel's BTF: structure offsets for the eBPF programs, enum values (named in
//! `reasons`), and tracepoint prototypes.

use std::{collections::HashMap, sync::Mutex};

use btf_rs::{Btf, BtfType, Type};
use dockernet_trace_common::{Route6Offsets, RouteOffsets, SkbOffsets};

use super::KernelError;

pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

pub struct KernelBtf {
    btf: Btf,
    path: String,
    /// Structures already found by name: a lookup by name scans every type of the mapped
    /// BTF (~1 ms for vmlinux), and the offsets ask for a few structures dozens of times.
    composites: Mutex<HashMap<String, btf_rs::Struct>>,
    /// Tracepoint prototypes' argument counts, by tracepoint (each hook asks several times).
    tracepoints: Mutex<HashMap<String, Option<usize>>>,
}

impl KernelBtf {
    pub fn load() -> Result<Self, KernelError> {
        Self::from_file(VMLINUX)
    }

    pub fn from_file(path: &str) -> Result<Self, KernelError> {
        if !std::path::Path::new(path).exists() {
            return Err(KernelError::NoBtf { path: path.into() });
        }
        // Mapping saves reading ~6 MB, but sysfs only maps BTF since 6.16 (ENODEV before).
        let btf = Btf::from_file_with_backend(path, btf_rs::Backend::Mmap)
            .or_else(|_| Btf::from_file(path))
            .map_err(|e| KernelError::BadBtf { path: path.into(), reason: e.to_string() })?;
        Ok(Self { btf, path: path.into(), composites: Mutex::default(), tracepoints: Mutex::default() })
    }

    /// Loads a kernel module's split BTF (e.g. /sys/kernel/btf/bridge) on top of vmlinux.
    pub fn module(&self, module: &str) -> Result<Self, KernelError> {
        let path = format!("/sys/kernel/btf/{module}");
        let btf = Btf::from_split_file(&path, &self.btf)
            .map_err(|e| KernelError::BadBtf { path: path.clone(), reason: e.to_string() })?;
        Ok(Self { btf, path, composites: Mutex::default(), tracepoints: Mutex::default() })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    fn name_of(&self, t: &dyn BtfType) -> String {
        self.btf.resolve_name(t).unwrap_or_default()
    }

    /// The struct (or union) named `name` with a body (not a forward declaration).
    fn composite(&self, name: &str) -> Result<btf_rs::Struct, KernelError> {
        let mut known = self.composites.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = known.get(name) {
            return Ok(s.clone());
        }
        let types = self.btf.resolve_types_by_name(name).unwrap_or_default();
        let found = types
            .into_iter()
            .find_map(|t| match t {
                Type::Struct(s) | Type::Union(s) if !s.members.is_empty() => Some(s),
                _ => None,
            })
            .ok_or_else(|| KernelError::MissingType { what: format!("struct {name}") })?;
        known.insert(name.to_string(), found.clone());
        Ok(found)
    }

    /// Follows typedefs and qualifiers down to the type they name.
    fn strip(&self, mut t: Type) -> Type {
        loop {
            let next = match &t {
                Type::Typedef(x) => self.btf.resolve_chained_type(x),
                Type::Const(x) | Type::Volatile(x) | Type::Restrict(x) => self.btf.resolve_chained_type(x),
                Type::TypeTag(x) => self.btf.resolve_chained_type(x),
                _ => return t,
            };
            match next {
                Ok(n) => t = n,
                Err(_) => return t,
            }
        }
    }

    /// Finds `name` among the members of `s`, looking into anonymous structs and unions, and
    /// returns its offset in bits and its type.
    fn find_member(&self, s: &btf_rs::Struct, name: &str) -> Option<(u32, Type)> {
        for m in &s.members {
            let mname = self.name_of(m);
            let mtype = self.btf.resolve_chained_type(m).ok()?;
            if mname == name {
                return Some((m.bit_offset(), mtype));
            }
            if mname.is_empty()
                && let Type::Struct(inner) | Type::Union(inner) = self.strip(mtype)
                && let Some((off, t)) = self.find_member(&inner, name)
            {
                return Some((m.bit_offset() + off, t));
            }
        }
        None
    }

    /// Byte offset of `path` (e.g. `["nd_net", "net"]`) inside `struct strct`.
    pub fn offset_of(&self, strct: &str, path: &[&str]) -> Result<u32, KernelError> {
        let missing = || KernelError::MissingType { what: format!("{strct}.{}", path.join(".")) };
        let mut s = self.composite(strct)?;
        let mut bits = 0u32;
        for (i, part) in path.iter().enumerate() {
            let (off, t) = self.find_member(&s, part).ok_or_else(missing)?;
            bits += off;
            if i + 1 < path.len() {
                match self.strip(t) {
                    Type::Struct(inner) | Type::Union(inner) => s = inner,
                    _ => return Err(missing()),
                }
            }
        }
        if !bits.is_multiple_of(8) {
            return Err(missing());
        }
        Ok(bits / 8)
    }

    fn offset16(&self, strct: &str, path: &[&str]) -> Result<u16, KernelError> {
        let off = self.offset_of(strct, path)?;
        u16::try_from(off).map_err(|_| KernelError::MissingType {
            what: format!("{strct}.{} within 64 KiB", path.join(".")),
        })
    }

    /// Where `sk_buff`, `net_device` and `net` keep what the programs read.
    pub fn skb_offsets(&self) -> Result<SkbOffsets, KernelError> {
        Ok(SkbOffsets {
            head: self.offset16("sk_buff", &["head"])?,
            data: self.offset16("sk_buff", &["data"])?,
            len: self.offset16("sk_buff", &["len"])?,
            network_header: self.offset16("sk_buff", &["network_header"])?,
            transport_header: self.offset16("sk_buff", &["transport_header"])?,
            protocol: self.offset16("sk_buff", &["protocol"])?,
            dev: self.offset16("sk_buff", &["dev"])?,
            dev_ifindex: self.offset16("net_device", &["ifindex"])?,
            dev_name: self.offset16("net_device", &["name"])?,
            dev_nd_net: self.offset16("net_device", &["nd_net", "net"])?,
            net_ns_inum: self.offset16("net", &["ns", "inum"])?,
            refdst: self.offset16("sk_buff", &["_skb_refdst"])?,
        })
    }

    /// Where `flowi4`, `fib_nh_common`, `neighbour` and `neigh_table` keep what the route and
    /// neighbour tracepoints read.
    pub fn route_offsets(&self) -> Result<RouteOffsets, KernelError> {
        Ok(RouteOffsets {
            fl4_oif: self.offset16("flowi4", &["__fl_common", "flowic_oif"])?,
            fl4_proto: self.offset16("flowi4", &["__fl_common", "flowic_proto"])?,
            fl4_saddr: self.offset16("flowi4", &["saddr"])?,
            fl4_daddr: self.offset16("flowi4", &["daddr"])?,
            fl4_sport: self.offset16("flowi4", &["uli", "ports", "sport"])?,
            fl4_dport: self.offset16("flowi4", &["uli", "ports", "dport"])?,
            nhc_dev: self.offset16("fib_nh_common", &["nhc_dev"])?,
            nhc_gw_family: self.offset16("fib_nh_common", &["nhc_gw_family"])?,
            nhc_gw: self.offset16("fib_nh_common", &["nhc_gw"])?,
            neigh_tbl: self.offset16("neighbour", &["tbl"])?,
            neigh_dev: self.offset16("neighbour", &["dev"])?,
            neigh_key: self.offset16("neighbour", &["primary_key"])?,
            tbl_family: self.offset16("neigh_table", &["family"])?,
            dst_error: self.offset16("dst_entry", &["error"])?,
            dev_ip_ptr: self.offset16("net_device", &["ip_ptr"])?,
            in_dev_forwarding: self.offset16("in_device", &["cnf", "data"])?,
        })
    }

    /// Where `flowi6`, `fib6_result` and `fib6_table` keep what the IPv6 route tracepoint
    /// reads (`fib6:fib6_table_lookup`, the IPv6 counterpart of `fib:fib_table_lookup`).
    pub fn route6_offsets(&self) -> Result<Route6Offsets, KernelError> {
        Ok(Route6Offsets {
            fl6_oif: self.offset16("flowi6", &["__fl_common", "flowic_oif"])?,
            fl6_proto: self.offset16("flowi6", &["__fl_common", "flowic_proto"])?,
            fl6_saddr: self.offset16("flowi6", &["saddr"])?,
            fl6_daddr: self.offset16("flowi6", &["daddr"])?,
            fl6_sport: self.offset16("flowi6", &["uli", "ports", "sport"])?,
            fl6_dport: self.offset16("flowi6", &["uli", "ports", "dport"])?,
            res_nh: self.offset16("fib6_result", &["nh"])?,
            res_type: self.offset16("fib6_result", &["fib6_type"])?,
            tb6_id: self.offset16("fib6_table", &["tb6_id"])?,
            _pad: 0,
        })
    }

    /// Values and names of an enum, e.g. `skb_drop_reason`.
    pub fn enum_values(&self, name: &str) -> Result<Vec<(String, u64)>, KernelError> {
        let types = self.btf.resolve_types_by_name(name).unwrap_or_default();
        for t in types {
            match t {
                Type::Enum(e) => {
                    return Ok(e.members.iter().map(|m| (self.name_of(m), u64::from(m.val()))).collect());
                }
                Type::Enum64(e) => {
                    return Ok(e.members.iter().map(|m| (self.name_of(m), m.val())).collect());
                }
                _ => {}
            }
        }
        Err(KernelError::MissingType { what: format!("enum {name}") })
    }

    /// Number of arguments a BTF tracepoint passes to programs (from `btf_trace_<name>`,
    /// whose first parameter is the tracepoint's private data, not an argument).
    pub fn tracepoint_args(&self, name: &str) -> Option<usize> {
        let mut known = self.tracepoints.lock().unwrap_or_else(|e| e.into_inner());
        *known.entry(name.to_string()).or_insert_with(|| self.find_tracepoint_args(name))
    }

    fn find_tracepoint_args(&self, name: &str) -> Option<usize> {
        let t = self.btf.resolve_types_by_name(&format!("btf_trace_{name}")).ok()?;
        let mut t = self.strip(t.into_iter().next()?);
        if let Type::Ptr(p) = &t {
            t = self.btf.resolve_chained_type(p).ok()?;
        }
        match t {
            Type::FuncProto(fp) => Some(fp.parameters.len().saturating_sub(1)),
            _ => None,
        }
    }

    /// Parameter names of function `name`, in order.
    pub fn func_params(&self, name: &str) -> Option<Vec<String>> {
        let types = self.btf.resolve_types_by_name(name).ok()?;
        let func = types.into_iter().find_map(|t| match t {
            Type::Func(f) => Some(f),
            _ => None,
        })?;
        match self.btf.resolve_chained_type(&func).ok()? {
            Type::FuncProto(fp) => Some(fp.parameters.iter().map(|p| self.name_of(p)).collect()),
            _ => None,
        }
    }

    /// Does a struct named `name` with a body exist here?
    pub fn has_struct(&self, name: &str) -> bool {
        self.composite(name).is_ok()
    }

    /// Does vmlinux (or this module BTF) describe a function named `name`?
    pub fn has_function(&self, name: &str) -> bool {
        self.btf
            .resolve_types_by_name(name)
            .map(|ts| ts.iter().any(|t| matches!(t, Type::Func(_))))
            .unwrap_or(false)
    }
}
