//! One stored event and its on-disk encoding: a versioned fixed header, the topic suffix and the
//! payload bytes, so the publisher sends a record without parsing it again.

use thiserror::Error;

/// Which limit policy a record falls under: a full outbox gives up summaries before alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Alert,
    Summary,
}

impl Class {
    fn code(self) -> u8 {
        match self {
            Class::Alert => 1,
            Class::Summary => 2,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Class::Alert),
            2 => Some(Class::Summary),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Class::Alert => "alert",
            Class::Summary => "summary",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub class: Class,
    pub ts_ms: u64,
    /// Below the device's topic prefix, e.g. `summary/door` or `alert`.
    pub topic: String,
    /// The event as published (JSON).
    pub payload: Vec<u8>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("record is {0} bytes, shorter than its header")]
    Short(usize),
    #[error("unknown record format {0}")]
    Format(u8),
    #[error("unknown record class {0}")]
    Class(u8),
    #[error("topic is not UTF-8")]
    Topic,
}

const FORMAT: u8 = 1;
/// format, class, ts_ms, topic length.
const HEADER: usize = 1 + 1 + 8 + 2;

impl Record {
    pub fn key(seq: u64) -> [u8; 8] {
        seq.to_be_bytes()
    }

    pub fn seq_of(key: &[u8]) -> Option<u64> {
        Some(u64::from_be_bytes(key.try_into().ok()?))
    }

    pub fn encode(&self) -> Vec<u8> {
        let topic = self.topic.as_bytes();
        let topic_len = u16::try_from(topic.len()).unwrap_or(u16::MAX);
        let mut v = Vec::with_capacity(HEADER + topic.len() + self.payload.len());
        v.push(FORMAT);
        v.push(self.class.code());
        v.extend_from_slice(&self.ts_ms.to_be_bytes());
        v.extend_from_slice(&topic_len.to_be_bytes());
        v.extend_from_slice(&topic[..usize::from(topic_len)]);
        v.extend_from_slice(&self.payload);
        v
    }

    pub fn decode(seq: u64, bytes: &[u8]) -> Result<Self, RecordError> {
        if bytes.len() < HEADER {
            return Err(RecordError::Short(bytes.len()));
        }
        if bytes[0] != FORMAT {
            return Err(RecordError::Format(bytes[0]));
        }
        let class = Class::from_code(bytes[1]).ok_or(RecordError::Class(bytes[1]))?;
        let ts_ms = u64::from_be_bytes(
            bytes[2..10]
                .try_into()
                .map_err(|_| RecordError::Short(bytes.len()))?,
        );
        let topic_len = usize::from(u16::from_be_bytes([bytes[10], bytes[11]]));
        let rest = &bytes[HEADER..];
        if rest.len() < topic_len {
            return Err(RecordError::Short(bytes.len()));
        }
        let topic = std::str::from_utf8(&rest[..topic_len]).map_err(|_| RecordError::Topic)?;
        Ok(Record {
            seq,
            class,
            ts_ms,
            topic: topic.to_string(),
            payload: rest[topic_len..].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            seq: 42,
            class: Class::Alert,
            ts_ms: 1_700_000_000_000,
            topic: "alert".into(),
            payload: br#"{"x":1}"#.to_vec(),
        }
    }

    #[test]
    fn round_trips() {
        let r = sample();
        assert_eq!(Record::decode(42, &r.encode()), Ok(r));
        assert_eq!(Record::seq_of(&Record::key(42)), Some(42));
    }

    #[test]
    fn rejects_damaged_bytes_with_the_reason() {
        let mut bytes = sample().encode();
        assert_eq!(Record::decode(1, &bytes[..5]), Err(RecordError::Short(5)));
        bytes[1] = 9;
        assert_eq!(Record::decode(1, &bytes), Err(RecordError::Class(9)));
        bytes[0] = 7;
        assert_eq!(Record::decode(1, &bytes), Err(RecordError::Format(7)));
        let mut cut = sample().encode();
        cut[11] = 200;
        assert!(matches!(
            Record::decode(1, &cut),
            Err(RecordError::Short(_))
        ));
    }
}
