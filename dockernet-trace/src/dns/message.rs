//! The DNS wire format, through hickory-proto: one question out, the reply read back.
use std::net::IpAddr;

use hickory_proto::{
    op::{Edns, Message, MessageType, OpCode, Query, ResponseCode},
    rr::{Name, RData, RecordType},
};

use super::{DnsName, QueryResult, QueryType, outcome::Rcode};

/// What the C library offers with `options edns0`.
const EDNS_PAYLOAD: u16 = 1232;

fn record_type(q: QueryType) -> RecordType {
    match q {
        QueryType::A => RecordType::A,
        QueryType::Aaaa => RecordType::AAAA,
    }
}

fn wire_name(name: &DnsName) -> Result<Name, String> {
    let mut n = Name::from_ascii(name.as_str()).map_err(|e| e.to_string())?;
    n.set_fqdn(true);
    Ok(n)
}

/// A recursive query for `name`, with id `id`.
pub fn encode_query(id: u16, name: &DnsName, qtype: QueryType, edns0: bool) -> Result<Vec<u8>, String> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(wire_name(name)?, record_type(qtype)));
    if edns0 {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        msg.set_edns(edns);
    }
    msg.to_vec().map_err(|e| e.to_string())
}

/// A reply, read: what it says about our question, and whether it was truncated.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    pub result: QueryResult,
    pub truncated: bool,
}

