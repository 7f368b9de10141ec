//! Save and load: a 1024-uid round trip, and every kind of damaged file.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use neuron_metagraph::persist::file_paths;
use neuron_metagraph::{AxonInfo, MetagraphSnapshot, Parts, PersistError, StateError};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha3::{Digest, Sha3_256};

/// Tensors of a safetensors file: name, dtype, shape, bytes.
type Table = Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)>;

fn random_metagraph(n: usize, seed: u64) -> anyhow::Result<MetagraphSnapshot> {
    let mut rng = StdRng::seed_from_u64(seed);
    let cpu = &Device::Cpu;
    let hotkeys: Vec<String> = (0..n).map(|i| format!("5Hotkey{i:05}")).collect();
    let coldkeys: Vec<String> = (0..n).map(|i| format!("5Coldkey{:05}", i / 4)).collect();
    let axons = hotkeys
        .iter()
        .zip(&coldkeys)
        .enumerate()
        .map(|(i, (h, c))| AxonInfo {
            ip: if i % 7 == 0 {
                "::1".parse().expect("ip")
            } else {
                [127, 0, (i / 256) as u8, i as u8].into()
            },
            port: 8000 + i as u16,
            hotkey: h.clone(),
            coldkey: c.clone(),
            version: rng.r#gen(),
            protocols: vec!["grpc".into(), "http".into()],
        })
        .collect();
    let mut vector = |scale: f32| {
        Tensor::from_vec(
            (0..n)
                .map(|_| rng.r#gen::<f32>() * scale)
                .collect::<Vec<_>>(),
            n,
            cpu,
        )
    };
    let mut parts = Parts::zeros(4_200_000, hotkeys, coldkeys, axons)?;
    parts.stake = vector(1e6)?;
    parts.ranks = vector(1.0)?;
    parts.trust = vector(1.0)?;
    parts.consensus = vector(1.0)?;
    parts.validator_trust = vector(1.0)?;
    parts.incentive = vector(1.0)?;
    parts.dividends = vector(1.0)?;
    parts.emission = vector(1e9)?;
    parts.active = Tensor::from_vec(
        (0..n).map(|i| (i % 3 != 0) as i64).collect::<Vec<_>>(),
        n,
        cpu,
    )?;
    parts.last_update = Tensor::from_vec(
        (0..n as i64).map(|i| 4_199_000 + i).collect::<Vec<_>>(),
        n,
        cpu,
    )?;
    parts.validator_permit = Tensor::from_vec(
        (0..n).map(|i| (i % 16 == 0) as u8).collect::<Vec<_>>(),
        n,
        cpu,
    )?;
    parts.weights = Tensor::rand(0f32, 1f32, (n, n), cpu)?;
    parts.bonds = Tensor::rand(0f32, 1f32, (n, n), cpu)?;
    Ok(MetagraphSnapshot::new(parts)?)
}

fn assert_same(a: &MetagraphSnapshot, b: &MetagraphSnapshot) -> anyhow::Result<()> {
    assert_eq!(a.n(), b.n());
    assert_eq!(a.block(), b.block());
    assert_eq!(a.hotkeys(), b.hotkeys());
    assert_eq!(a.coldkeys(), b.coldkeys());
    assert_eq!(a.axons(), b.axons());
    let (pa, pb) = (a.parts(), b.parts());
    let pairs = [
        (&pa.stake, &pb.stake),
        (&pa.ranks, &pb.ranks),
        (&pa.trust, &pb.trust),
        (&pa.consensus, &pb.consensus),
        (&pa.validator_trust, &pb.validator_trust),
        (&pa.incentive, &pb.incentive),
        (&pa.dividends, &pb.dividends),
        (&pa.emission, &pb.emission),
        (&pa.weights, &pb.weights),
        (&pa.bonds, &pb.bonds),
    ];
    for (x, y) in pairs {
        assert_eq!(x.dims(), y.dims());
        let (x, y) = (
            x.flatten_all()?.to_vec1::<f32>()?,
            y.flatten_all()?.to_vec1::<f32>()?,
        );
        assert!(
            x.iter().zip(&y).all(|(p, q)| p.to_bits() == q.to_bits()),
            "a float column differs"
        );
    }
    for (x, y) in [(&pa.active, &pb.active), (&pa.last_update, &pb.last_update)] {
        assert_eq!(x.to_vec1::<i64>()?, y.to_vec1::<i64>()?);
    }
    assert_eq!(
        pa.validator_permit.to_vec1::<u8>()?,
        pb.validator_permit.to_vec1::<u8>()?
    );
    for hotkey in a.hotkeys() {
        assert_eq!(a.uid(hotkey), b.uid(hotkey));
    }
    Ok(())
}

#[test]
fn a_1024_uid_metagraph_with_weights_round_trips_exactly() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("finney.netuid-1");
    let graph = random_metagraph(1024, 1)?.with_weights(5, &[(1, 2.0), (1023, 6.0)])?;
    graph.save(&path)?;
    let loaded = MetagraphSnapshot::load(&path)?;
    assert_same(&graph, &loaded)?;
    assert_eq!(
        loaded
            .weights_of(5)?
            .to_vec1::<f32>()?
            .iter()
            .filter(|w| **w > 0.0)
            .count(),
        2
    );
    // Saving again replaces both files; only the pair is left in the directory (no temps).
    random_metagraph(3, 2)?.save(&path)?;
    assert_eq!(MetagraphSnapshot::load(&path)?.n(), 3);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect::<anyhow::Result<_>>()?;
    names.sort();
    assert_eq!(
        names,
        ["finney.netuid-1.json", "finney.netuid-1.safetensors"]
    );
    Ok(())
}

