//! Configuration errors and warnings: file, line, object, key, and what was expected.

use core::fmt;

/// The kind of object a message is about: one per `[[table]]`, plus `[daemon]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// `[[peer]]`
    Peer,
    /// `[[proposal]]`
    Proposal,
    /// `[[policy]]` (including templates)
    Policy,
    /// `[[policy-group]]`
    PolicyGroup,
    /// `[[mode-config]]`
    ModeConfig,
    /// `[[user]]`
    User,
    /// `[[ip-pool]]`
    IpPool,
    /// `[[radius]]`
    Radius,
    /// `[daemon]`
    Daemon,
}

impl ObjectKind {
    /// Every kind, in file order of the documentation.
    pub const ALL: [ObjectKind; 9] = [
        ObjectKind::Peer,
        ObjectKind::Proposal,
        ObjectKind::Policy,
        ObjectKind::PolicyGroup,
        ObjectKind::ModeConfig,
        ObjectKind::User,
        ObjectKind::IpPool,
        ObjectKind::Radius,
        ObjectKind::Daemon,
    ];

    /// The table name in the file (`peer`, `policy-group`, ...).
    pub const fn section(self) -> &'static str {
        match self {
            ObjectKind::Peer => "peer",
            ObjectKind::Proposal => "proposal",
            ObjectKind::Policy => "policy",
            ObjectKind::PolicyGroup => "policy-group",
            ObjectKind::ModeConfig => "mode-config",
            ObjectKind::User => "user",
            ObjectKind::IpPool => "ip-pool",
            ObjectKind::Radius => "radius",
            ObjectKind::Daemon => "daemon",
        }
    }

    pub(crate) fn from_section(section: &str) -> Option<Self> {
        ObjectKind::ALL.into_iter().find(|k| k.section() == section)
    }
}

/// One object of the file: `peer "office"`, or `policy #3` for objects without a name
/// (numbered from 1 in file order within their kind).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    /// What kind of object.
    pub kind: ObjectKind,
    /// Position among the objects of its kind in the file, from 0.
    pub index: usize,
    /// Its name, when it has one.
    pub name: Option<String>,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.name, self.kind) {
            (_, ObjectKind::Daemon) => f.write_str("daemon"),
            (Some(name), kind) => write!(f, "{} {name:?}", kind.section()),
            (None, kind) => write!(f, "{} #{}", kind.section(), self.index + 1),
        }
    }
}

/// What is wrong, for callers that act on it; the message says it for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The text is not TOML.
    Syntax,
    /// A top-level table that the configuration does not have, or the wrong shape of one
    /// (`[peer]` for `[[peer]]`).
    UnknownSection,
    /// A key that the object does not have (often a misspelling).
    UnknownKey,
    /// A required key is absent.
    MissingKey,
    /// A value of the wrong type or outside its set or range.
    InvalidValue,
    /// Two objects with one name, or otherwise indistinguishable.
    Duplicate,
    /// A name that refers to no object (`proposal = "nope"`).
    UnknownReference,
    /// Settings that contradict each other or are missing for the chosen mode.
    Conflict,
}

/// A configuration error. Its `Display` is one line:
/// `site.toml:12: peer "office": key "dh-group": expected one of ..., got "modp9999"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file name given to the parser.
    pub file: String,
    /// Line (from 1) of the key, or of the object's header when the key is absent; `None`
    /// when the configuration did not come from text.
    pub line: Option<u32>,
    /// The object concerned, if any.
    pub object: Option<ObjectRef>,
    /// The key concerned, if any.
    pub key: Option<String>,
    /// What is wrong.
    pub kind: ErrorKind,
    /// What was expected, and what was found.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_location(
            f,
            &self.file,
            self.line,
            self.object.as_ref(),
            self.key.as_deref(),
        )?;
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A setting that is accepted but deserves the operator's attention: a weak algorithm,
/// aggressive mode with a pre-shared key, a setting that has no effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The file name given to the parser.
    pub file: String,
    /// Line of the setting (or of its object), when known.
    pub line: Option<u32>,
    /// The object concerned.
    pub object: Option<ObjectRef>,
    /// The setting concerned.
    pub key: Option<String>,
    /// Why it deserves attention.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_location(
            f,
            &self.file,
            self.line,
            self.object.as_ref(),
            self.key.as_deref(),
        )?;
        write!(f, "warning: {}", self.message)
    }
}

fn write_location(
    f: &mut fmt::Formatter<'_>,
    file: &str,
    line: Option<u32>,
    object: Option<&ObjectRef>,
    key: Option<&str>,
) -> fmt::Result {
    f.write_str(file)?;
    if let Some(line) = line {
        write!(f, ":{line}")?;
    }
    f.write_str(": ")?;
    if let Some(object) = object {
        write!(f, "{object}: ")?;
    }
    if let Some(key) = key {
        write!(f, "key {key:?}: ")?;
    }
    Ok(())
}
