//! Protection from server-side request forgery. A webhook URL is typed by an admin, but the
//! request comes from inside the network: without a check, `http://169.254.169.254/…` reads the
//! cloud's instance credentials and `http://10.0.0.5/admin` reaches internal services. So every
//! address a delivery would connect to is checked: IP literals in the URL before the request,
//! names inside the client's DNS resolver ([`GuardedResolver`]), after resolution and on every
//! attempt (the webhook client keeps no idle connections), so the address checked is the one
//! connected to and a name that changes its answer (DNS rebinding) is caught. An allow-list
//! admits internal receivers: the configured one (`HDMS_WEBHOOK_ALLOW`) and the one admins set
//! at run time (`PUT /api/v1/settings/webhooks`, kept in the database so every instance applies
//! it; the worker reloads it on each pass).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock, RwLock};

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Ranges no webhook goes to unless allowed, with the reason given.
static FORBIDDEN: LazyLock<Vec<(IpNet, &'static str)>> = LazyLock::new(|| {
    [
        ("169.254.169.254/32", "a cloud metadata address"),
        ("100.100.100.200/32", "a cloud metadata address"),
        ("fd00:ec2::254/128", "a cloud metadata address"),
        ("0.0.0.0/8", "an unspecified address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "an IETF protocol address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("fc00::/7", "a private (unique local) address"),
        ("fe80::/10", "a link-local address"),
        ("ff00::/8", "a multicast address"),
    ]
    .into_iter()
    .map(|(net, why)| (net.parse().expect("a valid network"), why))
    .collect()
});

/// Why a delivery may not go to an address.
#[derive(Debug, Clone, thiserror::Error)]
#[error("refused to deliver to {address}: {reason} (an admin can allow it: hdms webhooks allow add)")]
pub struct Refused {
    pub address: IpAddr,
    pub reason: &'static str,
}

/// The addresses webhooks may reach.
#[derive(Debug, Default)]
pub struct Guard {
    /// From the configuration (`HDMS_WEBHOOK_ALLOW`).
    configured: Vec<IpNet>,
    /// Set by admins through the API; replaced whole when it changes.
    admitted: RwLock<Arc<Vec<IpNet>>>,
}

impl Guard {
    pub fn new(configured: Vec<IpNet>, admitted: Vec<IpNet>) -> Guard {
        Guard { configured, admitted: RwLock::new(Arc::new(admitted)) }
    }

    /// Replaces the admins' allow-list (read anew from the database).
    pub fn admit(&self, admitted: Vec<IpNet>) {
        *self.admitted.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(admitted);
    }

    pub fn check(&self, address: IpAddr) -> Result<(), Refused> {
        // `::ffff:10.0.0.1` reaches 10.0.0.1: judge the IPv4 address it carries.
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 => v4,
        };
        let admitted = self.admitted.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        if self.configured.iter().chain(admitted.iter()).any(|net| net.contains(&address)) {
            return Ok(());
        }
        match FORBIDDEN.iter().find(|(net, _)| net.contains(&address)) {
            Some((_, reason)) => Err(Refused { address, reason }),
            None => Ok(()),
        }
    }

    /// Checks the host of a URL when it is an IP address (the client resolves no name for it).
    pub fn check_url(&self, url: &url::Url) -> Result<(), Refused> {
        match url.host() {
            Some(url::Host::Ipv4(v4)) => self.check(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => self.check(IpAddr::V6(v6)),
            _ => Ok(()),
        }
    }
}

/// Names answered without asking the system's resolver, like `/etc/hosts` (a test's seam for
/// names that lead to internal networks; reqwest's own overrides would bypass the guard).
pub type Hosts = HashMap<String, Vec<IpAddr>>;

/// The webhook client's resolver: the system's answer (or the [`Hosts`] entry), less the
/// addresses the guard refuses; an error naming the refusal when none is left.
pub struct GuardedResolver {
    guard: Arc<Guard>,
    hosts: Arc<Hosts>,
}

impl GuardedResolver {
    pub fn new(guard: Arc<Guard>, hosts: Hosts) -> GuardedResolver {
        GuardedResolver { guard, hosts: Arc::new(hosts) }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        let hosts = self.hosts.clone();
        Box::pin(async move {
            let found: Vec<SocketAddr> = match hosts.get(&name.as_str().to_ascii_lowercase()) {
                Some(addresses) => addresses.iter().map(|ip| SocketAddr::new(*ip, 0)).collect(),
                None => tokio::net::lookup_host((name.as_str(), 0)).await?.collect(),
            };
            let mut refused = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| match guard.check(addr.ip()) {
                    Ok(()) => true,
                    Err(err) => {
                        refused.get_or_insert(err);
                        false
                    }
                })
                .collect();
            match (allowed.is_empty(), refused) {
                (true, Some(refused)) => Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>),
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

/// The refusal somewhere in an error's chain of sources, if that is why it failed.
pub fn refusal_in<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(refused) = err.downcast_ref::<Refused>() {
            return Some(refused);
        }
        current = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_internal_addresses_unless_allowed() {
        let guard = Guard::default();
        for address in ["127.0.0.1", "10.1.2.3", "169.254.169.254", "192.168.1.1", "172.20.0.1", "::1", "fe80::1", "::ffff:10.0.0.1", "0.0.0.0"] {
            assert!(guard.check(address.parse().unwrap()).is_err(), "{address} is refused");
        }
        assert_eq!(guard.check("169.254.169.254".parse().unwrap()).unwrap_err().reason, "a cloud metadata address");
        for address in ["93.184.215.14", "2606:4700::1111", "172.32.0.1"] {
            assert!(guard.check(address.parse().unwrap()).is_ok(), "{address} is public");
        }
        let guard = Guard::new(vec!["127.0.0.0/8".parse().unwrap()], Vec::new());
        assert!(guard.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(guard.check("10.0.0.1".parse().unwrap()).is_err());
        guard.admit(vec!["10.0.0.0/24".parse().unwrap()]);
        assert!(guard.check("10.0.0.1".parse().unwrap()).is_ok());
        assert!(guard.check("10.0.1.1".parse().unwrap()).is_err());
        guard.admit(Vec::new());
        assert!(guard.check("10.0.0.1".parse().unwrap()).is_err());
    }

    #[test]
    fn checks_literal_hosts_in_every_spelling() {
        let guard = Guard::default();
        // The URL parser normalises the old numeric spellings of 127.0.0.1.
        for url in ["http://127.0.0.1/", "http://2130706433/", "http://0x7f.1/", "http://[::ffff:127.0.0.1]/"] {
            assert!(guard.check_url(&url::Url::parse(url).unwrap()).is_err(), "{url} is refused");
        }
    }
}