#[test]
fn an_empty_metagraph_round_trips() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("empty");
    MetagraphSnapshot::empty().save(&path)?;
    assert_eq!(MetagraphSnapshot::load(&path)?.n(), 0);
    Ok(())
}

/// A saved 16-uid metagraph and the paths of its two files.
fn saved() -> anyhow::Result<(tempfile::TempDir, PathBuf, PathBuf, PathBuf)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("graph");
    random_metagraph(16, 3)?.save(&path)?;
    let (tensors, sidecar) = file_paths(&path);
    Ok((dir, path, tensors, sidecar))
}

fn edit_sidecar(sidecar: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> anyhow::Result<()> {
    let mut value: serde_json::Value = serde_json::from_slice(&std::fs::read(sidecar)?)?;
    edit(&mut value);
    std::fs::write(sidecar, serde_json::to_vec(&value)?)?;
    Ok(())
}

/// Replaces the tensor file and re-seals the sidecar's hash, so the damage reaches the
/// safetensors and schema checks rather than stopping at the hash.
fn replace_tensors(tensors: &Path, sidecar: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(tensors, bytes)?;
    let digest: String = Sha3_256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    edit_sidecar(sidecar, |v| v["tensors_sha3_256"] = digest.into())
}

/// The saved tensors, as (name, dtype, shape, bytes), to rewrite with changes.
fn tensor_table(bytes: &[u8]) -> anyhow::Result<Table> {
    let file = safetensors::SafeTensors::deserialize(bytes)?;
    Ok(file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            (
                name,
                view.dtype(),
                view.shape().to_vec(),
                view.data().to_vec(),
            )
        })
        .collect())
}

