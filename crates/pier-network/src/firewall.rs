//! Packet filtering and NAT through nftables, in Pier's own tables only:
//! `table inet <name>` (filtering) and `table ip <name>-nat` (NAT), `pier`
//! and `pier-nat` for the daemon. Other tables are never read or touched.
//!
//! The rules are a pure function of the desired state ([`FirewallState`]:
//! the bridges and the published ports). Every change re-renders both
//! tables and replaces them in ONE nft transaction (`add table` +
//! `delete table` + `add table` + contents), so the kernel switches from
//! the old rule set to the new one atomically: no window without rules,
//! nothing left over, and teardown (an empty state) removes exactly our two
//! tables. Conntrack entries survive the replacement, so established
//! connections are not disturbed.
//!
//! Rules, per bridge `B` with subnet `S`:
//! * nat postrouting: `ip saddr S oifname != B masquerade` (unless internal
//!   or masquerade is disabled); `oifname B ip saddr 127.0.0.0/8 masquerade`
//!   (host loopback → published port, see below); `oifname B ip saddr S
//!   ct status dnat masquerade` (hairpin: a container reaching a published
//!   port of a neighbour on the same bridge).
//! * nat prerouting and output: `fib daddr type local` → chain `ports`, with
//!   one DNAT rule per published port. Output covers connections made on the
//!   host itself, including to 127.0.0.1: those leave through the bridge
//!   thanks to `route_localnet=1` on it, and are masqueraded to the gateway so
//!   the container's reply comes back.
//! * filter prerouting: `iifname B ip daddr 127.0.0.0/8 drop`, because
//!   `route_localnet` would otherwise let containers address the host's
//!   loopback services.
//! * filter forward (policy accept: we only add restrictions): accept
//!   established/related and DNAT'd traffic to published ports (reachable
//!   from anywhere, like Docker's); then isolation `iifname B oifname
//!   {other pier bridges} drop`; internal networks `iifname B oifname != B
//!   drop` and `oifname B iifname != B drop`; `enable_icc=false` `iifname B
//!   oifname B drop`; then accepts for intra-bridge and outbound traffic.

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::process::Stdio;

use ipnet::Ipv4Net;
use nftables::expr::{
    Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, Payload, PayloadField,
    Prefix, SetItem, CT,
};
use nftables::schema::{Chain, NfCmd, NfListObject, NfObject, Nftables, Rule, Table};
use nftables::stmt::{JumpTarget, Match, Operator, Statement, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use tokio::io::AsyncWriteExt;
use tracing::debug;

use crate::error::{NetError, Result};
use crate::portmap::PortMapping;

/// Firewall-relevant facts about one bridge network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeFw {
    pub bridge: String,
    pub subnet: Ipv4Net,
    pub internal: bool,
    pub masquerade: bool,
    pub icc: bool,
}

/// One published port: host side in `mapping`, container side `container_ip:mapping.container_port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortFw {
    pub bridge: String,
    pub container_ip: Ipv4Addr,
    pub mapping: PortMapping,
}

/// Everything the rules are rendered from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirewallState {
    pub bridges: Vec<BridgeFw>,
    pub ports: Vec<PortFw>,
}

/// Renders and applies Pier's tables.
#[derive(Debug, Clone)]
pub struct Firewall {
    filter_table: String,
    nat_table: String,
    nft: String,
}

fn st(s: impl ToString) -> Expression<'static> {
    Expression::String(Cow::Owned(s.to_string()))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn payload(proto: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: proto.into(),
            field: field.into(),
        },
    )))
}

fn prefix(net: &Ipv4Net) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(st(net.network())),
        len: u32::from(net.prefix_len()),
    }))
}

fn ct(key: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::CT(CT {
        key: key.into(),
        family: None,
        dir: None,
    }))
}

fn m(left: Expression<'static>, op: Operator, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

fn iif(name: &str) -> Statement<'static> {
    m(meta(MetaKey::Iifname), Operator::EQ, st(name))
}

fn oif(name: &str) -> Statement<'static> {
    m(meta(MetaKey::Oifname), Operator::EQ, st(name))
}

fn oif_not(name: &str) -> Statement<'static> {
    m(meta(MetaKey::Oifname), Operator::NEQ, st(name))
}

fn iif_not(name: &str) -> Statement<'static> {
    m(meta(MetaKey::Iifname), Operator::NEQ, st(name))
}

