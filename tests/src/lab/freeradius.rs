//! FreeRADIUS (Debian's `freeradius` 3.2) as a real AAA server in a namespace. Being written.

/// Debian packages [`FreeRadius`] needs.
pub const FREERADIUS_PACKAGES: &[&str] = &["freeradius", "freeradius-utils"];

/// A running FreeRADIUS.
pub struct FreeRadius {}
