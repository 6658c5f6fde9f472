//! A throwaway Redis Cluster for the tests: `redis-server` processes with
//! `--cluster-enabled yes` on free loopback ports, joined by
//! `redis-cli --cluster create`; killed and their files removed on drop.
//! Both must be on `PATH` (`.ci/run` installs them).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a node may be silent before the others call it failed and its
/// replica takes over: short, so that a failover test ends in seconds.
pub const NODE_TIMEOUT_MS: u64 = 2_000;

/// One `redis-server` of the cluster.
pub struct Node {
    /// Its client port (plain, or TLS in a TLS cluster).
    pub port: u16,
    bus: u16,
    child: Child,
}

/// A cluster of `masters` masters with `replicas` replicas each.
pub struct Cluster {
    pub nodes: Vec<Node>,
    dir: PathBuf,
    /// The certificate, key and authority of a TLS cluster.
    tls: Option<[PathBuf; 3]>,
    tls_ca: Option<PathBuf>,
}

impl Cluster {
    /// A plain cluster, every node in sync and `cluster_state:ok`.
    pub fn start(masters: usize, replicas: usize) -> Self {
        Self::start_with(masters, replicas, None)
    }

    /// A TLS cluster (`tls-cluster yes`, `tls-replication yes`) whose nodes
    /// present `cert` and `key`, issued by `ca`; clients need no
    /// certificate. No plain port.
    pub fn start_tls(masters: usize, replicas: usize, [cert, key, ca]: [&Path; 3]) -> Self {
        Self::start_with(
            masters,
            replicas,
            Some([cert, key, ca].map(Path::to_path_buf)),
        )
    }