fn loopback() -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::new(127, 0, 0, 0), 8).unwrap_or_default()
}

fn fib_local() -> Statement<'static> {
    let flags: HashSet<FibFlag> = [FibFlag::Daddr].into_iter().collect();
    m(
        Expression::Named(NamedExpression::Fib(Fib {
            result: FibResult::Type,
            flags,
        })),
        Operator::EQ,
        st("local"),
    )
}

struct Batch {
    cmds: Vec<NfObject<'static>>,
}

impl Batch {
    fn add(&mut self, o: NfListObject<'static>) {
        self.cmds.push(NfObject::CmdObject(NfCmd::Add(o)));
    }

    /// `add` + `delete` + `add`: works whether or not the table exists and
    /// leaves an empty one, all inside the same transaction.
    fn reset_table(&mut self, family: NfFamily, name: &str, keep: bool) {
        let t = || {
            NfListObject::Table(Table {
                family,
                name: Cow::Owned(name.to_string()),
                handle: None,
            })
        };
        self.add(t());
        self.cmds.push(NfObject::CmdObject(NfCmd::Delete(t())));
        if keep {
            self.add(t());
        }
    }

    fn chain(
        &mut self,
        family: NfFamily,
        table: &str,
        name: &str,
        base: Option<(NfChainType, NfHook, i32)>,
    ) {
        let mut c = Chain {
            family,
            table: Cow::Owned(table.to_string()),
            name: Cow::Owned(name.to_string()),
            ..Default::default()
        };
        if let Some((ty, hook, prio)) = base {
            c._type = Some(ty);
            c.hook = Some(hook);
            c.prio = Some(prio);
            c.policy = Some(NfChainPolicy::Accept);
        }
        self.add(NfListObject::Chain(c));
    }

    fn rule(
        &mut self,
        family: NfFamily,
        table: &str,
        chain: &str,
        expr: Vec<Statement<'static>>,
        comment: &str,
    ) {
        self.add(NfListObject::Rule(Rule {
            family,
            table: Cow::Owned(table.to_string()),
            chain: Cow::Owned(chain.to_string()),
            expr: Cow::Owned(expr),
            handle: None,
            index: None,
            comment: Some(Cow::Owned(comment.to_string())),
        }));
    }
}

impl Firewall {
    /// Tables `inet <name>` and `ip <name>-nat`.
    pub fn new(name: &str) -> Self {
        Firewall {
            filter_table: name.to_string(),
            nat_table: format!("{name}-nat"),
            nft: "nft".into(),
        }
    }

    /// The filter table's name (family inet).
    pub fn filter_table(&self) -> &str {
        &self.filter_table
    }

    /// The NAT table's name (family ip).
    pub fn nat_table(&self) -> &str {
        &self.nat_table
    }

    /// The whole transaction for `state` (tables deleted when it is empty).
    pub fn render(&self, state: &FirewallState) -> Nftables<'static> {
        let mut b = Batch { cmds: Vec::new() };
        let keep = !state.bridges.is_empty() || !state.ports.is_empty();
        let (fam, ft) = (NfFamily::INet, self.filter_table.as_str());
        b.reset_table(fam, ft, keep);
        let (nfam, nt) = (NfFamily::IP, self.nat_table.as_str());
        b.reset_table(nfam, nt, keep);
        if !keep {
            return Nftables {
                objects: Cow::Owned(b.cmds),
            };
        }

