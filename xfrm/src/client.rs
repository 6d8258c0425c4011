//! The XFRM client: one netlink connection (from `xfrmnetlink`) to add, update, get, dump and
//! delete SAs and policies, allocate SPIs, and remove what the daemon installed.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures::TryStreamExt;
use netlink_packet_xfrm::policy::DelGetMessage as PolicyDelGetMessage;

use crate::error::{Error, Result};
use crate::owner::{Owner, POLICY_SLOTS};
use crate::policy::{PolicyConfig, PolicyId, PolicyInfo};
use crate::sa::{SaConfig, SaCounters, SaId, SaInfo, SpiRequest};
use crate::types::{Direction, IpsecProto};

/// Default bound on one request (dumps get [`DUMP_TIMEOUT`]).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on a whole dump.
pub const DUMP_TIMEOUT: Duration = Duration::from_secs(60);

/// What a flush removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlushReport {
    /// SAs deleted.
    pub sas: usize,
    /// Policies deleted.
    pub policies: usize,
}

#[derive(Debug, Default)]
struct Registry {
    sas: HashSet<SaId>,
    policies: HashMap<PolicyId, u32>,
}

/// A connection to the kernel's XFRM interface, in the network namespace of the thread that
/// created it, with the daemon's [`Owner`] tag.
///
/// All methods take `&self` and may run concurrently. Each request is bounded in time.
#[derive(Debug)]
pub struct Xfrm {
    handle: xfrmnetlink::Handle,
    conn: tokio::task::JoinHandle<()>,
    owner: Owner,
    timeout: Duration,
    next_slot: AtomicU32,
    registry: Mutex<Registry>,
}

impl Drop for Xfrm {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

fn any_addr() -> IpAddr {
    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
}

impl Xfrm {
    /// Opens the connection. Must be called inside a tokio runtime (the connection runs as a
    /// task on it); the socket belongs to the calling thread's network namespace.
    pub fn new(owner: Owner) -> Result<Self> {
        owner.check()?;
        let rt = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let (conn, handle, _unsolicited) =
            xfrmnetlink::new_connection().map_err(|source| Error::Io {
                op: "open XFRM netlink socket",
                source,
            })?;
        let conn = rt.spawn(conn);
        // Start the policy index slots somewhere unpredictable, so that a policy left by an
        // earlier run that was not cleaned up is unlikely to hold the index we ask for.
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() ^ std::process::id())
            .unwrap_or(0)
            % POLICY_SLOTS;
        Ok(Xfrm {
            handle,
            conn,
            owner,
            timeout: DEFAULT_TIMEOUT,
            next_slot: AtomicU32::new(start),
            registry: Mutex::new(Registry::default()),
        })
    }