    fn start_with(masters: usize, replicas: usize, tls: Option<[PathBuf; 3]>) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "hyper-session-cluster-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let mut cluster = Self {
            nodes: Vec::new(),
            dir,
            tls_ca: tls.as_ref().map(|[_, _, ca]| ca.clone()),
            tls,
        };
        for _ in 0..masters * (1 + replicas) {
            let node = cluster.spawn(free_port(), free_port());
            cluster.nodes.push(node);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for node in &cluster.nodes {
            while cluster.try_cli(node.port, &["PING"]).as_deref() != Some("PONG") {
                assert!(
                    Instant::now() < deadline,
                    "node {} did not start",
                    node.port
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let addrs: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let mut create = cluster.cli_command(cluster.nodes[0].port);
        create.arg("--cluster").arg("create").args(&addrs).args([
            "--cluster-replicas",
            &replicas.to_string(),
            "--cluster-yes",
        ]);
        let out = create.output().expect("redis-cli must be on PATH");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        cluster.wait_for(Duration::from_secs(20), Some(replicas));
        cluster
    }

    /// Starts a node; with the configuration file of a node that ran
    /// before on `port`, it rejoins the cluster as that node.
    fn spawn(&self, port: u16, bus: u16) -> Node {
        let conf = self.dir.join(format!("nodes-{port}.conf"));
        let mut command = Command::new("redis-server");
        match &self.tls {
            None => {
                command.args(["--port", &port.to_string()]);
            }
            Some([cert, key, ca]) => {
                command
                    .args(["--port", "0", "--tls-port", &port.to_string()])
                    .args(["--tls-cluster", "yes", "--tls-replication", "yes"])
                    .arg("--tls-cert-file")
                    .arg(cert)
                    .arg("--tls-key-file")
                    .arg(key)
                    .arg("--tls-ca-cert-file")
                    .arg(ca)
                    .args(["--tls-auth-clients", "no"]);
            }
        }
        let child = command
            .args(["--bind", "127.0.0.1", "--cluster-enabled", "yes"])
            .args(["--cluster-port", &bus.to_string()])
            .arg("--cluster-config-file")
            .arg(&conf)
            .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            // A replica syncs at once, not after the default 5 s.
            .args(["--repl-diskless-sync-delay", "0"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be on PATH for the cluster tests");
        Node { port, bus, child }
    }

    /// `redis+cluster://` (or `rediss+cluster://`) with every node.
    pub fn url(&self) -> String {
        let scheme = if self.tls_ca.is_some() {
            "rediss+cluster"
        } else {
            "redis+cluster"
        };
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("{scheme}://{}", hosts.join(","))
    }

    /// Waits until every live node says `cluster_state:ok` and every live
    /// replica's link to its master is up.
    pub fn wait_until_ok(&self, limit: Duration) {
        self.wait_for(limit, None);
    }

    /// [`wait_until_ok`](Self::wait_until_ok), and with `replicas`, until
    /// every master has that many replicas online.
    fn wait_for(&self, limit: Duration, replicas: Option<usize>) {
        let deadline = Instant::now() + limit;
        loop {
            let ok = self.live_ports().into_iter().all(|port| {
                let info = self.try_cli(port, &["CLUSTER", "INFO"]).unwrap_or_default();
                let replication = self
                    .try_cli(port, &["INFO", "replication"])
                    .unwrap_or_default();
                info.contains("cluster_state:ok") && replicas_online(&replication, replicas)
            });
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster did not become ok");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The ports of the nodes still running.
    pub fn live_ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|n| self.try_cli(n.port, &["PING"]).as_deref() == Some("PONG"))
            .map(|n| n.port)
            .collect()
    }

    /// The ports of the live masters.
    pub fn masters(&self) -> Vec<u16> {
        self.live_ports()
            .into_iter()
            .filter(|port| self.cli(*port, &["ROLE"]).starts_with("master"))
            .collect()
    }

    /// The port of the master serving `key` now.
    pub fn master_of(&self, key: &str) -> u16 {
        let port = self.live_ports()[0];
        let slot: u16 = self
            .cli(port, &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .expect("a slot");
        self.master_of_slot(port, slot)
    }

    /// The master of `slot` in `node`'s view (`CLUSTER SHARDS` is 7.0+;
    /// `CLUSTER NODES` is older and simpler to read).
    pub fn master_of_slot(&self, node: u16, slot: u16) -> u16 {
        for line in self.cli(node, &["CLUSTER", "NODES"]).lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let owns = fields[8..].iter().any(|range| {
                let (lo, hi) = range.split_once('-').unwrap_or((range, range));
                match (lo.parse::<u16>(), hi.parse::<u16>()) {
                    (Ok(lo), Ok(hi)) => (lo..=hi).contains(&slot),
                    _ => false,
                }
            });
            if owns {
                return node_port(fields[1]);
            }
        }
        panic!("no master owns slot {slot}")
    }

    /// The replicas of the master on `port`, as its replication sees them
    /// (gossip may lag behind: a replica can be replicating while the
    /// master's `CLUSTER NODES` still calls it a master).
    pub fn replicas_of(&self, port: u16) -> Vec<u16> {
        self.cli(port, &["INFO", "replication"])
            .lines()
            .filter(|line| line.starts_with("slave") && line.contains("ip="))
            .filter_map(|line| {
                line.split(',')
                    .find_map(|field| field.strip_prefix("port="))
                    .and_then(|p| p.parse().ok())
            })
            .collect()
    }

    /// The node id of the node on `port`.
    pub fn id(&self, port: u16) -> String {
        self.cli(port, &["CLUSTER", "MYID"]).trim().to_owned()
    }

    /// Kills the node on `port` (SIGKILL: no goodbye) and reaps it.
    pub fn kill(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("a node of this cluster");
        let _ = node.child.kill();
        let _ = node.child.wait();
    }

    /// Starts the killed node on `port` again: it rejoins the cluster, as a
    /// replica if its replica was promoted meanwhile (as a managed service
    /// replaces a failed node).
    pub fn restart(&mut self, port: u16) {
        let i = self
            .nodes
            .iter()
            .position(|n| n.port == port)
            .expect("a node of this cluster");
        let node = self.spawn(port, self.nodes[i].bus);
        self.nodes[i] = node;
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.try_cli(port, &["PING"]).as_deref() != Some("PONG") {
            assert!(Instant::now() < deadline, "node {port} did not restart");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// [`wait_until_ok`](Self::wait_until_ok), and until every master has
    /// `replicas` replicas online.
    pub fn wait_until_replicated(&self, replicas: usize, limit: Duration) {
        self.wait_for(limit, Some(replicas));
    }

    /// Sends `signal` (`-STOP`, `-CONT`) to the node on `port`.
    pub fn signal(&self, port: u16, signal: &str) {
        let node = self
            .nodes
            .iter()
            .find(|n| n.port == port)
            .expect("a node of this cluster");
        let status = Command::new("kill")
            .args([signal, &node.child.id().to_string()])
            .status()
            .expect("kill(1)");
        assert!(status.success(), "kill {signal}");
    }

    /// Runs `redis-cli -p port args...`; its output. Panics if it fails.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        self.try_cli(port, args)
            .unwrap_or_else(|| panic!("redis-cli -p {port} {args:?} failed"))
    }

    fn try_cli(&self, port: u16, args: &[&str]) -> Option<String> {
        let out = self.cli_command(port).args(args).output().ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        (out.status.success() && !text.starts_with("ERR") && !text.contains("Could not connect"))
            .then(|| text.trim_end().to_owned())
    }

    fn cli_command(&self, port: u16) -> Command {
        let mut command = Command::new("redis-cli");
        command.args(["-h", "127.0.0.1", "-p", &port.to_string()]);
        if let Some(ca) = &self.tls_ca {
            command.arg("--tls").arg("--cacert").arg(ca);
        }
        command.stdin(Stdio::null()).stderr(Stdio::null());
        command
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.child.kill();
            let _ = node.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether `INFO replication` of a node shows its link to its master up,
/// if it is a replica, or `wanted` replicas online, if it is a master and
/// `wanted` is given.
fn replicas_online(info: &str, wanted: Option<usize>) -> bool {
    if info.contains("role:slave") {
        return info.contains("master_link_status:up");
    }
    let online = info
        .lines()
        .filter(|l| l.starts_with("slave") && l.contains("state=online"))
        .count();
    wanted.map_or(true, |wanted| online == wanted)
}

/// The client port of a `CLUSTER NODES` address, `ip:port@bus[,host]`.
fn node_port(address: &str) -> u16 {
    address
        .split('@')
        .next()
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .expect("ip:port@bus")
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}
