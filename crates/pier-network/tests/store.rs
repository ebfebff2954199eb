//! The network store without root: IPAM persistence across reopen, Docker's
//! creation rules and texts, lookups, removal rules.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use pier_network::spec::SubnetRequest;
use pier_network::store::{random_id, BRIDGE};
use pier_network::{EndpointRecord, NetError, NetworkSpec, NetworkStore, StoreOptions};

fn spec(name: &str, subnet: Option<&str>) -> NetworkSpec {
    let mut s = NetworkSpec::bridge(name);
    s.ipam = SubnetRequest {
        subnet: subnet.map(|x| x.parse().unwrap()),
        ..Default::default()
    };
    s
}

#[test]
fn ipam_survives_reopen_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = HashSet::new();
    let id = {
        let st = NetworkStore::open(dir.path(), &StoreOptions::default()).unwrap();
        let rec = st.create(&spec("n1", Some("10.77.0.0/29")), &[]).unwrap();
        for i in 0..3 {
            assert!(seen.insert(st.allocate_ip(&rec.id, &format!("c{i}"), None).unwrap()));
        }
        rec.id
    };
    // A temp file from a crash mid-write is ignored and removed.
    std::fs::write(dir.path().join("networks/.junk.tmp"), b"{").unwrap();
    let st = NetworkStore::open(dir.path(), &StoreOptions::default()).unwrap();
    assert!(!dir.path().join("networks/.junk.tmp").exists());
    assert_eq!(st.get("n1").unwrap().allocations.taken.len(), 3);
    for i in 3..5 {
        assert!(seen.insert(st.allocate_ip(&id, &format!("c{i}"), None).unwrap()));
    }
    // /29: 6 hosts minus the gateway = 5 addresses, all used now.
    assert!(matches!(
        st.allocate_ip(&id, "c9", None),
        Err(NetError::NoAddress(_))
    ));
    assert!(st.release_ip(&id, Ipv4Addr::new(10, 77, 0, 4)).unwrap());
    assert_eq!(
        st.allocate_ip(&id, "c9", None).unwrap(),
        Ipv4Addr::new(10, 77, 0, 4)
    );
}

#[test]
fn create_rules() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions {
        host_routes: vec!["172.17.0.0/16".parse().unwrap()],
        ..Default::default()
    };
    let st = NetworkStore::open(dir.path(), &opts).unwrap();
    // The default bridge avoided the host route.
    assert_eq!(
        st.get(BRIDGE).unwrap().ipam.unwrap().subnet,
        "172.18.0.0/16".parse().unwrap()
    );
    let a = st.create(&spec("a", None), &opts.host_routes).unwrap();
    assert_eq!(a.ipam.unwrap().subnet, "172.19.0.0/16".parse().unwrap());
    assert_eq!(
        a.interface.as_deref(),
        Some(format!("br-{}", &a.id[..12]).as_str())
    );
    assert_eq!(
        st.create(&spec("a", None), &[]).unwrap_err().to_string(),
        "network with name a already exists"
    );
    let e = st
        .create(&spec("b", Some("172.19.3.0/24")), &[])
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid pool request: Pool overlaps with other one on this address space"
    );
    // A user subnet may overlap a host route (Docker's rule).
    st.create(&spec("c", Some("172.17.5.0/24")), &[]).unwrap();
    assert_eq!(st.get(&a.id[..10]).unwrap().name, "a");
    assert!(matches!(st.get("nope"), Err(NetError::NotFound(_))));
    assert_eq!(
        st.remove(BRIDGE).unwrap_err().to_string(),
        "bridge is a pre-defined network and cannot be removed"
    );
    // --ip needs a user subnet.
    assert!(st
        .allocate_ip(&a.id, "x", Some(Ipv4Addr::new(172, 19, 0, 9)))
        .is_err());
    let ip = st.allocate_ip(&a.id, "x", None).unwrap();
    st.put_endpoint(
        &a.id,
        EndpointRecord {
            container_id: "x".into(),
            container_name: "x".into(),
            endpoint_id: random_id(),
            ip,
            prefix_len: 16,
            mac: "02:42:ac:13:00:02".into(),
            gateway: None,
            host_ifname: None,
            ifname: "eth0".into(),
            aliases: vec![],
            dns_names: vec![],
            ports: vec![],
            netns: None,
            netns_inode: None,
        },
    )
    .unwrap();
    assert!(matches!(
        st.remove("a"),
        Err(NetError::ActiveEndpoints { .. })
    ));
    st.remove_endpoint(&a.id, "x").unwrap();
    assert!(st.get("a").unwrap().allocations.taken.is_empty());
    st.remove("a").unwrap();
    assert!(!dir.path().join(format!("networks/{}.json", a.id)).exists());
    // A second open of the same store is refused while the first is alive.
    assert!(NetworkStore::open(dir.path(), &opts).is_err());
}

#[test]
fn volatile_state_lives_in_the_runtime_dir() {
    let data = tempfile::tempdir().unwrap();
    let run = tempfile::tempdir().unwrap();
    let opts = StoreOptions {
        runtime_dir: Some(run.path().to_path_buf()),
        ..Default::default()
    };
    let id = {
        let st = NetworkStore::open(data.path(), &opts).unwrap();
        let rec = st.create(&spec("n", Some("10.78.0.0/24")), &[]).unwrap();
        st.allocate_ip(&rec.id, "ctr-one", None).unwrap();
        rec.id
    };
    // The durable config holds no allocations; the runtime file does.
    let cfg = std::fs::read_to_string(data.path().join(format!("networks/{id}.json"))).unwrap();
    assert!(
        !cfg.contains("ctr-one") && cfg.contains("10.78.0.0/24"),
        "{cfg}"
    );
    let state_path = run.path().join(format!("networks/{id}.json"));
    assert!(std::fs::read_to_string(&state_path)
        .unwrap()
        .contains("ctr-one"));
    {
        let st = NetworkStore::open(data.path(), &opts).unwrap();
        assert_eq!(st.get("n").unwrap().allocations.taken.len(), 1);
    }
    // A reboot empties the runtime dir: everything is free again.
    std::fs::remove_file(&state_path).unwrap();
    // A state file torn by a power loss is ignored, and one without its
    // network (removed just before a crash) is deleted.
    let orphan = run.path().join("networks/deadbeef.json");
    std::fs::write(&orphan, b"{}").unwrap();
    std::fs::write(&state_path, b"{\"allocations\":").unwrap();
    let st = NetworkStore::open(data.path(), &opts).unwrap();
    assert!(st.get("n").unwrap().allocations.taken.is_empty());
    assert!(!orphan.exists());
    assert_eq!(
        st.allocate_ip(&id, "c2", None).unwrap(),
        Ipv4Addr::new(10, 78, 0, 2)
    );
}
