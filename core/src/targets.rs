//! Where strata may connect on a user's word (a webhook's target, a mirror's remote): `https` to
//! public addresses only, unless the admin allows private ones (`--webhooks-allow-private`,
//! `--mirrors-allow-private`: loopback, private ranges, and plain `http`), so a user cannot probe
//! strata's own network. A host name is checked at each delivery by the resolver
//! the client connects through (the addresses checked are the ones connected to: no second
//! lookup to race); addresses nobody may reach (unspecified, multicast, broadcast) never are.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The rule targets are checked against.
#[derive(Debug, Clone, Copy)]
pub struct Targets {
    pub allow_private: bool,
}

impl Targets {
    /// Whether `url` may be a webhook's target (its host's addresses are checked when it is
    /// delivered to): why not, if not.
    pub fn check_url(&self, url: &str) -> Result<url::Url, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("the URL is not valid: {e}"))?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            "http" => return Err("the URL must be https".into()),
            other => return Err(format!("the URL must be https, not {other}")),
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("the URL may not hold credentials".into());
        }
        match parsed.host() {
            None => return Err("the URL has no host".into()),
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip))?,
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip))?,
            Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {
                self.check_ip(IpAddr::from([127, 0, 0, 1]))?
            }
            Some(url::Host::Domain(_)) => {}
        }
        if url.len() > 2048 {
            return Err("the URL is longer than 2048 bytes".into());
        }
        Ok(parsed)
    }

    /// Whether a delivery may connect to `ip`. An IPv6 address that carries an IPv4 one
    /// (mapped, compatible, NAT64, 6to4) is judged by the IPv4 address it reaches.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        let ip = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let never = match ip {
            IpAddr::V4(v4) => v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast(),
            IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast(),
        };
        if never {
            return Err(format!("{ip} cannot be connected to"));
        }
        let private = match ip {
            IpAddr::V4(v4) => {
                let [a, b, ..] = v4.octets();
                v4.is_loopback()
                    || v4.is_private()
                    || v4.is_link_local()
                    || a == 0
                    || (a == 100 && (64..128).contains(&b))
                    || (a == 192 && b == 0)
                    || (a == 198 && (18..20).contains(&b))
                    || a >= 240
            }
            IpAddr::V6(v6) => {
                let first = v6.segments()[0];
                v6.is_loopback()
                    // unique local, link-local and the deprecated site-local
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80
                    || (first & 0xffc0) == 0xfec0
            }
        };
        if private && !self.allow_private {
            return Err(format!(
                "{ip} is a private, loopback or link-local address, which may not be reached"
            ));
        }
        Ok(())
    }

    /// The addresses `host` resolves to, every one of them allowed: one refused address refuses
    /// the name (a name that answers with public and private addresses is no way in). The
    /// address is logged, not told: an error shown to a user would map strata's own network.
    pub async fn addresses(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("{host} cannot be resolved: {e}"))?
            .collect();
        for a in &found {
            if let Err(e) = self.check_ip(a.ip()) {
                tracing::info!(host, reason = e, "a host resolved to a refused address");
                return Err(format!(
                    "{host} resolves to an address strata may not reach (private, loopback, \
                     link-local or reserved)"
                ));
            }
        }
        if found.is_empty() {
            return Err(format!("{host} has no address"));
        }
        Ok(found)
    }

    /// A resolver that answers only with addresses webhooks may reach.
    pub(super) fn resolver(&self) -> Arc<Checked> {
        Arc::new(Checked(*self))
    }
}

/// The IPv4 address an IPv6 one leads to: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::/96`, `64:ff9b:1::/48`) and 6to4 (`2002:AABB:CCDD::/48`).
fn embedded_v4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let o = v6.octets();
    let tail = std::net::Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    match s {
        // ::a.b.c.d (not :: and ::1, which are themselves)
        [0, 0, 0, 0, 0, 0, _, _] if !v6.is_unspecified() && !v6.is_loopback() => Some(tail),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        [0x64, 0xff9b, 1, ..] => Some(tail),
        [0x2002, ..] => Some(std::net::Ipv4Addr::new(o[2], o[3], o[4], o[5])),
        _ => None,
    }
}

/// The system's resolver, its answers checked.
pub(super) struct Checked(Targets);

impl Resolve for Checked {
    fn resolve(&self, name: Name) -> Resolving {
        let targets = self.0;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let allowed = targets.addresses(&host, 0).await?;
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_https_only_unless_private_is_allowed() {
        let strict = Targets {
            allow_private: false,
        };
        assert!(strict.check_url("https://hooks.example.com/x").is_ok());
        for bad in [
            "http://hooks.example.com/x",
            "ftp://hooks.example.com/x",
            "https://127.0.0.1/x",
            "https://localhost:8080/x",
            "https://10.1.2.3/x",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://[fd00::1]/x",
            "https://[fec0::1]/x",
            "https://[::10.0.0.5]/x",
            "https://[64:ff9b::a00:5]/x",
            "https://[64:ff9b:1::a00:5]/x",
            "https://[2002:a00:5::1]/x",
            "https://[2002:a9fe:a9fe::1]/x",
            "https://0.0.0.0/x",
            "https://user:pw@hooks.example.com/x",
            "not a url",
        ] {
            assert!(strict.check_url(bad).is_err(), "{bad}");
        }
        let open = Targets {
            allow_private: true,
        };
        assert!(open.check_url("http://127.0.0.1:9/x").is_ok());
        assert!(open.check_url("https://0.0.0.0/x").is_err());
        assert!(open.check_url("https://224.0.0.1/x").is_err());
        // Public IPv4 behind NAT64 or 6to4 is public.
        assert!(strict.check_url("https://[64:ff9b::808:808]/x").is_ok());
        assert!(strict.check_url("https://[2002:808:808::1]/x").is_ok());
        assert!(strict.check_url("https://[2606:4700::1111]/x").is_ok());
    }
}
