//! From TOML text to a [`Config`], keeping where every key is so that later messages can
//! name its line.
//!
//! The text is parsed once into toml's spanned document ([`DeTable`]); each `[[table]]` is
//! then deserialized on its own, so that one broken object does not hide the errors of the
//! others, and a [`SourceMap`] remembers the header line of every object and the line of
//! every key.

use std::collections::HashMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::error::{ConfigError, ErrorKind, ObjectKind, ObjectRef};
use super::raw::Config;

/// Where the objects and keys of one file are.
#[derive(Debug, Default)]
pub(crate) struct SourceMap {
    line_starts: Vec<usize>,
    items: HashMap<ObjectKind, Vec<ItemSpans>>,
}

#[derive(Debug)]
struct ItemSpans {
    header: usize,
    name: Option<String>,
    keys: Vec<KeySpans>,
}

#[derive(Debug)]
struct KeySpans {
    key: String,
    key_span: Range<usize>,
    value_span: Range<usize>,
}

impl SourceMap {
    fn new(text: &str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceMap {
            line_starts,
            items: HashMap::new(),
        }
    }

    /// The line (from 1) holding byte `offset`.
    pub(crate) fn line(&self, offset: usize) -> u32 {
        let line = self.line_starts.partition_point(|&start| start <= offset);
        u32::try_from(line.max(1)).unwrap_or(u32::MAX)
    }

    fn item(&self, kind: ObjectKind, index: usize) -> Option<&ItemSpans> {
        self.items.get(&kind)?.get(index)
    }

    /// The line of `key` in object `index` of `kind`, or of the object's header when the key
    /// is not written.
    pub(crate) fn line_for(
        &self,
        kind: ObjectKind,
        index: usize,
        key: Option<&str>,
    ) -> Option<u32> {
        let item = self.item(kind, index)?;
        let at = key
            .and_then(|key| item.keys.iter().find(|k| k.key == key))
            .map_or(item.header, |k| k.key_span.start);
        Some(self.line(at))
    }

    /// Whether object `index` of `kind` writes `key` (`None`: no such object).
    pub(crate) fn has_key(&self, kind: ObjectKind, index: usize, key: &str) -> Option<bool> {
        Some(self.item(kind, index)?.keys.iter().any(|k| k.key == key))
    }

    /// The `name` written in object `index` of `kind`.
    pub(crate) fn name_of(&self, kind: ObjectKind, index: usize) -> Option<&str> {
        self.item(kind, index)?.name.as_deref()
    }

    /// The key whose name or value holds byte `offset`.
    fn key_at(&self, kind: ObjectKind, index: usize, offset: usize) -> Option<&str> {
        let item = self.item(kind, index)?;
        item.keys
            .iter()
            .find(|k| k.key_span.contains(&offset) || k.value_span.contains(&offset))
            .map(|k| k.key.as_str())
    }

    fn record(&mut self, kind: ObjectKind, item: &Spanned<DeValue<'_>>) {
        let mut spans = ItemSpans {
            header: item.span().start,
            name: None,
            keys: Vec::new(),
        };
        if let DeValue::Table(table) = item.get_ref() {
            for (key, value) in table.iter() {
                if key.get_ref() == "name" {
                    spans.name = value.get_ref().as_str().map(str::to_owned);
                }
                spans.keys.push(KeySpans {
                    key: key.get_ref().to_string(),
                    key_span: key.span(),
                    value_span: value.span(),
                });
            }
        }
        self.items.entry(kind).or_default().push(spans);
    }
}

/// The result of reading a file: the objects that could be read, where they came from, and
/// the errors of the others.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub config: Config,
    pub map: SourceMap,
    /// For each kind, the file index of each object in `config` (objects that failed are
    /// missing from `config`, so positions and file indices can differ).
    pub origins: HashMap<ObjectKind, Vec<usize>>,
    /// Names of objects that failed to deserialize: references to them are not reported
    /// again as unknown.
    pub failed_names: Vec<(ObjectKind, String)>,
    pub errors: Vec<ConfigError>,
}

/// Keys and their aliases (see the raw structs).
const ALIASES: &[(&str, &str)] = &[
    ("remote-id", "peer-id"),
    ("policy-group", "policy-template-group"),
];

const SECTIONS: &str = "peer, proposal, policy, policy-group, mode-config, user, ip-pool, daemon";

