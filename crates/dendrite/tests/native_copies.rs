//! How many times the element bytes of a tensor are copied on the native dialect, end to end:
//! a counting global allocator records every large allocation (≥ 512 KiB) during one 1 MiB
//! echo through a real axon on 127.0.0.1. Each user-space copy of the payload needs a
//! buffer of its size, so large allocations bound the copies from above.
//!
//! Expected, per direction: one buffer where prost writes the outgoing message (the sender's
//! copy) and one where tonic gathers the incoming message (the receiver's copy); the
//! handler and the frames in between share those buffers. An echo goes both ways, so four.
// A global allocator cannot be written without `unsafe`; it only forwards to `System`.
#![allow(unsafe_code, clippy::unwrap_used, missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use neuron_axon::{Axon, native as axon_native};
use neuron_dendrite::native::{Config as NativeConfig, NativeDendrite};
use neuron_dendrite::{AxonInfo, Config, Dendrite};
use neuron_tensor::{Dtype, WireTensor};
use neuron_wallet::Keypair;

const LARGE: usize = 512 * 1024;

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LARGE_ALLOCS: AtomicUsize = AtomicUsize::new(0);
static LARGE_BYTES: AtomicUsize = AtomicUsize::new(0);

fn record(size: usize) {
    if size >= LARGE && COUNTING.load(Ordering::Relaxed) {
        LARGE_ALLOCS.fetch_add(1, Ordering::Relaxed);
        LARGE_BYTES.fetch_add(size, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's layout unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            record(new_size);
        }
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1_mib_echo_copies_the_payload_once_per_side_and_direction() {
    let alice = Keypair::from_uri("//Alice").unwrap();
    let config = neuron_axon::Config::new()
        .with_ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .with_port(0);
    let axon = Axon::new(alice.clone(), config);
    let svc = axon_native::Service::new(&axon, alice, axon_native::Config::default())
        .unwrap()
        .with_tensor_route(
            "Echo",
            |_caller, call: axon_native::TensorCall| async move {
                Ok(axon_native::TensorReply {
                    body: call.body,
                    tensors: call.tensors,
                })
            },
        )
        .unwrap();
    let router = neuron_transport::grpc::add_service(axon.router(), svc.into_tonic());
    let running = axon.serve_router(router).await.unwrap();
    let mut info = AxonInfo::at(running.local_addr(), running.hotkey());
    info.protocols = Some(vec!["native".to_owned()]);
    let client = NativeDendrite::new(
        Dendrite::new(Keypair::from_uri("//Bob").unwrap(), Config::new()),
        NativeConfig::default(),
    );

    let payload = 1 << 20;
    let data: Vec<u8> = (0..payload).map(|i| i as u8).collect();
    let tensor = WireTensor {
        dtype: Dtype::U8,
        shape: vec![payload],
        data: data.into(),
    };
    // Warm up: connection, handshake, buffers that live as long as the connection.
    for _ in 0..3 {
        let r = client
            .call_tensors(
                &info,
                "Echo",
                Bytes::new(),
                vec![tensor.clone()],
                Duration::from_secs(10),
            )
            .await;
        assert!(r.is_success(), "{}", r.status_message);
    }

    let calls = 5;
    COUNTING.store(true, Ordering::Relaxed);
    for _ in 0..calls {
        let r = client
            .call_tensors(
                &info,
                "Echo",
                Bytes::new(),
                vec![tensor.clone()],
                Duration::from_secs(10),
            )
            .await;
        assert!(r.is_success(), "{}", r.status_message);
        assert_eq!(r.tensors[0].data, tensor.data);
    }
    COUNTING.store(false, Ordering::Relaxed);

    let allocs = LARGE_ALLOCS.load(Ordering::Relaxed);
    let bytes = LARGE_BYTES.load(Ordering::Relaxed);
    println!(
        "{calls} echoes of {payload} bytes: {allocs} large allocations, {bytes} bytes ({:.2} payloads per call)",
        bytes as f64 / (calls * payload) as f64
    );
    // Four payload-sized buffers per echo (send and receive, both directions); anything that
    // copied the payload once more would need a fifth.
    assert!(
        allocs <= 4 * calls,
        "{allocs} large allocations for {calls} echoes"
    );
    // And none of them is a grown copy of an earlier one (growth doubles): each stays well
    // under two payloads (buffers carry the gRPC header and some slack).
    assert!(
        bytes < 4 * calls * payload * 3 / 2,
        "{bytes} bytes in large allocations for {calls} echoes"
    );
    running.shutdown(Duration::from_secs(1)).await;
}
