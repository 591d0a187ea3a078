//! One thing wrong with a config, as every section reports it: each domain validates its own
//! section (`shelf::ShelfConfig::validate`, `ota::OtaConfig::validate`, …) and `config` gathers
//! the lists, so an installer sees every problem at once in one shape, `field path: reason`.

/// One thing wrong, located by its dotted field path (`cameras[0].zones[2].polygon`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl Problem {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