pub(crate) fn parse(text: &str, file: &str) -> Parsed {
    let mut parsed = Parsed {
        map: SourceMap::new(text),
        ..Parsed::default()
    };
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let line = e.span().map(|s| parsed.map.line(s.start));
            parsed.errors.push(ConfigError {
                file: file.to_owned(),
                line,
                object: None,
                key: None,
                kind: ErrorKind::Syntax,
                message: format!("invalid TOML: {}", e.message()),
            });
            return parsed;
        }
    };

    for (key, value) in doc.get_ref().iter() {
        let section = key.get_ref().as_ref();
        let top_error = |kind: ErrorKind, message: String| ConfigError {
            file: file.to_owned(),
            line: Some(parsed.map.line(key.span().start)),
            object: None,
            key: Some(section.to_owned()),
            kind,
            message,
        };
        let Some(kind) = ObjectKind::from_section(section) else {
            let e = top_error(
                ErrorKind::UnknownSection,
                format!("unknown table; expected one of {SECTIONS}"),
            );
            parsed.errors.push(e);
            continue;
        };
        if kind == ObjectKind::Daemon {
            if !value.get_ref().is_table() {
                let e = top_error(
                    ErrorKind::UnknownSection,
                    format!(
                        "expected one table [daemon], got {}",
                        describe(value.get_ref())
                    ),
                );
                parsed.errors.push(e);
                continue;
            }
            parsed.map.record(kind, value);
            match raw_item(value) {
                Ok(daemon) => parsed.config.daemon = daemon,
                Err(e) => {
                    let e = item_error(&parsed.map, file, kind, 0, e);
                    parsed.errors.push(e);
                }
            }
            continue;
        }
        let items = match value.get_ref() {
            DeValue::Array(items) if items.iter().all(|i| i.get_ref().is_table()) => items,
            other => {
                let e = top_error(
                    ErrorKind::UnknownSection,
                    format!(
                        "expected an array of tables [[{section}]], got {}",
                        describe(other)
                    ),
                );
                parsed.errors.push(e);
                continue;
            }
        };
        for (index, item) in items.iter().enumerate() {
            parsed.map.record(kind, item);
            let ok = match kind {
                ObjectKind::Peer => raw_item(item).map(|v| parsed.config.peer.push(v)),
                ObjectKind::Proposal => raw_item(item).map(|v| parsed.config.proposal.push(v)),
                ObjectKind::Policy => raw_item(item).map(|v| parsed.config.policy.push(v)),
                ObjectKind::PolicyGroup => {
                    raw_item(item).map(|v| parsed.config.policy_group.push(v))
                }
                ObjectKind::ModeConfig => raw_item(item).map(|v| parsed.config.mode_config.push(v)),
                ObjectKind::User => raw_item(item).map(|v| parsed.config.user.push(v)),
                ObjectKind::IpPool => raw_item(item).map(|v| parsed.config.ip_pool.push(v)),
                ObjectKind::Radius => raw_item(item).map(|v| parsed.config.radius.push(v)),
                ObjectKind::Daemon => unreachable!("handled above"),
            };
            match ok {
                Ok(()) => parsed.origins.entry(kind).or_default().push(index),
                Err(e) => {
                    if let Some(name) = parsed.map.name_of(kind, index) {
                        parsed.failed_names.push((kind, name.to_owned()));
                    }
                    let e = item_error(&parsed.map, file, kind, index, e);
                    parsed.errors.push(e);
                }
            }
        }
    }
    parsed
}

fn raw_item<'de, T: Deserialize<'de>>(item: &Spanned<DeValue<'de>>) -> Result<T, toml::de::Error> {
    T::deserialize(ValueDeserializer::from(item.clone()))
}

fn describe(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::Table(_) => "a single table",
        DeValue::Array(_) => "an array",
        other => other.type_str(),
    }
}

/// Turns serde's message for one object into ours: the key from the span, and
/// "unknown field"/"missing field" into the configuration's words.
fn item_error(
    map: &SourceMap,
    file: &str,
    kind: ObjectKind,
    index: usize,
    e: toml::de::Error,
) -> ConfigError {
    let offset = e.span().map(|s| s.start);
    let mut key = offset
        .and_then(|o| map.key_at(kind, index, o))
        .map(str::to_owned);
    let message = e.message().trim_end();
    let (error_kind, message) = if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, tail) = rest.split_once('`').unwrap_or((rest, ""));
        key = Some(name.to_owned());
        let expected = tail.trim_start_matches(',').trim().replace('`', "");
        (ErrorKind::UnknownKey, format!("unknown key; {expected}"))
    } else if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        key = Some(name.to_owned());
        (ErrorKind::MissingKey, "required key is missing".to_owned())
    } else if let Some(rest) = message.strip_prefix("duplicate field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        // The only way to repeat a key in valid TOML is an alias: point at the alias.
        let alias = ALIASES
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, a)| *a);
        key = Some(alias.unwrap_or(name).to_owned());
        let message = match alias {
            Some(alias) => {
                format!("{name:?} is given twice; expected {name} or its alias {alias}, not both")
            }
            None => format!("{name:?} is given twice; expected it once"),
        };
        (ErrorKind::Duplicate, message)
    } else {
        (ErrorKind::InvalidValue, serde_message(message))
    };
    let line = match offset {
        Some(o) if !matches!(error_kind, ErrorKind::MissingKey | ErrorKind::Duplicate) => {
            Some(map.line(o))
        }
        _ => map.line_for(kind, index, key.as_deref()),
    };
    ConfigError {
        file: file.to_owned(),
        line,
        object: Some(ObjectRef {
            kind,
            index,
            name: map.name_of(kind, index).map(str::to_owned),
        }),
        key,
        kind: error_kind,
        message,
    }
}

/// Rewrites serde's "invalid type: X, expected Y" and "invalid value: X, expected Y" into
/// the configuration's "expected Y, got X", with Rust type names in words.
fn serde_message(message: &str) -> String {
    let Some(rest) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
    else {
        return message.to_owned();
    };
    let Some((got, expected)) = rest.rsplit_once(", expected ") else {
        return message.to_owned();
    };
    let expected = match expected {
        "u8" => "an integer 0..255",
        "u16" => "an integer 0..65535",
        "u32" => "an integer 0..4294967295",
        "u64" => "an integer 0..18446744073709551615",
        "i32" => "an integer -2147483648..2147483647",
        "a boolean" => "true or false",
        other => other,
    };
    // serde writes `integer `5``, `string "yes"`, `boolean `true``.
    let got = if let Some(text) = got.strip_prefix("string ") {
        text.to_owned()
    } else if let Some((kind, value)) = got.split_once(" `") {
        format!("{kind} {}", value.trim_end_matches('`'))
    } else {
        got.to_owned()
    };
    format!("expected {expected}, got {got}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let map = SourceMap::new("a\nbc\n\nd");
        assert_eq!(map.line(0), 1);
        assert_eq!(map.line(1), 1);
        assert_eq!(map.line(2), 2);
        assert_eq!(map.line(5), 3);
        assert_eq!(map.line(6), 4);
    }
}
