//! Logging: `tracing` to stderr (journald takes it from there under systemd), with a level
//! that a reload can change.

use ipsec_core::config::LogLevel;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{Registry, fmt, reload};

use crate::cli::LogLevelArg;

/// Changes the level of the installed subscriber.
#[derive(Debug, Clone)]
pub struct LogHandle(reload::Handle<LevelFilter, Registry>);

impl LogHandle {
    /// Sets the maximum level logged from now on.
    pub fn set(&self, level: LevelFilter) {
        let _ = self.0.modify(|f| *f = level);
    }
}

/// The filter of a configured level.
pub fn from_config(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    }
}

/// The filter of `--log-level`.
pub fn from_arg(level: LogLevelArg) -> LevelFilter {
    match level {
        LogLevelArg::Error => LevelFilter::ERROR,
        LogLevelArg::Warn => LevelFilter::WARN,
        LogLevelArg::Info => LevelFilter::INFO,
        LogLevelArg::Debug => LevelFilter::DEBUG,
        LogLevelArg::Trace => LevelFilter::TRACE,
    }
}

/// Installs the global subscriber. Under systemd (`JOURNAL_STREAM` set) timestamps are left
/// to the journal.
pub fn init(level: LevelFilter) -> LogHandle {
    let (filter, handle) = reload::Layer::new(level);
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let layer = fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi);
    let registry = tracing_subscriber::registry().with(filter);
    if journal {
        let _ = registry.with(layer.without_time()).try_init();
    } else {
        let _ = registry.with(layer).try_init();
    }
    LogHandle(handle)
}