fn serialize(
    table: &[(String, safetensors::Dtype, Vec<usize>, Vec<u8>)],
) -> anyhow::Result<Vec<u8>> {
    let views = table
        .iter()
        .map(|(name, dtype, shape, data)| {
            Ok((
                name.clone(),
                safetensors::tensor::TensorView::new(*dtype, shape.clone(), data)?,
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(safetensors::serialize(views, None)?)
}

fn load_err(path: &Path) -> PersistError {
    match MetagraphSnapshot::load(path) {
        Ok(_) => panic!("a damaged metagraph loaded"),
        Err(e) => e,
    }
}

#[test]
fn a_truncated_or_changed_tensor_file_fails_the_hash() -> anyhow::Result<()> {
    let (_dir, path, tensors, _) = saved()?;
    let bytes = std::fs::read(&tensors)?;
    std::fs::write(&tensors, &bytes[..bytes.len() / 2])?;
    assert!(matches!(load_err(&path), PersistError::Checksum));
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    std::fs::write(&tensors, &flipped)?;
    assert!(matches!(load_err(&path), PersistError::Checksum));
    Ok(())
}

#[test]
fn a_truncated_tensor_file_with_a_matching_hash_is_a_safetensors_error() -> anyhow::Result<()> {
    let (_dir, path, tensors, sidecar) = saved()?;
    let bytes = std::fs::read(&tensors)?;
    for cut in [0, 4, 8, 20, bytes.len() / 2, bytes.len() - 1] {
        replace_tensors(&tensors, &sidecar, &bytes[..cut])?;
        assert!(
            matches!(load_err(&path), PersistError::SafeTensors(_)),
            "cut at {cut}"
        );
    }
    Ok(())
}

#[test]
fn schema_violations_are_named() -> anyhow::Result<()> {
    let (_dir, path, tensors, sidecar) = saved()?;
    let table = tensor_table(&std::fs::read(&tensors)?)?;
    let with = |edit: &dyn Fn(&mut Table)| -> anyhow::Result<PersistError> {
        let mut changed = table.clone();
        edit(&mut changed);
        replace_tensors(&tensors, &sidecar, &serialize(&changed)?)?;
        Ok(load_err(&path))
    };
    let find = |t: &mut Table, name: &str| {
        t.iter()
            .position(|(n, ..)| n == name)
            .expect("tensor present")
    };
    let e = with(&|t| {
        let i = find(t, "stake");
        t[i].2 = vec![15];
        t[i].3.truncate(15 * 4);
    })?;
    assert!(
        matches!(e, PersistError::Shape { name: "stake", .. }),
        "{e}"
    );
    let e = with(&|t| {
        let i = find(t, "weights");
        t[i].1 = safetensors::Dtype::I32;
    })?;
    assert!(
        matches!(
            e,
            PersistError::Dtype {
                name: "weights",
                ..
            }
        ),
        "{e}"
    );
    let e = with(&|t| {
        let i = find(t, "bonds");
        t.remove(i);
    })?;
    assert!(matches!(e, PersistError::MissingTensor("bonds")), "{e}");
    let e = with(&|t| t.push(("pickle".into(), safetensors::Dtype::U8, vec![1], vec![0])))?;
    assert!(
        matches!(e, PersistError::UnexpectedTensor(ref name) if name == "pickle"),
        "{e}"
    );
    let e = with(&|t| {
        let i = find(t, "trust");
        t[i].3[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    })?;
    assert!(
        matches!(e, PersistError::State(StateError::NonFinite("trust"))),
        "{e}"
    );
    let e = with(&|t| {
        let i = find(t, "block");
        t[i].3.copy_from_slice(&7i64.to_le_bytes());
    })?;
    assert!(matches!(e, PersistError::Inconsistent("block")), "{e}");
    Ok(())
}

#[test]
fn a_damaged_sidecar_is_a_clear_error() -> anyhow::Result<()> {
    let (_dir, path, _, sidecar) = saved()?;
    let original = std::fs::read(&sidecar)?;
    std::fs::write(&sidecar, &original[..original.len() / 2])?;
    assert!(matches!(load_err(&path), PersistError::Sidecar { .. }));

    type Case = (
        &'static str,
        fn(&mut serde_json::Value),
        fn(&PersistError) -> bool,
    );
    let cases: [Case; 6] = [
        (
            "n",
            |v| v["n"] = 17.into(),
            |e| matches!(e, PersistError::Inconsistent("n")),
        ),
        (
            "hotkeys",
            |v| {
                v["hotkeys"].as_array_mut().expect("array").pop();
            },
            |e| matches!(e, PersistError::Inconsistent("n")),
        ),
        (
            "schema",
            |v| v["schema"] = 2.into(),
            |e| matches!(e, PersistError::Schema { .. }),
        ),
        (
            "format",
            |v| v["format"] = "torch".into(),
            |e| matches!(e, PersistError::Schema { .. }),
        ),
        (
            "axon hotkey",
            |v| v["hotkeys"][1] = v["hotkeys"][0].clone(),
            |e| matches!(e, PersistError::State(StateError::AxonHotkey(1))),
        ),
        (
            "duplicate hotkey",
            |v| {
                v["hotkeys"][1] = v["hotkeys"][0].clone();
                v["axons"][1]["hotkey"] = v["hotkeys"][0].clone();
            },
            |e| matches!(e, PersistError::State(StateError::DuplicateHotkey(_))),
        ),
    ];
    for (what, edit, expected) in cases {
        std::fs::write(&sidecar, &original)?;
        edit_sidecar(&sidecar, edit)?;
        let e = load_err(&path);
        assert!(expected(&e), "{what}: {e}");
    }
    std::fs::write(&sidecar, &original)?;
    edit_sidecar(&sidecar, |v| v["pickle"] = "cos\nsystem".into())?;
    assert!(
        matches!(load_err(&path), PersistError::Sidecar { .. }),
        "unknown sidecar fields are refused"
    );
    Ok(())
}

#[test]
fn missing_files_are_io_errors() -> anyhow::Result<()> {
    let (_dir, path, tensors, _) = saved()?;
    std::fs::remove_file(&tensors)?;
    assert!(matches!(load_err(&path), PersistError::Io { .. }));
    assert!(matches!(
        load_err(&path.with_file_name("nothing")),
        PersistError::Io { .. }
    ));
    Ok(())
}

#[test]
fn a_save_into_a_missing_directory_fails_cleanly() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let err = random_metagraph(2, 4)?.save(dir.path().join("no/such/dir/graph"));
    assert!(matches!(err, Err(PersistError::Io { .. })));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any truncation or flipped bit, with the hash re-sealed so the damage reaches the
    /// parser, never panics; a truncation is always an error. (A flipped bit inside a value
    /// can leave a valid file, which then loads as the valid metagraph it describes.)
    #[test]
    fn damaged_tensor_files_never_panic(at in any::<prop::sample::Index>(), bit in 0u8..8, truncate in any::<bool>()) {
        let (_dir, path, tensors, sidecar) = saved().expect("save");
        let mut bytes = std::fs::read(&tensors).expect("read");
        let i = at.index(bytes.len());
        if truncate {
            bytes.truncate(i);
        } else {
            bytes[i] ^= 1 << bit;
        }
        replace_tensors(&tensors, &sidecar, &bytes).expect("rewrite");
        let loaded = MetagraphSnapshot::load(&path);
        prop_assert!(!truncate || loaded.is_err());
    }
}
