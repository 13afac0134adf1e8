//! A stand-in DNS server on loopback UDP for tests of DNS look-ups (the
//! real DNS cannot be reached from tests): it answers TXT queries from a
//! table the test fills, NXDOMAIN for other names.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::TXT;
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;

/// The stand-in server; it stops when dropped.
pub struct DnsStandIn {
    addr: SocketAddr,
    txt: Arc<Mutex<HashMap<String, Vec<String>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DnsStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DnsStandIn {
    /// Starts a server on `127.0.0.1:0`.
    pub async fn start() -> DnsStandIn {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind UDP");
        let addr = socket.local_addr().expect("address");
        let txt: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
        let table = txt.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let Some(answer) = buf.get(..n).and_then(|q| answer(q, &table)) else {
                    continue;
                };
                let _ = socket.send_to(&answer, from).await;
            }
        });
        DnsStandIn { addr, txt, task }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Publishes a TXT record (`name` without the trailing dot).
    pub fn set_txt(&self, name: &str, value: &str) {
        self.txt
            .lock()
            .expect("lock")
            .entry(name.trim_end_matches('.').to_ascii_lowercase())
            .or_default()
            .push(value.to_owned());
    }
}

fn answer(query: &[u8], table: &Mutex<HashMap<String, Vec<String>>>) -> Option<Vec<u8>> {
    let request = Message::from_vec(query).ok()?;
    let mut response = Message::new();
    response
        .set_id(request.id())
        .set_message_type(MessageType::Response)
        .set_op_code(request.op_code())
        .set_recursion_desired(request.recursion_desired())
        .set_recursion_available(true)
        .set_authoritative(true);
    let q = request.queries().first()?.clone();
    response.add_query(q.clone());
    let name = q.name().to_ascii();
    let key = name.trim_end_matches('.').to_ascii_lowercase();
    let values = table.lock().ok()?.get(&key).cloned();
    match values {
        Some(values) if q.query_type() == RecordType::TXT => {
            for v in values {
                response.add_answer(Record::from_rdata(
                    q.name().clone(),
                    60,
                    RData::TXT(TXT::new(vec![v])),
                ));
            }
        }
        Some(_) => {}
        None => {
            response.set_response_code(ResponseCode::NXDomain);
        }
    }
    response.to_vec().ok()
}
