//! A TCP proxy in front of PostgreSQL that reads the protocol as it passes
//! (it changes nothing), to count round trips and statements, and that can
//! cut every connection, as a network outage would. Shared with
//! `session/tests` by `#[path]`.
//!
//! An *exchange* is what happens up to the server's next `ReadyForQuery`:
//! the client sends its messages (a statement is `Bind`+`Execute`+`Sync`,
//! or `Query`), then waits for `ReadyForQuery` before it sends anything
//! else (sqlx does not pipeline statements), so one exchange is one round
//! trip. For each one the proxy records how many statements the client
//! ran (`Execute` and `Query` messages) and PostgreSQL's command tags
//! (`SELECT 1`, `UPDATE 1`, `DELETE 1000`...).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One round trip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exchange {
    /// Statements the client ran in it.
    pub statements: usize,
    /// The command tags PostgreSQL answered.
    pub tags: Vec<String>,
}

#[derive(Default)]
struct State {
    done: Mutex<Vec<Exchange>>,
    /// Statements sent since the last `ReadyForQuery`, per connection
    /// would be more exact; the tests run one connection at a time.
    open: Mutex<Exchange>,
    cut: AtomicBool,
    sockets: Mutex<Vec<TcpStream>>,
}

pub struct PgProxy {
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl PgProxy {
    pub fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(State::default());
        let shared = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                if shared.cut.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                {
                    let mut sockets = shared.sockets.lock().expect("lock");
                    sockets.push(client.try_clone().expect("clone"));
                    sockets.push(server.try_clone().expect("clone"));
                }
                let (c2, s2) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                let to_client = shared.clone();
                std::thread::spawn(move || pump(s2, c2, &to_client, Side::Server));
                let to_server = shared.clone();
                std::thread::spawn(move || pump(client, server, &to_server, Side::Client));
            }
        });
        Self { addr, state }
    }

    /// The exchanges completed since the last call.
    pub fn take(&self) -> Vec<Exchange> {
        std::mem::take(&mut *self.state.done.lock().expect("lock"))
    }

    /// The exchanges since the last call that ran a statement (leaving out
    /// the bare `Sync` sqlx's pool sends when a connection is returned).
    pub fn take_statements(&self) -> Vec<Exchange> {
        self.take()
            .into_iter()
            .filter(|e| e.statements > 0)
            .collect()
    }

    /// Closes every connection through the proxy and refuses new ones: a
    /// network cut.
    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        for socket in self.state.sockets.lock().expect("lock").drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.state.cut.store(false, Ordering::SeqCst);
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Client,
    Server,
}

/// Copies `from` to `to`, reading the messages on the way.
fn pump(mut from: TcpStream, mut to: TcpStream, state: &State, side: Side) {
    let mut parser = Parser {
        buf: Vec::new(),
        startup: true,
        side,
    };
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = from.read(&mut chunk).unwrap_or(0);
        if n == 0 || state.cut.load(Ordering::SeqCst) {
            let _ = to.shutdown(Shutdown::Both);
            let _ = from.shutdown(Shutdown::Both);
            return;
        }
        // Parse before forwarding: the statements of an exchange are
        // counted before its ReadyForQuery can arrive.
        parser.feed(&chunk[..n], state);
        if to.write_all(&chunk[..n]).is_err() {
            let _ = from.shutdown(Shutdown::Both);
            return;
        }
    }
}

struct Parser {
    buf: Vec<u8>,
    /// The client's first messages (SSLRequest, StartupMessage) and the
    /// server's answer to an SSLRequest have no type byte.
    startup: bool,
    side: Side,
}

impl Parser {
    fn feed(&mut self, bytes: &[u8], state: &State) {
        self.buf.extend_from_slice(bytes);
        loop {
            if self.startup && self.side == Side::Server && self.buf.first() == Some(&b'N') {
                self.buf.remove(0); // "no TLS", one byte
                continue;
            }
            if self.startup && self.side == Side::Client {
                let Some(len) = self.len_at(0) else { return };
                if self.buf.len() < len {
                    return;
                }
                let code = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]);
                self.buf.drain(..len);
                if code != 80_877_103 {
                    self.startup = false; // that was the StartupMessage
                }
                continue;
            }
            self.startup = false;
            let Some(len) = self.len_at(1) else { return };
            if self.buf.len() < 1 + len {
                return;
            }
            let kind = self.buf[0];
            let body = self.buf[5..1 + len].to_vec();
            self.buf.drain(..1 + len);
            match (self.side, kind) {
                (Side::Client, b'E' | b'Q') => state.open.lock().expect("lock").statements += 1,
                (Side::Server, b'C') => {
                    let tag = String::from_utf8_lossy(body.strip_suffix(&[0]).unwrap_or(&body));
                    state.open.lock().expect("lock").tags.push(tag.into_owned());
                }
                (Side::Server, b'Z') => {
                    let exchange = std::mem::take(&mut *state.open.lock().expect("lock"));
                    state.done.lock().expect("lock").push(exchange);
                }
                _ => {}
            }
        }
    }

    /// The length field at `at`, if that much has arrived.
    fn len_at(&self, at: usize) -> Option<usize> {
        let b = self.buf.get(at..at + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
}
