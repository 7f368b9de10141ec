//! Real neurons on 127.0.0.1: tonic servers, the gRPC transport and the background task.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use neuron_metagraph::gossip::MAX_BATCH_RECORDS;
use neuron_metagraph::proto::metagraph_client::MetagraphClient;
use neuron_metagraph::proto::{self, GossipBatch};
use neuron_metagraph::{
    Config, Endpoint, EndpointRecord, Gossip, GossipError, GrpcTransport, service,
};
use neuron_wallet::Keypair;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_stream::wrappers::TcpListenerStream;

struct Neuron {
    addr: SocketAddr,
    hotkey: String,
    gossip: Gossip,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Neuron {
    async fn spawn(name: &str, seeds: Vec<SocketAddr>, config: &Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let gossip = Gossip::new(config.clone(), seeds);
        let keypair = Keypair::from_uri(&format!("//{name}"))?;
        let hotkey = keypair.ss58().to_owned();
        gossip.subscribe(keypair, Endpoint::new(addr).with_protocol("grpc"))?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let router = tonic::transport::Server::builder().add_service(service(gossip.clone()));
        tokio::spawn(router.serve_with_incoming_shutdown(
            TcpListenerStream::new(listener),
            async {
                let _ = stopped.await;
            },
        ));
        gossip.start(GrpcTransport::new(config.timeout))?;
        Ok(Self {
            addr,
            hotkey,
            gossip,
            shutdown: Some(shutdown),
        })
    }

    async fn stop(&mut self) {
        self.gossip.stop().await;
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Rounds every 40 ms; records live 3 s unless re-signed, which owners do every 250 ms
/// (a wide margin, so a loaded CI machine does not expire live neurons).
fn fast_config() -> Config {
    Config::new()
        .with_interval(Duration::from_millis(40))
        .with_ttl(Duration::from_secs(3))
        .with_refresh(Duration::from_millis(250))
        .with_backoff(3, Duration::from_millis(100), Duration::from_millis(400))
        .with_timeout(Duration::from_secs(2))
}

/// Polls `done` every 20 ms until it holds or `limit` passes.
async fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}

async fn network(n: usize, config: &Config) -> anyhow::Result<Vec<Neuron>> {
    let mut neurons = vec![Neuron::spawn("Loop0", Vec::new(), config).await?];
    let bootstrap = neurons[0].addr;
    for i in 1..n {
        neurons.push(Neuron::spawn(&format!("Loop{i}"), vec![bootstrap], config).await?);
    }
    Ok(neurons)
}

fn all_know_all(neurons: &[Neuron]) -> bool {
    neurons
        .iter()
        .all(|a| neurons.iter().all(|b| a.gossip.record(&b.hotkey).is_some()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neurons_learn_of_each_other_from_one_bootstrap_peer() -> anyhow::Result<()> {
    let neurons = network(8, &fast_config()).await?;
    assert!(
        eventually(Duration::from_secs(20), || all_know_all(&neurons)).await,
        "no full knowledge within 20 s"
    );
    // Every neuron builds the same metagraph: uids by sorted hotkey, endpoints as advertised.
    let graphs: Vec<_> = neurons
        .iter()
        .map(|n| n.gossip.metagraph(0))
        .collect::<Result<_, _>>()?;
    for graph in &graphs {
        assert_eq!(graph.n(), 8);
        assert_eq!(graph.hotkeys(), graphs[0].hotkeys());
    }
    for neuron in &neurons {
        let uid = graphs[0].uid(&neuron.hotkey).expect("registered by gossip");
        let axon = &graphs[0].axons()[uid as usize];
        assert_eq!((axon.ip, axon.port), (neuron.addr.ip(), neuron.addr.port()));
        assert!(axon.protocols.iter().any(|p| p == "grpc"));
    }
    // Local weights over gossip peers become the neuron's row of the weight matrix.
    let (me, a, b) = (&neurons[0], &neurons[1].hotkey, &neurons[2].hotkey);
    me.gossip.set_weights(&[(a, 1.0), (b, 3.0)])?;
    let graph = me.gossip.metagraph(0)?;
    let row = graph
        .weights_of(graph.uid(&me.hotkey).expect("own uid"))?
        .to_vec1::<f32>()?;
    let uid = |h: &str| graph.uid(h).expect("registered") as usize;
    assert_eq!((row[uid(a)], row[uid(b)]), (0.25, 0.75));
    assert_eq!(row.iter().sum::<f32>(), 1.0);
    for mut neuron in neurons {
        neuron.stop().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_neuron_disappears_after_the_ttl() -> anyhow::Result<()> {
    let config = fast_config();
    let mut neurons = network(5, &config).await?;
    assert!(
        eventually(Duration::from_secs(20), || all_know_all(&neurons)).await,
        "no full knowledge within 20 s"
    );
    let mut gone = neurons.remove(3);
    gone.stop().await;
    let stopped_at = Instant::now();
    let forgotten = eventually(Duration::from_secs(20), || {
        neurons.iter().all(|n| {
            n.gossip.record(&gone.hotkey).is_none()
                && !n.gossip.peers(usize::MAX).contains(&gone.addr)
        })
    })
    .await;
    assert!(
        forgotten,
        "the stopped neuron was still known (record or peer) 20 s later"
    );
    // Its last record was at most `refresh` old when it stopped, so it must have lived on
    // for at least ttl - refresh: it went because it expired, not for some other reason.
    assert!(
        stopped_at.elapsed() >= config.ttl - config.refresh,
        "forgotten after {:?}",
        stopped_at.elapsed()
    );
    let kept = eventually(Duration::from_secs(10), || all_know_all(&neurons)).await;
    assert!(kept, "live neurons must keep each other");
    for mut neuron in neurons {
        neuron.stop().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tampered_and_oversized_input_is_rejected_and_counted() -> anyhow::Result<()> {
    let config = fast_config().with_interval(Duration::from_secs(3600));
    let mut victim = Neuron::spawn("Victim", Vec::new(), &config).await?;
    let mut client = MetagraphClient::connect(format!("http://{}", victim.addr)).await?;

    // Mallory signs a record that claims Alice's hotkey.
    let alice = Keypair::from_uri("//Alice")?;
    let mallory = Keypair::from_uri("//Mallory")?;
    let endpoint = Endpoint::new("127.0.0.1:9".parse()?);
    let mut forged = EndpointRecord::sign(&mallory, endpoint.clone(), 5)?.to_wire();
    forged.hotkey = alice.ss58().to_owned();
    // Eve's genuine record, with the port changed on the way.
    let eve = Keypair::from_uri("//Eve")?;
    let mut tampered = EndpointRecord::sign(&eve, endpoint.clone(), 5)?.to_wire();
    tampered.port = 10;
    // A record that breaks a limit.
    let mut invalid = EndpointRecord::sign(&eve, endpoint.clone(), 6)?.to_wire();
    invalid.ip = "not-an-ip".into();
    // And one genuine record, which must get through.
    let bob = Keypair::from_uri("//Bob")?;
    let genuine = EndpointRecord::sign(&bob, endpoint.clone(), 5)?.to_wire();

    let batch = GossipBatch {
        protocol_version: 1,
        records: vec![forged, tampered, invalid, genuine],
        ..GossipBatch::default()
    };
    let reply = client.gossip(batch).await?.into_inner();
    assert!(
        reply.records.iter().any(|r| r.hotkey == victim.hotkey),
        "the reply carries the victim's record"
    );
    let stats = victim.gossip.stats();
    assert_eq!(stats.rejected_forged, 2);
    assert_eq!(stats.rejected_invalid, 1);
    assert_eq!(stats.accepted, 1);
    assert!(victim.gossip.record(alice.ss58()).is_none());
    assert!(victim.gossip.record(eve.ss58()).is_none());
    assert!(victim.gossip.record(bob.ss58()).is_some());

    let record = EndpointRecord::sign(&bob, endpoint, 6)?.to_wire();
    let oversized = GossipBatch {
        protocol_version: 1,
        records: vec![record; MAX_BATCH_RECORDS + 1],
        ..GossipBatch::default()
    };
    let status = client
        .gossip(oversized)
        .await
        .expect_err("an oversized batch is refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let peers = vec![
        proto::PeerInfo {
            address: "127.0.0.1:1".into(),
            age_ms: 0
        };
        33
    ];
    let status = client
        .gossip(GossipBatch {
            protocol_version: 1,
            peers,
            ..GossipBatch::default()
        })
        .await
        .expect_err("too many peers");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let status = client
        .gossip(GossipBatch {
            protocol_version: 2,
            ..GossipBatch::default()
        })
        .await
        .expect_err("unknown version");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(victim.gossip.stats().rejected_batches, 3);
    assert_eq!(
        victim.gossip.record(bob.ss58()).map(|r| r.version()),
        Some(5),
        "nothing of a refused batch is merged"
    );
    victim.stop().await;
    Ok(())
}

#[test]
fn start_needs_a_runtime_runs_once_and_restarts_after_stop() -> anyhow::Result<()> {
    let gossip = Gossip::new(Config::new(), []);
    let transport = || GrpcTransport::new(Duration::from_secs(1));
    assert!(matches!(
        gossip.start(transport()),
        Err(GossipError::NoRuntime)
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        gossip.start(transport())?;
        assert!(matches!(
            gossip.start(transport()),
            Err(GossipError::AlreadyRunning)
        ));
        assert!(gossip.is_running());
        gossip.stop().await;
        assert!(!gossip.is_running());
        gossip.start(transport())?;
        gossip.stop().await;
        anyhow::Ok(())
    })
}
