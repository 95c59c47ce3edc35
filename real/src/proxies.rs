//! One fault-injecting proxy per client host, and the toxics each should
//! carry: a stack of layers (the baseline latency, then one per active
//! fault, then the restart gate) merged so that overlapping faults never
//! undo each other. Ending one fault recomputes the merge instead of
//! blindly removing a toxic another fault still needs.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

use breakwater_proxy::{Proxy, ProxyConfig, Stream, Toxic, ToxicKind};

use crate::error::RealError;

/// Which layer a set of toxics belongs to; later layers win on the same
/// toxic kind and stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Layer {
    /// The spec's healthy network latency.
    Baseline,
    /// The scheduled fault with this index.
    Fault(usize),
    /// Client proxies held down while the broker comes back with an empty
    /// database and the witness subscribes again.
    Gate,
}

type Key = (ToxicKind, Option<Stream>);

#[derive(Debug)]
struct HostProxy {
    proxy: Proxy,
    layers: BTreeMap<Layer, Vec<Toxic>>,
    /// The toxics set on the proxy right now.
    applied: BTreeMap<Key, Toxic>,
}

impl HostProxy {
    fn desired(&self) -> BTreeMap<Key, Toxic> {
        let mut desired = BTreeMap::new();
        for toxics in self.layers.values() {
            for toxic in toxics {
                desired.insert((toxic.kind(), toxic.stream()), toxic.clone());
            }
        }
        desired
    }

    /// Brings the proxy's toxics to the merge of its layers, touching only
    /// what changed (so a Down that stays is never lifted in between).
    async fn sync(&mut self) -> Result<(), RealError> {
        let desired = self.desired();
        let mut kinds: Vec<ToxicKind> = self.applied.keys().map(|(kind, _)| *kind).collect();
        kinds.extend(desired.keys().map(|(kind, _)| *kind));
        kinds.sort();
        kinds.dedup();
        for kind in kinds {
            let of_kind = |map: &BTreeMap<Key, Toxic>| -> Vec<(Key, Toxic)> {
                map.iter()
                    .filter(|((k, _), _)| *k == kind)
                    .map(|(key, toxic)| (*key, toxic.clone()))
                    .collect()
            };
            let (now, want) = (of_kind(&self.applied), of_kind(&desired));
            if now == want {
                continue;
            }
            // `remove_toxic` removes a kind on both streams; only needed
            // when a stream of this kind must go.
            if now
                .iter()
                .any(|(key, _)| !want.iter().any(|(k, _)| k == key))
            {
                self.proxy.remove_toxic(kind).await;
                for (key, _) in &now {
                    self.applied.remove(key);
                }
            }
            for (key, toxic) in want {
                if self.applied.get(&key) != Some(&toxic) {
                    self.proxy.set_toxic(toxic.clone()).await?;
                    self.applied.insert(key, toxic);
                }
            }
        }
        Ok(())
    }
}

/// The proxies of every client host, by host name.
#[derive(Debug)]
pub(crate) struct Proxies {
    hosts: BTreeMap<String, HostProxy>,
}

impl Proxies {
    /// Starts one proxy per host on a free loopback port, forwarding to
    /// `broker`, each seeded from the run's seed and its index so latency
    /// jitter is reproducible in distribution.
    pub(crate) async fn start(
        hosts: &[String],
        broker: SocketAddr,
        seed: u64,
    ) -> Result<Proxies, RealError> {
        let mut map = BTreeMap::new();
        for (index, host) in hosts.iter().enumerate() {
            let mut config = ProxyConfig::new(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), broker);
            config.seed = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let proxy = Proxy::start_with(config).await?;
            map.insert(
                host.clone(),
                HostProxy {
                    proxy,
                    layers: BTreeMap::new(),
                    applied: BTreeMap::new(),
                },
            );
        }
        Ok(Proxies { hosts: map })
    }

    /// The address `host`'s client dials.
    pub(crate) fn addr(&self, host: &str) -> Option<SocketAddr> {
        self.hosts.get(host).map(|p| p.proxy.local_addr())
    }

    /// The hosts `targets` names, or every host when it is empty.
    pub(crate) fn resolve(&self, targets: &[String]) -> Vec<String> {
        if targets.is_empty() {
            self.hosts.keys().cloned().collect()
        } else {
            targets.to_vec()
        }
    }

    /// Puts `toxics` as `layer` on each of `hosts` and applies the merge.
    pub(crate) async fn push(
        &mut self,
        hosts: &[String],
        layer: Layer,
        toxics: &[Toxic],
    ) -> Result<(), RealError> {
        for host in hosts {
            if let Some(proxy) = self.hosts.get_mut(host) {
                proxy.layers.insert(layer, toxics.to_vec());
                proxy.sync().await?;
            }
        }
        Ok(())
    }

    /// Takes `layer` off every host and applies the merge.
    pub(crate) async fn pop(&mut self, layer: Layer) -> Result<(), RealError> {
        for proxy in self.hosts.values_mut() {
            if proxy.layers.remove(&layer).is_some() {
                proxy.sync().await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn latency(stream: Stream, ms: u64) -> Toxic {
        Toxic::Latency {
            stream,
            latency: Duration::from_millis(ms),
            jitter: Duration::ZERO,
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn ending_a_fault_restores_the_layers_beneath_it_and_keeps_the_others() {
        // Nothing listens upstream: only the toxic table is under test.
        let upstream = SocketAddr::from((Ipv4Addr::LOCALHOST, 9));
        let host = vec!["h".to_owned()];
        let mut proxies = Proxies::start(&host, upstream, 1).await.unwrap();
        let toxics = |proxies: &Proxies| proxies.hosts["h"].proxy.toxics();
        let baseline = [latency(Stream::Upstream, 5), latency(Stream::Downstream, 5)];
        proxies
            .push(&host, Layer::Baseline, &baseline)
            .await
            .unwrap();
        let slow_acks = [latency(Stream::Downstream, 50)];
        proxies
            .push(&host, Layer::Fault(0), &slow_acks)
            .await
            .unwrap();
        proxies
            .push(&host, Layer::Fault(1), &[Toxic::Down])
            .await
            .unwrap();
        assert_eq!(
            toxics(&proxies),
            vec![
                latency(Stream::Upstream, 5),
                latency(Stream::Downstream, 50),
                Toxic::Down
            ]
        );
        proxies.pop(Layer::Fault(0)).await.unwrap();
        assert_eq!(
            toxics(&proxies),
            vec![baseline[0].clone(), baseline[1].clone(), Toxic::Down],
            "the baseline is back under the ended fault; the other fault stays"
        );
        proxies.pop(Layer::Fault(1)).await.unwrap();
        assert_eq!(toxics(&proxies), baseline.to_vec());
    }
}