        // --- filter ---
        b.chain(
            fam,
            ft,
            "forward",
            Some((NfChainType::Filter, NfHook::Forward, 0)),
        );
        b.chain(
            fam,
            ft,
            "prerouting",
            Some((NfChainType::Filter, NfHook::Prerouting, -150)),
        );
        let names: Vec<&str> = state.bridges.iter().map(|x| x.bridge.as_str()).collect();
        // Replies of allowed connections first, then published ports (they
        // are reachable from everywhere, other pier networks included),
        // then the restrictions.
        b.rule(
            fam,
            ft,
            "forward",
            vec![
                m(
                    ct("state"),
                    Operator::IN,
                    Expression::List(vec![st("established"), st("related")]),
                ),
                Statement::Accept(None),
            ],
            "established and related",
        );
        for br in state.bridges.iter().filter(|b| !b.internal) {
            let n = br.bridge.as_str();
            b.rule(
                fam,
                ft,
                "forward",
                vec![
                    oif(n),
                    m(ct("status"), Operator::IN, st("dnat")),
                    Statement::Accept(None),
                ],
                &format!("{n}: published ports"),
            );
        }
        for br in &state.bridges {
            let n = br.bridge.as_str();
            b.rule(
                fam,
                ft,
                "prerouting",
                vec![
                    iif(n),
                    m(payload("ip", "daddr"), Operator::EQ, prefix(&loopback())),
                    Statement::Drop(None),
                ],
                &format!("{n}: no loopback from containers"),
            );
            let others: Vec<SetItem<'static>> = names
                .iter()
                .filter(|o| **o != n)
                .map(|o| SetItem::Element(st(o)))
                .collect();
            if !others.is_empty() {
                b.rule(
                    fam,
                    ft,
                    "forward",
                    vec![
                        iif(n),
                        m(
                            meta(MetaKey::Oifname),
                            Operator::EQ,
                            Expression::Named(NamedExpression::Set(others)),
                        ),
                        Statement::Drop(None),
                    ],
                    &format!("{n}: isolation from other networks"),
                );
            }
            if br.internal {
                b.rule(
                    fam,
                    ft,
                    "forward",
                    vec![iif(n), oif_not(n), Statement::Drop(None)],
                    &format!("{n}: internal, no way out"),
                );
                b.rule(
                    fam,
                    ft,
                    "forward",
                    vec![oif(n), iif_not(n), Statement::Drop(None)],
                    &format!("{n}: internal, no way in"),
                );
            }
            if !br.icc {
                b.rule(
                    fam,
                    ft,
                    "forward",
                    vec![iif(n), oif(n), Statement::Drop(None)],
                    &format!("{n}: icc disabled"),
                );
            }
        }
        for br in &state.bridges {
            let n = br.bridge.as_str();
            b.rule(
                fam,
                ft,
                "forward",
                vec![iif(n), oif(n), Statement::Accept(None)],
                &format!("{n}: intra-network"),
            );
            if !br.internal {
                b.rule(
                    fam,
                    ft,
                    "forward",
                    vec![iif(n), Statement::Accept(None)],
                    &format!("{n}: outbound"),
                );
            }
        }