    /// The owner tag.
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// Sets the bound on one request.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    async fn bounded<T>(
        &self,
        op: &'static str,
        timeout: Duration,
        fut: impl Future<Output = std::result::Result<T, xfrmnetlink::Error>>,
    ) -> Result<T> {
        let r = match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r.map_err(|e| Error::from_xfrmnl(op, e)),
            Err(_) => Err(Error::Timeout { op, timeout }),
        };
        // A request whose connection died before the answer sees its reply stream end, which
        // the request types read as success: do not believe it.
        if self.conn.is_finished() {
            return Err(Error::ConnectionClosed { op });
        }
        r
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        // A panic while holding the lock cannot leave the sets inconsistent: take them as is.
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ------------------------------------------------------------------ SAs ----

    /// Adds an SA (XFRM_MSG_NEWSA). Fails with EEXIST if its SPI is taken, including by a
    /// larval SA from [`Xfrm::alloc_spi`]: complete those with [`Xfrm::update_sa`].
    pub async fn add_sa(&self, sa: &SaConfig) -> Result<()> {
        self.modify_sa("add SA", sa, false).await
    }

    /// Replaces an SA, or completes a larval one from SPI allocation (XFRM_MSG_UPDSA).
    pub async fn update_sa(&self, sa: &SaConfig) -> Result<()> {
        self.modify_sa("update SA", sa, true).await
    }

    async fn modify_sa(&self, op: &'static str, sa: &SaConfig, update: bool) -> Result<()> {
        let msg = sa.to_message()?;
        let state = self.handle.state();
        let mut req = if update {
            state.update(sa.src, sa.dst)
        } else {
            state.add(sa.src, sa.dst)
        };
        *req.message_mut() = msg;
        self.bounded(op, self.timeout, req.execute()).await?;
        self.registry().sas.insert(sa.id());
        Ok(())
    }

    /// Deletes an SA.
    pub async fn delete_sa(&self, id: &SaId) -> Result<()> {
        let msg = id.to_delget()?;
        let mut req = self.handle.state().delete(id.src, id.dst);
        *req.message_mut() = msg;
        let r = self.bounded("delete SA", self.timeout, req.execute()).await;
        if r.is_ok() || r.as_ref().is_err_and(Error::is_not_found) {
            self.registry().sas.remove(id);
        }
        r
    }

    /// Reads one SA.
    pub async fn get_sa(&self, id: &SaId) -> Result<SaInfo> {
        let msg = id.to_delget()?;
        let mut req = self.handle.state().get(id.src, id.dst);
        *req.message_mut() = msg;
        let fut = async move {
            let mut stream = pin!(req.execute());
            stream.try_next().await
        };
        match self.bounded("get SA", self.timeout, fut).await? {
            Some(mut m) => SaInfo::from_message(&mut m),
            None => Err(Error::UnexpectedReply { op: "get SA" }),
        }
    }

    /// Reads an SA's counters: bytes, packets, replay and integrity drops, sequence numbers.
    pub async fn sa_counters(&self, id: &SaId) -> Result<SaCounters> {
        Ok(self.get_sa(id).await?.counters)
    }

    /// Lists every SA in the namespace (ours and others). Entries this crate cannot decode
    /// (protocols other than ESP, AH and IPComp, such as Mobile IPv6 states) are skipped; the
    /// flush still finds such an SA of ours through the client's registry.
    pub async fn dump_sas(&self) -> Result<Vec<SaInfo>> {
        let req = self.handle.state().get_dump();
        let msgs: Vec<_> = self
            .bounded("dump SAs", DUMP_TIMEOUT, req.execute().try_collect())
            .await?;
        Ok(msgs
            .into_iter()
            .filter_map(|mut m| SaInfo::from_message(&mut m).ok())
            .collect())
    }

    /// Allocates an unused SPI in `req.min..=req.max` (XFRM_MSG_ALLOCSPI). The kernel holds it
    /// as a larval SA until [`Xfrm::update_sa`] completes it (or it expires).
    pub async fn alloc_spi(&self, req: &SpiRequest) -> Result<u32> {
        let msg = req.to_message()?;
        let mut r = self.handle.state().alloc_spi(req.src, req.dst);
        *r.message_mut() = msg;
        let fut = async move {
            let mut stream = pin!(r.execute());
            stream.try_next().await
        };
        let m = self
            .bounded("allocate SPI", self.timeout, fut)
            .await?
            .ok_or(Error::UnexpectedReply { op: "allocate SPI" })?;
        let spi = m.user_sa_info.id.spi;
        if !(req.min..=req.max).contains(&spi) {
            return Err(Error::Decode(format!(
                "allocated SPI {spi:#x} outside {:#x}..={:#x}",
                req.min, req.max
            )));
        }
        self.registry().sas.insert(SaId {
            src: req.src,
            dst: req.dst,
            spi,
            proto: req.proto,
            mark: req.mark,
        });
        Ok(spi)
    }

    // ------------------------------------------------------------- policies ----

    fn next_index(&self, dir: Direction) -> u32 {
        let slot = self.next_slot.fetch_add(1, Ordering::Relaxed);
        self.owner.policy_index(slot, dir)
    }

    /// Adds a policy (XFRM_MSG_NEWPOLICY), tagged with an index of ours; returns the index.
    pub async fn add_policy(&self, p: &PolicyConfig) -> Result<u32> {
        self.modify_policy("add policy", p, false).await
    }

    /// Adds or replaces a policy with the same selector, direction and mark
    /// (XFRM_MSG_UPDPOLICY). A replaced policy keeps its index, which is what this returns.
    pub async fn update_policy(&self, p: &PolicyConfig) -> Result<u32> {
        self.modify_policy("update policy", p, true).await
    }

    async fn modify_policy(&self, op: &'static str, p: &PolicyConfig, update: bool) -> Result<u32> {
        let index = self.next_index(p.dir);
        let msg = p.to_message(index)?;
        let (a, b) = (any_addr(), any_addr());
        let policy = self.handle.policy();
        let mut req = if update {
            policy.update(a, 0, b, 0)
        } else {
            policy.add(a, 0, b, 0)
        };
        *req.message_mut() = msg;
        self.bounded(op, self.timeout, req.execute()).await?;
        // A replaced policy keeps its old index (the kernel's xfrm_policy_insert ignores the
        // one we sent): read back what the kernel holds.
        let index = if update {
            self.get_policy(&p.id())
                .await
                .map_or(index, |info| info.index)
        } else {
            index
        };
        self.registry().policies.insert(p.id(), index);
        Ok(index)
    }

    /// Deletes a policy by selector, direction and mark.
    pub async fn delete_policy(&self, id: &PolicyId) -> Result<()> {
        let msg = id.to_delget()?;
        let r = self.delete_policy_msg(msg).await;
        if r.is_ok() || r.as_ref().is_err_and(Error::is_not_found) {
            self.registry().policies.remove(id);
        }
        r
    }

    /// Deletes a policy by its index (the direction is encoded in the index).
    pub async fn delete_policy_index(&self, index: u32) -> Result<()> {
        let mut msg = PolicyDelGetMessage::default();
        msg.user_policy_id.index = index;
        msg.user_policy_id.direction = (index & 7) as u8;
        self.delete_policy_msg(msg).await
    }

    async fn delete_policy_msg(&self, msg: PolicyDelGetMessage) -> Result<()> {
        let mut req = self.handle.policy().delete(any_addr(), 0, any_addr(), 0);
        *req.message_mut() = msg;
        self.bounded("delete policy", self.timeout, req.execute())
            .await
    }

    /// Reads one policy.
    pub async fn get_policy(&self, id: &PolicyId) -> Result<PolicyInfo> {
        let msg = id.to_delget()?;
        let mut req = self.handle.policy().get(any_addr(), 0, any_addr(), 0);
        *req.message_mut() = msg;
        let fut = async move {
            let mut stream = pin!(req.execute());
            stream.try_next().await
        };
        match self.bounded("get policy", self.timeout, fut).await? {
            Some(m) => PolicyInfo::from_message(&m),
            None => Err(Error::UnexpectedReply { op: "get policy" }),
        }
    }

    /// Lists every policy in the namespace (socket policies are not part of the SPD).
    pub async fn dump_policies(&self) -> Result<Vec<PolicyInfo>> {
        let req = self.handle.policy().get_dump();
        let msgs: Vec<_> = self
            .bounded("dump policies", DUMP_TIMEOUT, req.execute().try_collect())
            .await?;
        Ok(msgs
            .iter()
            .filter_map(|m| PolicyInfo::from_message(m).ok())
            .collect())
    }

    // ------------------------------------------------------------ ownership ----

    /// True if this SA is the daemon's: tagged with one of our reqids, or installed by this
    /// client.
    pub fn owns_sa(&self, sa: &SaInfo) -> bool {
        self.owner.owns_reqid(sa.reqid) || self.registry().sas.contains(&sa.id)
    }

    /// True if this policy is the daemon's: tagged with one of our indexes, or installed by
    /// this client.
    pub fn owns_policy(&self, p: &PolicyInfo) -> bool {
        self.owner.owns_policy_index(p.index) || self.registry().policies.contains_key(&p.id())
    }

    /// Deletes the daemon's SAs (all of them, or those of one protocol); foreign SAs stay.
    pub async fn flush_owned_sas(&self, proto: Option<IpsecProto>) -> Result<usize> {
        let mut n = 0;
        for sa in self.dump_sas().await? {
            if !self.owns_sa(&sa) || proto.is_some_and(|p| p != sa.id.proto) {
                continue;
            }
            let id = if sa.id.spi == 0 {
                match self.claim_larval(&sa).await {
                    Ok(id) => id,
                    Err(e) if e.is_not_found() => continue,
                    Err(e) => return Err(e),
                }
            } else {
                sa.id
            };
            match self.delete_sa(&id).await {
                Ok(()) => n += 1,
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        // What this client installed and the dump did not show as ours (a dump entry it could
        // not decode, say).
        let rest: Vec<SaId> = self
            .registry()
            .sas
            .iter()
            .filter(|id| proto.is_none_or(|p| p == id.proto))
            .copied()
            .collect();
        for id in rest {
            match self.delete_sa(&id).await {
                Ok(()) => n += 1,
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Gives an SPI to a larval SA that has none (made by an ACQUIRE, or by a failed SPI
    /// allocation), so that it can be deleted: XFRM_MSG_DELSA finds ESP/AH/IPComp SAs by SPI
    /// only. ALLOCSPI with the larval SA's sequence number (or mode, reqid and addresses)
    /// finds that very SA in the kernel and assigns the SPI to it.
    async fn claim_larval(&self, sa: &SaInfo) -> Result<SaId> {
        let req = SpiRequest {
            src: sa.id.src,
            dst: sa.id.dst,
            proto: sa.id.proto,
            mode: sa.mode,
            reqid: sa.reqid,
            min: 0x100,
            max: u32::MAX,
            mark: sa.id.mark,
            seq: sa.seq,
        };
        let spi = self.alloc_spi(&req).await?;
        Ok(SaId { spi, ..sa.id })
    }

    /// Deletes the daemon's policies; foreign policies stay.
    pub async fn flush_owned_policies(&self) -> Result<usize> {
        let mut n = 0;
        for p in self.dump_policies().await? {
            if !self.owns_policy(&p) {
                continue;
            }
            match self.delete_policy(&p.id()).await {
                Ok(()) => n += 1,
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        let rest: Vec<PolicyId> = self.registry().policies.keys().copied().collect();
        for id in rest {
            match self.delete_policy(&id).await {
                Ok(()) => n += 1,
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Removes everything the daemon installed, and only that: SAs, then policies, then the
    /// larval SAs that ACQUIREs may have created in between (SAs first, so that traffic is
    /// dropped rather than sent in clear while the policies still stand).
    pub async fn flush_owned(&self) -> Result<FlushReport> {
        let mut sas = self.flush_owned_sas(None).await?;
        let policies = self.flush_owned_policies().await?;
        sas += self.flush_owned_sas(None).await?;
        Ok(FlushReport { sas, policies })
    }

    /// At start-up: removes what an earlier run with the same [`Owner`] left behind (it crashed
    /// or was killed before its flush). Identical to [`Xfrm::flush_owned`], which finds objects
    /// by their tag whatever run installed them.
    pub async fn cleanup_leftovers(&self) -> Result<FlushReport> {
        self.flush_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Group, Monitor};

    #[test]
    fn outside_a_runtime_is_an_error_not_a_panic() {
        assert!(matches!(Xfrm::new(Owner::default()), Err(Error::NoRuntime)));
        assert!(matches!(
            Monitor::new(&[Group::Acquire]),
            Err(Error::NoRuntime)
        ));
        assert!(matches!(
            crate::NetConfig::new(&Owner::default()),
            Err(Error::NoRuntime)
        ));
    }

    #[test]
    fn a_bad_owner_is_refused() {
        let bad = Owner {
            reqid_min: 10,
            reqid_max: 5,
            ..Owner::default()
        };
        assert!(matches!(Xfrm::new(bad), Err(Error::Invalid(_))));
    }
}
