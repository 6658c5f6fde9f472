//! A TCP proxy in front of a Redis node that records the commands clients
//! send, grouped into round trips.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Commands a replica sends its master, which a proxy in front of a
/// cluster node may carry too: not the store's, so not logged.
const REPLICATION: [&str; 4] = ["REPLCONF", "PSYNC", "SYNC", "PING"];

/// A TCP proxy in front of Redis that records every command the client
/// sends, grouped into round trips: a batch is what the client sent before
/// Redis next answered. Counting batches (not commands) is what shows one
/// pipeline where three separate calls would also send three commands.
pub struct CountingProxy {
    pub addr: SocketAddr,
    batches: Arc<Mutex<Vec<Vec<String>>>>,
    cut: Arc<AtomicBool>,
    hold_ms: Arc<AtomicU64>,
}

impl CountingProxy {
    pub fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let batches = Arc::new(Mutex::new(vec![Vec::new()]));
        let log = batches.clone();
        let cut = Arc::new(AtomicBool::new(false));
        let cutter = cut.clone();
        let hold_ms = Arc::new(AtomicU64::new(0));
        let holder = hold_ms.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                // A node the test killed: the client finds the door shut.
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let (c2, s2) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                let (replies, cut, hold) = (log.clone(), cutter.clone(), holder.clone());
                std::thread::spawn(move || forward_replies(s2, c2, &replies, &cut, &hold));
                let log = log.clone();
                std::thread::spawn(move || forward_commands(client, server, &log));
            }
        });
        Self {
            addr,
            batches,
            cut,
            hold_ms,
        }
    }

    /// Closes the connection that next gets an answer, instead of passing
    /// the answer on: Redis has carried out what the client sent, and the
    /// client never learns it.
    pub fn cut_next_answer(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }

    /// Holds the next answer this long before passing it on: Redis has
    /// carried out what the client sent, and the client learns it late.
    pub fn hold_next_answer(&self, hold: Duration) {
        let ms = u64::try_from(hold.as_millis()).expect("a short hold");
        self.hold_ms.store(ms, Ordering::SeqCst);
    }

    /// The round trips since the last call, each the commands it carried.
    pub fn take(&self) -> Vec<Vec<String>> {
        let mut log = self.batches.lock().expect("lock");
        let taken = std::mem::replace(&mut *log, vec![Vec::new()]);
        taken.into_iter().filter(|b| !b.is_empty()).collect()
    }
}

/// Copies Redis's answers to the client; an answer closes the batch.
fn forward_replies(
    mut server: TcpStream,
    mut client: TcpStream,
    log: &Mutex<Vec<Vec<String>>>,
    cut: &AtomicBool,
    hold_ms: &AtomicU64,
) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = server.read(&mut buf).unwrap_or(0);
        if n == 0 || cut.swap(false, Ordering::SeqCst) {
            // The batch closes before the connection does: a client that
            // reconnects at once must not have its first commands logged
            // into the batch of its last ones (seen under load).
            log.lock().expect("lock").push(Vec::new());
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
            return;
        }
        log.lock().expect("lock").push(Vec::new());
        match hold_ms.swap(0, Ordering::SeqCst) {
            0 => {}
            ms => std::thread::sleep(Duration::from_millis(ms)),
        }
        if client.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

/// Copies RESP requests from `client` to `server`, logging each command
/// into the open batch. What the client wrote at once (all it has sent
/// that is already here) is logged before any of it goes on, so Redis's
/// first answer cannot split one pipeline into two batches.
fn forward_commands(client: TcpStream, mut server: TcpStream, log: &Mutex<Vec<Vec<String>>>) {
    let mut reader = BufReader::new(client);
    let mut line = String::new();
    let (mut pending, mut names) = (Vec::new(), Vec::new());
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            let _ = server.shutdown(Shutdown::Both);
            return;
        }
        pending.extend_from_slice(line.as_bytes());
        let count: usize = line[1..].trim().parse().expect("a RESP array header");
        for i in 0..count {
            line.clear();
            reader.read_line(&mut line).expect("bulk header");
            pending.extend_from_slice(line.as_bytes());
            let len: usize = line[1..].trim().parse().expect("a bulk length");
            let mut bulk = vec![0; len + 2];
            reader.read_exact(&mut bulk).expect("bulk");
            if i == 0 {
                let name = String::from_utf8_lossy(&bulk[..len]).to_uppercase();
                if !REPLICATION.contains(&name.as_str()) {
                    names.push(name);
                }
            }
            pending.extend_from_slice(&bulk);
        }
        if !reader.buffer().is_empty() {
            continue;
        }
        if let Some(open) = log.lock().expect("lock").last_mut() {
            open.append(&mut names);
        }
        if server.write_all(&pending).is_err() {
            return;
        }
        pending.clear();
    }
}