        // --- nat ---
        b.chain(
            nfam,
            nt,
            "prerouting",
            Some((NfChainType::NAT, NfHook::Prerouting, -100)),
        );
        b.chain(
            nfam,
            nt,
            "output",
            Some((NfChainType::NAT, NfHook::Output, -100)),
        );
        b.chain(
            nfam,
            nt,
            "postrouting",
            Some((NfChainType::NAT, NfHook::Postrouting, 100)),
        );
        b.chain(nfam, nt, "ports", None);
        for chain in ["prerouting", "output"] {
            b.rule(
                nfam,
                nt,
                chain,
                vec![
                    fib_local(),
                    Statement::Jump(JumpTarget {
                        target: "ports".into(),
                    }),
                ],
                "published ports",
            );
        }
        for p in &state.ports {
            let mp = &p.mapping;
            let mut e = Vec::new();
            if !mp.host_ip.is_unspecified() {
                e.push(m(payload("ip", "daddr"), Operator::EQ, st(mp.host_ip)));
            }
            e.push(m(
                payload(mp.proto.as_str(), "dport"),
                Operator::EQ,
                Expression::Number(u32::from(mp.host_port)),
            ));
            e.push(Statement::DNAT(Some(NAT {
                addr: Some(st(p.container_ip)),
                family: None,
                port: Some(Expression::Number(u32::from(mp.container_port))),
                flags: None,
            })));
            b.rule(
                nfam,
                nt,
                "ports",
                e,
                &format!(
                    "{}: {}:{}/{} -> {}:{}",
                    p.bridge,
                    mp.host_ip,
                    mp.host_port,
                    mp.proto.as_str(),
                    p.container_ip,
                    mp.container_port
                ),
            );
        }
        for br in &state.bridges {
            let n = br.bridge.as_str();
            if br.masquerade && !br.internal {
                b.rule(
                    nfam,
                    nt,
                    "postrouting",
                    vec![
                        m(payload("ip", "saddr"), Operator::EQ, prefix(&br.subnet)),
                        oif_not(n),
                        Statement::Masquerade(None),
                    ],
                    &format!("{n}: masquerade outbound"),
                );
            }
            b.rule(
                nfam,
                nt,
                "postrouting",
                vec![
                    oif(n),
                    m(payload("ip", "saddr"), Operator::EQ, prefix(&loopback())),
                    Statement::Masquerade(None),
                ],
                &format!("{n}: host loopback to published ports"),
            );
            b.rule(
                nfam,
                nt,
                "postrouting",
                vec![
                    oif(n),
                    m(payload("ip", "saddr"), Operator::EQ, prefix(&br.subnet)),
                    m(ct("status"), Operator::IN, st("dnat")),
                    Statement::Masquerade(None),
                ],
                &format!("{n}: hairpin to published ports"),
            );
        }
        Nftables {
            objects: Cow::Owned(b.cmds),
        }
    }

    /// Replace Pier's tables with the rules for `state`, atomically.
    pub async fn apply(&self, state: &FirewallState) -> Result<()> {
        let doc = self.render(state);
        let json = serde_json::to_vec(&doc)
            .map_err(|e| NetError::Firewall(format!("encoding rules: {e}")))?;
        debug!(table = %self.filter_table, bridges = state.bridges.len(), ports = state.ports.len(), "applying nftables rules");
        self.run(&json).await
    }

    /// Remove both tables (no error if they do not exist).
    pub async fn remove(&self) -> Result<()> {
        self.apply(&FirewallState::default()).await
    }

    async fn run(&self, json: &[u8]) -> Result<()> {
        let mut child = tokio::process::Command::new(&self.nft)
            .args(["-j", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                NetError::Firewall(if e.kind() == std::io::ErrorKind::NotFound {
                    "the nft program was not found; install the nftables package".into()
                } else {
                    format!("running nft: {e}")
                })
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(json)
                .await
                .map_err(|e| NetError::Firewall(format!("writing to nft: {e}")))?;
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| NetError::Firewall(format!("waiting for nft: {e}")))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(NetError::Firewall(format!(
                "nft failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portmap::Proto;

    fn state() -> FirewallState {
        FirewallState {
            bridges: vec![
                BridgeFw {
                    bridge: "br-a".into(),
                    subnet: "10.1.0.0/24".parse().unwrap(),
                    internal: false,
                    masquerade: true,
                    icc: true,
                },
                BridgeFw {
                    bridge: "br-b".into(),
                    subnet: "10.2.0.0/24".parse().unwrap(),
                    internal: true,
                    masquerade: true,
                    icc: false,
                },
            ],
            ports: vec![PortFw {
                bridge: "br-a".into(),
                container_ip: Ipv4Addr::new(10, 1, 0, 2),
                mapping: PortMapping {
                    host_ip: Ipv4Addr::LOCALHOST,
                    host_port: 8080,
                    container_port: 80,
                    proto: Proto::Tcp,
                },
            }],
        }
    }

    #[test]
    fn render_rules() {
        let fw = Firewall::new("pt");
        let json = serde_json::to_string(&fw.render(&state())).unwrap();
        // Only our tables.
        assert!(json.contains(r#""family":"inet","name":"pt""#), "{json}");
        assert!(json.contains(r#""family":"ip","name":"pt-nat""#));
        // DNAT with the host IP, the port and the target.
        assert!(
            json.contains(r#"{"dnat":{"addr":"10.1.0.2","port":80}}"#),
            "{json}"
        );
        assert!(json.contains(r#""right":"127.0.0.1""#));
        assert!(json.contains(r#""right":8080"#));
        // Masquerade only for the non-internal network.
        assert!(json.contains("br-a: masquerade outbound"));
        assert!(!json.contains("br-b: masquerade outbound"));
        assert!(json.contains("br-b: internal, no way out"));
        assert!(json.contains("br-b: icc disabled"));
        assert!(json.contains("br-a: isolation from other networks"));
        assert!(!json.contains("br-b: published ports"));
    }

    #[test]
    fn empty_state_deletes_tables() {
        let fw = Firewall::new("pt");
        let v = serde_json::to_value(fw.render(&FirewallState::default())).unwrap();
        let cmds = v["nftables"].as_array().unwrap();
        // add+delete for each table, nothing else.
        assert_eq!(cmds.len(), 4);
        assert!(cmds[1].get("delete").is_some() && cmds[3].get("delete").is_some());
    }
}
