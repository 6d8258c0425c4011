//! [`Dataplane`]: the kernel's XFRM or the userspace one, behind one set of calls, so that
//! the daemon and its control requests (`iked sas`, `policies`, `stats`, `flush`,
//! `kill-connections`) work the same with either.

use std::net::{IpAddr, Ipv4Addr};

use ipsec_core::config::Snapshot;
use xfrm::{Encryption, EspTransform, Integrity, IpsecProto, Key, Mode, SaConfig, SaId};

use super::Userspace;
use crate::control::{PolicyRow, SaRow};
use crate::driver::{IkeDriver, SaDelete, SaInstall};
use crate::kernel::{Kernel, PolicyChanges, xfrm_stats};

/// Why a dataplane request failed.
#[derive(Debug, thiserror::Error)]
pub enum DataplaneError {
    /// Kernel XFRM.
    #[error("{0}")]
    Kernel(#[from] xfrm::Error),
    /// Reading the kernel's counters.
    #[error("/proc/self/net/xfrm_stat: {0}")]
    Stats(std::io::Error),
    /// The userspace dataplane.
    #[error("{0}")]
    Userspace(String),
}

/// Where ESP happens.
#[derive(Debug)]
pub enum Dataplane {
    /// Linux XFRM.
    Kernel(Box<Kernel>),
    /// The TUN-based userspace dataplane.
    Userspace(Box<Userspace>),
}

/// Whether the kernel can hold an ESP SA: adds and deletes a throwaway AES-GCM SA on
/// 127.0.0.1 with one of our reqids. Kernels without ESP refuse the add ("Requested type not
/// found" from `ip xfrm`, ENOENT/EPROTONOSUPPORT from netlink).
pub async fn probe_kernel_esp(kernel: &Kernel) -> Result<(), xfrm::Error> {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let owner = *kernel.xfrm().owner();
    // An SPI no peer would get from ALLOCSPI's default range (0x100..): below it.
    let spi = 0x6b;
    let t = EspTransform::new(
        Encryption::AesGcm16_128,
        Key::new(vec![0x6b; 20]),
        Integrity::None,
        Key::default(),
    )?;
    let cfg = SaConfig::esp(lo, lo, spi, Mode::Tunnel, owner.reqid(0xffff), t);
    kernel.xfrm().add_sa(&cfg).await?;
    let _ = kernel.xfrm().delete_sa(&SaId::esp(lo, lo, spi)).await;
    Ok(())
}

impl Dataplane {
    /// "kernel" or "userspace", for the log and `iked stats`.
    pub fn name(&self) -> &'static str {
        match self {
            Dataplane::Kernel(_) => "kernel",
            Dataplane::Userspace(_) => "userspace",
        }
    }

    /// Makes the policies those of `config`.
    pub async fn apply_policies(&mut self, config: &Snapshot) -> (PolicyChanges, Vec<String>) {
        match self {
            Dataplane::Kernel(k) => k.apply_policies(config).await,
            Dataplane::Userspace(u) => u.apply_policies(config).await,
        }
    }

    /// Installs one direction of an SA.
    pub async fn install_sa(&mut self, sa: &SaInstall) -> Result<(), DataplaneError> {
        match self {
            Dataplane::Kernel(k) => Ok(k.install_sa(sa).await?),
            Dataplane::Userspace(u) => u.install_sa(sa).await.map_err(DataplaneError::Userspace),
        }
    }

    /// Moves one direction of an SA to the peer's new NAT mapping; whether it was moved.
    pub async fn move_sa(&mut self, m: &crate::driver::SaMove) -> Result<bool, DataplaneError> {
        match self {
            Dataplane::Kernel(k) => Ok(k.move_sa(m).await?),
            Dataplane::Userspace(u) => Ok(u.move_sa(m)),
        }
    }

