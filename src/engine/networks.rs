//! Which addresses tenant databases may be reached on.
//!
//! Registering a database makes altus4 open a connection wherever the tenant says, so without a
//! policy any account could use it to probe the operator's internal network (the error and its
//! timing tell an open port from a closed one). `[targets] allowed_networks` and
//! `denied_networks` bound that: a host name is resolved and every address it has must be
//! permitted before anything is sent to it.

use std::net::IpAddr;

use crate::cidr::Cidr;

use super::pool::PoolError;

#[derive(Clone, Debug, Default)]
pub struct TargetNetworks {
    /// Empty: any address that is not denied.
    allowed: Vec<Cidr>,
    /// Checked first: a denied address is refused even inside an allowed range.
    denied: Vec<Cidr>,
}

impl TargetNetworks {
    /// From the configured ranges; entries that do not parse were refused when the configuration
    /// was validated.
    pub fn new(allowed: &[String], denied: &[String]) -> Self {
        let parse = |list: &[String]| list.iter().filter_map(|c| Cidr::parse(c)).collect();
        Self {
            allowed: parse(allowed),
            denied: parse(denied),
        }
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        !self.denied.iter().any(|c| c.contains(ip))
            && (self.allowed.is_empty() || self.allowed.iter().any(|c| c.contains(ip)))
    }

    /// Checks `host` against the policy. `Ok(None)`: no policy is configured, connect by name.
    /// `Ok(Some(addresses))`: every address of `host` is permitted; connect only to these (in
    /// order), so that a second DNS answer cannot differ from the one checked.
    pub async fn admit(&self, host: &str, port: u16) -> Result<Option<Vec<IpAddr>>, PoolError> {
        if self.allowed.is_empty() && self.denied.is_empty() {
            return Ok(None);
        }
        let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|_| PoolError::Unreachable)?
                .map(|a| a.ip())
                .collect(),
        };
        if addresses.is_empty() {
            Err(PoolError::Unreachable)
        } else if addresses.iter().all(|ip| self.permits(*ip)) {
            Ok(Some(addresses))
        } else {
            Err(PoolError::NotAllowed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(allowed: &[&str], denied: &[&str]) -> TargetNetworks {
        let own = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        TargetNetworks::new(&own(allowed), &own(denied))
    }

    #[test]
    fn denied_ranges_win_over_allowed_ones() {
        let policy = nets(&["10.0.0.0/8"], &["10.9.0.0/16"]);
        assert!(policy.permits("10.1.2.3".parse().unwrap()));
        assert!(!policy.permits("10.9.0.1".parse().unwrap()));
        assert!(
            !policy.permits("192.168.1.1".parse().unwrap()),
            "outside the allowed ranges"
        );
        assert!(
            !policy.permits("::ffff:10.9.0.1".parse().unwrap()),
            "mapped IPv4 is IPv4"
        );
        let open = nets(&[], &["169.254.0.0/16"]);
        assert!(
            open.permits("203.0.113.7".parse().unwrap())
                && !open.permits("169.254.169.254".parse().unwrap())
        );
    }

    #[tokio::test]
    async fn names_are_resolved_and_every_address_must_be_permitted() {
        assert_eq!(
            nets(&[], &[]).admit("db.invalid", 3306).await.unwrap(),
            None,
            "no policy: no lookup"
        );
        let loopback_only = nets(&["127.0.0.0/8", "::1"], &[]);
        assert_eq!(
            loopback_only.admit("127.0.0.1", 3306).await.unwrap(),
            Some(vec!["127.0.0.1".parse().unwrap()])
        );
        assert!(loopback_only
            .admit("localhost", 3306)
            .await
            .unwrap()
            .unwrap()
            .iter()
            .all(IpAddr::is_loopback));
        assert!(matches!(
            nets(&[], &["127.0.0.0/8", "::1"])
                .admit("localhost", 3306)
                .await,
            Err(PoolError::NotAllowed)
        ));
        assert!(matches!(
            loopback_only.admit("192.0.2.1", 3306).await,
            Err(PoolError::NotAllowed)
        ));
        assert!(matches!(
            loopback_only.admit("no-such-host.invalid", 3306).await,
            Err(PoolError::Unreachable)
        ));
    }
}
