use dockernet_trace::ebpf::{KernelEvent, Session, hooks::Purpose, session::KernelInfo};
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    env_logger::init();
    let k = KernelInfo::probe()?;
    println!("{:?}", k.base_config);
    let mut s = Session::load(&k)?;
    s.attach_tracepoints(&k, Purpose::Trace)?;
    println!("{:?}", s.hooks);
    println!("{:?}", s.attach_tc("lo", &k)?);
    let mut cfg = s.config();
    cfg.mode = dockernet_trace_common::MODE_PROBE;
    cfg.probe_proto = 6;
    cfg.probe_port = 5555;
    cfg.probe_addrs[0] = u32::from(std::net::Ipv4Addr::new(127,0,0,1)).to_be();
    s.set_config(cfg)?;
    let mut r = s.events()?;
    let _ = std::net::TcpStream::connect("127.0.0.1:5555");
    for _ in 0..3 {
        for e in r.next_batch(std::time::Duration::from_millis(300)).await {
            println!("{}", serde_json::to_string(&KernelEvent::from_raw(&e, &k.drop_reasons)).unwrap());
        }
    }
    println!("{:?} tc lo={}", s.counters(), s.tc_packets(1));
    Ok(())
}