    /// Removes one direction of an SA; whether it was installed.
    pub async fn delete_sa(&mut self, d: &SaDelete) -> Result<bool, DataplaneError> {
        match self {
            Dataplane::Kernel(k) => Ok(k.delete_sa(d).await?),
            Dataplane::Userspace(u) => u.delete_sa(d).await.map_err(DataplaneError::Userspace),
        }
    }

    /// Our SAs with their counters.
    pub async fn list_sas(&self, driver: &dyn IkeDriver) -> Result<Vec<SaRow>, DataplaneError> {
        match self {
            Dataplane::Kernel(k) => Ok(k.list_sas(driver).await?),
            Dataplane::Userspace(u) => Ok(u.list_sas(driver)),
        }
    }

    /// Every SA's counters: what dead peer detection and accounting look at every few
    /// seconds, without the listing's rows (with 100,000 tunnels those were 200,000 rows of
    /// strings every five seconds: a stall of up to a second and a transient of 100 MB).
    pub async fn counters(&self, driver: &dyn IkeDriver) -> Result<Vec<SaCount>, DataplaneError> {
        match self {
            Dataplane::Kernel(k) => Ok(k
                .list_sas(driver)
                .await?
                .iter()
                .filter_map(SaCount::of_row)
                .collect()),
            Dataplane::Userspace(u) => Ok(u.counters()),
        }
    }

    /// One SA's counters (an SA about to go: accounting's last look at it).
    pub async fn counters_of(
        &self,
        driver: &dyn IkeDriver,
        spi: u32,
    ) -> Result<Option<SaCount>, DataplaneError> {
        match self {
            Dataplane::Kernel(_) => Ok(self
                .counters(driver)
                .await?
                .into_iter()
                .find(|c| c.spi == spi)),
            Dataplane::Userspace(u) => Ok(u.counters_of(spi)),
        }
    }

    /// Our policies.
    pub async fn list_policies(&self) -> Result<Vec<PolicyRow>, DataplaneError> {
        match self {
            Dataplane::Kernel(k) => Ok(k.list_policies().await?),
            Dataplane::Userspace(u) => Ok(u.list_policies()),
        }
    }

    /// `flush`: our SAs of `proto` (all for `None`); each one's (dst, SPI).
    pub async fn flush_sas(
        &mut self,
        proto: Option<IpsecProto>,
    ) -> Result<Vec<(IpAddr, u32)>, DataplaneError> {
        match self {
            Dataplane::Kernel(k) => Ok(k.flush_sas(proto).await?),
            Dataplane::Userspace(u) => Ok(u
                .flush_sas(proto.is_none_or(|p| p == IpsecProto::Esp))
                .await),
        }
    }

    /// Removes everything installed (shutdown); a summary for the log.
    pub async fn flush_all(&mut self) -> Result<String, DataplaneError> {
        match self {
            Dataplane::Kernel(k) => {
                let r = k.flush_all().await?;
                Ok(format!("{} SAs and {} policies", r.sas, r.policies))
            }
            Dataplane::Userspace(u) => u.shutdown().await.map_err(DataplaneError::Userspace),
        }
    }

    /// The dataplane's counters for `iked stats` (the kernel's `xfrm_stat`, or the userspace
    /// dataplane's, named alike where they mean the same).
    pub fn stats(&self) -> Result<Vec<(String, u64)>, DataplaneError> {
        match self {
            Dataplane::Kernel(_) => xfrm_stats().map_err(DataplaneError::Stats),
            Dataplane::Userspace(u) => Ok(u.stats()),
        }
    }
}

/// One SA's traffic so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaCount {
    pub spi: u32,
    pub inbound: bool,
    pub bytes: u64,
    pub packets: u64,
}

impl SaCount {
    fn of_row(r: &SaRow) -> Option<Self> {
        Some(SaCount {
            spi: u32::from_str_radix(r.spi.trim_start_matches("0x"), 16).ok()?,
            inbound: r.direction == "in",
            bytes: r.current_bytes,
            packets: r.current_packets,
        })
    }
}