/// Reads a reply to query `id` for `name`/`qtype`. A reply to another id or question is
/// `Err` (not ours: keep waiting); one that cannot be parsed is `Malformed`.
pub fn decode_reply(bytes: &[u8], id: u16, name: &DnsName, qtype: QueryType) -> Result<Reply, ()> {
    let msg = match Message::from_vec(bytes) {
        Ok(m) => m,
        // The id is the first two bytes: a broken reply to our id is worth reporting.
        Err(e) if bytes.len() >= 2 && u16::from_be_bytes([bytes[0], bytes[1]]) == id => {
            return Ok(Reply { result: QueryResult::Malformed(e.to_string()), truncated: false });
        }
        Err(_) => return Err(()),
    };
    if msg.metadata.id != id || msg.metadata.message_type != MessageType::Response {
        return Err(());
    }
    let asked = wire_name(name).map_err(drop)?;
    let same_question =
        msg.queries.first().is_none_or(|q| q.name == asked && q.query_type == record_type(qtype));
    if !same_question {
        return Err(());
    }
    let truncated = msg.metadata.truncation;
    let result = match msg.metadata.response_code {
        ResponseCode::NoError => {
            let addrs: Vec<IpAddr> = msg
                .answers
                .iter()
                .filter_map(|r| match (&r.data, qtype) {
                    (RData::A(a), QueryType::A) => Some(IpAddr::V4(a.0)),
                    (RData::AAAA(a), QueryType::Aaaa) => Some(IpAddr::V6(a.0)),
                    _ => None,
                })
                .collect();
            if addrs.is_empty() { QueryResult::NoData } else { QueryResult::Answer(addrs) }
        }
        ResponseCode::NXDomain => QueryResult::Rcode(Rcode::Nxdomain),
        ResponseCode::ServFail => QueryResult::Rcode(Rcode::Servfail),
        ResponseCode::Refused => QueryResult::Rcode(Rcode::Refused),
        other => QueryResult::Rcode(Rcode::Other(u16::from(other))),
    };
    Ok(Reply { result, truncated })
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use hickory_proto::rr::{
        Record,
        rdata::{A, AAAA, CNAME},
    };

    use super::*;

    fn name(s: &str) -> DnsName {
        DnsName::parse(s).unwrap()
    }

    /// A server's reply to the query in `q`.
    fn reply(q: &[u8], rcode: ResponseCode, answers: Vec<Record>, tc: bool) -> Vec<u8> {
        let query = Message::from_vec(q).unwrap();
        let mut r = Message::response(query.metadata.id, OpCode::Query);
        r.metadata.response_code = rcode;
        r.metadata.truncation = tc;
        r.add_queries(query.queries.clone());
        r.add_answers(answers);
        r.to_vec().unwrap()
    }

    fn a(n: &str, ip: [u8; 4]) -> Record {
        Record::from_rdata(Name::from_ascii(n).unwrap(), 60, RData::A(A(Ipv4Addr::from(ip))))
    }

    #[test]
    fn query_is_a_recursive_question() {
        let q = encode_query(0x1234, &name("db.example"), QueryType::A, false).unwrap();
        let m = Message::from_vec(&q).unwrap();
        assert_eq!(m.metadata.id, 0x1234);
        assert!(m.metadata.recursion_desired);
        assert_eq!(m.queries[0].name.to_ascii(), "db.example.");
        assert_eq!(m.queries[0].query_type, RecordType::A);
        assert!(m.edns.is_none(), "glibc sends no EDNS unless asked");
        let q = encode_query(1, &name("db.example"), QueryType::Aaaa, true).unwrap();
        let m = Message::from_vec(&q).unwrap();
        assert_eq!(m.edns.unwrap().max_payload(), EDNS_PAYLOAD);
        assert!(q.len() < 512);
    }

    #[test]
    fn answers_follow_cnames_to_addresses() {
        let n = name("db.example");
        let q = encode_query(7, &n, QueryType::A, false).unwrap();
        let cname = Record::from_rdata(
            Name::from_ascii("db.example.").unwrap(),
            60,
            RData::CNAME(CNAME(Name::from_ascii("real.example.").unwrap())),
        );
        let r = reply(&q, ResponseCode::NoError, vec![cname, a("real.example.", [10, 0, 3, 7])], false);
        let got = decode_reply(&r, 7, &n, QueryType::A).unwrap();
        assert_eq!(got.result, QueryResult::Answer(vec![IpAddr::V4(Ipv4Addr::new(10, 0, 3, 7))]));
        assert!(!got.truncated);
    }

    #[test]
    fn error_codes_and_empty_answers() {
        let n = name("db.example");
        let q = encode_query(9, &n, QueryType::A, false).unwrap();
        let res =
            |rc, answers| decode_reply(&reply(&q, rc, answers, false), 9, &n, QueryType::A).unwrap().result;
        assert_eq!(res(ResponseCode::NXDomain, vec![]), QueryResult::Rcode(Rcode::Nxdomain));
        assert_eq!(res(ResponseCode::ServFail, vec![]), QueryResult::Rcode(Rcode::Servfail));
        assert_eq!(res(ResponseCode::Refused, vec![]), QueryResult::Rcode(Rcode::Refused));
        assert_eq!(res(ResponseCode::FormErr, vec![]), QueryResult::Rcode(Rcode::Other(1)));
        assert_eq!(res(ResponseCode::NoError, vec![]), QueryResult::NoData);
        let v6 = Record::from_rdata(
            Name::from_ascii("db.example.").unwrap(),
            60,
            RData::AAAA(AAAA(Ipv6Addr::LOCALHOST)),
        );
        assert_eq!(res(ResponseCode::NoError, vec![v6]), QueryResult::NoData, "an AAAA does not answer A");
    }

    #[test]
    fn truncation_is_seen() {
        let n = name("big.example");
        let q = encode_query(3, &n, QueryType::A, false).unwrap();
        let got = decode_reply(&reply(&q, ResponseCode::NoError, vec![], true), 3, &n, QueryType::A).unwrap();
        assert!(got.truncated);
    }

    #[test]
    fn replies_to_others_are_not_ours() {
        let n = name("db.example");
        let q = encode_query(5, &n, QueryType::A, false).unwrap();
        let r = reply(&q, ResponseCode::NoError, vec![a("db.example.", [1, 2, 3, 4])], false);
        assert!(decode_reply(&r, 6, &n, QueryType::A).is_err(), "another id");
        assert!(decode_reply(&r, 5, &name("other.example"), QueryType::A).is_err(), "another question");
        assert!(decode_reply(&q, 5, &n, QueryType::A).is_err(), "our own query echoed");
        assert!(decode_reply(&[0xff], 5, &n, QueryType::A).is_err());
        let broken = [0u8, 5, 0x81, 0x80, 0, 1];
        assert!(matches!(
            decode_reply(&broken, 5, &n, QueryType::A).unwrap().result,
            QueryResult::Malformed(_)
        ));
    }
}
