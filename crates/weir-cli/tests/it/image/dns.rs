//! A tiny DNS server for the image test, standing in for a cluster's DNS: it answers `A` queries for
//! its known names over UDP, NXDOMAIN for other names, and no records for other query types — enough
//! for glibc's resolver to look a Service name up through `/etc/resolv.conf`, search domains included.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TYPE_A: u16 = 1;
const RCODE_NXDOMAIN: u8 = 3;

/// A DNS server on port 53 of a loopback address of its own, stopped when dropped.
pub struct DnsServer {
    address: Ipv4Addr,
    stop: Arc<AtomicBool>,
    queries: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DnsServer {
    /// Serves `records` (fully qualified names, without the trailing dot) on a random 127.x.y.z:53.
    pub fn start(records: &[(&str, Ipv4Addr)]) -> Self {
        let records: HashMap<String, Ipv4Addr> = records
            .iter()
            .map(|(name, ip)| (name.to_ascii_lowercase(), *ip))
            .collect();
        let (socket, address) = bind_loopback_port_53();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let queries = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, queries) = (stop.clone(), queries.clone());
            std::thread::spawn(move || {
                let mut buffer = [0u8; 512];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((length, peer)) = socket.recv_from(&mut buffer) else {
                        continue;
                    };
                    if let Some((name, reply)) = answer(&buffer[..length], &records) {
                        queries.lock().unwrap().push(name);
                        let _ = socket.send_to(&reply, peer);
                    }
                }
            })
        };
        DnsServer {
            address,
            stop,
            queries,
            thread: Some(thread),
        }
    }

    /// The server's address, for a `nameserver` line.
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// The names asked so far, in order.
    pub fn queries(&self) -> Vec<String> {
        self.queries.lock().unwrap().clone()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `/etc/resolv.conf` cannot name a port, so the server takes port 53 of a random loopback address.
fn bind_loopback_port_53() -> (UdpSocket, Ipv4Addr) {
    for _ in 0..20 {
        let [_, b, c, d] = rand_bytes();
        let address = Ipv4Addr::new(127, b, c, d.max(2));
        if let Ok(socket) = UdpSocket::bind(SocketAddr::from((address, 53))) {
            return (socket, address);
        }
    }
    panic!("no free 127.x.y.z:53 for the test DNS server (binding port 53 needs root)");
}

fn rand_bytes() -> [u8; 4] {
    let bytes = *uuid::Uuid::new_v4().as_bytes();
    [bytes[0], bytes[1], bytes[2], bytes[3]]
}

/// The reply to one query, with the name asked; `None` for what is not a well-formed query.
fn answer(query: &[u8], records: &HashMap<String, Ipv4Addr>) -> Option<(String, Vec<u8>)> {
    if query.len() < 12 || query[2] & 0x80 != 0 || u16::from_be_bytes([query[4], query[5]]) != 1 {
        return None;
    }
    let (name, question_end) = read_name(query, 12)?;
    let qtype = u16::from_be_bytes([*query.get(question_end)?, *query.get(question_end + 1)?]);
    let question_end = question_end + 4;
    if query.len() < question_end {
        return None;
    }
    let found = records.get(&name.to_ascii_lowercase());
    let address = found.filter(|_| qtype == TYPE_A);
    let mut reply = Vec::with_capacity(question_end + 16);
    reply.extend_from_slice(&query[..2]); // id
    let recursion_desired = query[2] & 0x01;
    reply.push(0x84 | recursion_desired); // response, authoritative
    reply.push(0x80 | if found.is_none() { RCODE_NXDOMAIN } else { 0 });
    reply.extend_from_slice(&[0, 1, 0, u8::from(address.is_some()), 0, 0, 0, 0]);
    reply.extend_from_slice(&query[12..question_end]);
    if let Some(address) = address {
        reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4]);
        reply.extend_from_slice(&address.octets());
    }
    Some((name, reply))
}

/// The dotted name at `start` (no compression in questions) and the offset after it.
fn read_name(message: &[u8], start: usize) -> Option<(String, usize)> {
    let mut labels = Vec::new();
    let mut at = start;
    loop {
        let length = usize::from(*message.get(at)?);
        at += 1;
        if length == 0 {
            return Some((labels.join("."), at));
        }
        if length > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(message.get(at..at + length)?).into_owned());
        at += length;
    }
}
