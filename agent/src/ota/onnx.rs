//! A read-only look inside an ONNX file before ONNX Runtime ever opens it: does any tensor keep
//! its data in another file (ONNX "external data", whose location is a path the runtime would
//! open — `../../etc/shadow` included), and what are the graph's input shapes. ONNX is protobuf;
//! this walks the wire format over the few messages that matter, with a depth limit, rather than
//! pulling in a protobuf code generator for two questions.

use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum OnnxError {
    #[error("not a valid ONNX protobuf: {0}")]
    Malformed(&'static str),
    #[error("tensor {tensor:?} keeps its data outside the model file ({location:?}): refused")]
    ExternalData { tensor: String, location: String },
    #[error("nested deeper than {0} levels")]
    TooDeep(usize),
}

/// What the checks need from a model.
#[derive(Debug, Default, PartialEq)]
pub struct OnnxSummary {
    /// Graph inputs: name and dimensions (`None` for a symbolic dimension).
    pub inputs: Vec<(String, Vec<Option<i64>>)>,
}

const MAX_DEPTH: usize = 32;

/// The protobuf messages walked, and the fields of each that lead to tensors or shapes.
#[derive(Clone, Copy)]
enum Msg {
    Model,
    Graph,
    Node,
    Attribute,
    Tensor,
    SparseTensor,
    Function,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, OnnxError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or(OnnxError::Malformed("truncated varint"))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(OnnxError::Malformed("varint too long"))
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], OnnxError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(OnnxError::Malformed("field runs past the end"))?;
        let b = &self.buf[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    /// The next field: number, and its payload for length-delimited fields or its value.
    fn field(&mut self) -> Result<Option<(u64, Field<'a>)>, OnnxError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => {
                self.bytes(8)?;
                Field::Fixed
            }
            2 => {
                let n = usize::try_from(self.varint()?)
                    .map_err(|_| OnnxError::Malformed("length too large"))?;
                Field::Bytes(self.bytes(n)?)
            }
            5 => {
                self.bytes(4)?;
                Field::Fixed
            }
            _ => return Err(OnnxError::Malformed("unsupported wire type")),
        };
        Ok(Some((key >> 3, field)))
    }
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// A 32- or 64-bit number: nothing checked here needs one.
    Fixed,
}

/// Reads the model's input shapes and refuses external data anywhere in it, including graphs
/// nested in node attributes and functions.
pub fn inspect(model: &[u8]) -> Result<OnnxSummary, OnnxError> {
    let mut summary = OnnxSummary::default();
    walk(model, Msg::Model, 0, &mut summary)?;
    Ok(summary)
}

fn walk(buf: &[u8], msg: Msg, depth: usize, out: &mut OnnxSummary) -> Result<(), OnnxError> {
    if depth > MAX_DEPTH {
        return Err(OnnxError::TooDeep(MAX_DEPTH));
    }
    let mut r = Reader { buf, pos: 0 };
    let (mut name, mut external, mut location, mut outside) = ("", false, String::new(), false);
    while let Some((number, field)) = r.field()? {
        let next = match (msg, number) {
            (Msg::Model, 7) | (Msg::Attribute, 6) | (Msg::Attribute, 11) => Some(Msg::Graph),
            (Msg::Model, 25) => Some(Msg::Function),
            (Msg::Graph, 1) | (Msg::Function, 7) => Some(Msg::Node),
            (Msg::Node, 5) => Some(Msg::Attribute),
            (Msg::Graph, 5) | (Msg::Attribute, 5) | (Msg::Attribute, 10) => Some(Msg::Tensor),
            (Msg::SparseTensor, 1) | (Msg::SparseTensor, 2) => Some(Msg::Tensor),
            (Msg::Graph, 15) | (Msg::Attribute, 22) | (Msg::Attribute, 23) => {
                Some(Msg::SparseTensor)
            }
            _ => None,
        };
        if let (Some(next), Field::Bytes(b)) = (next, &field) {
            walk(b, next, depth + 1, out)?;
            continue;
        }
        match (msg, number, field) {
            (Msg::Graph, 11, Field::Bytes(b)) if depth == 1 => out.inputs.push(value_info(b)?),
            (Msg::Tensor, 8, Field::Bytes(b)) => name = std::str::from_utf8(b).unwrap_or("?"),
            (Msg::Tensor, 14, Field::Varint(1)) => outside = true,
            (Msg::Tensor, 13, Field::Bytes(b)) => {
                external = true;
                let (key, value) = string_entry(b)?;
                if key == "location" {
                    location = value;
                }
            }
            _ => {}
        }
    }
    if outside || external {
        return Err(OnnxError::ExternalData {
            tensor: name.to_string(),
            location,
        });
    }
    Ok(())
}

fn string_entry(buf: &[u8]) -> Result<(String, String), OnnxError> {
    let mut r = Reader { buf, pos: 0 };
    let (mut key, mut value) = (String::new(), String::new());
    while let Some((number, field)) = r.field()? {
        if let Field::Bytes(b) = field {
            let s = String::from_utf8_lossy(b).into_owned();
            match number {
                1 => key = s,
                2 => value = s,
                _ => {}
            }
        }
    }
    Ok((key, value))
}

/// `ValueInfoProto` → (name, dims) through `TypeProto.tensor_type.shape.dim`.
fn value_info(buf: &[u8]) -> Result<(String, Vec<Option<i64>>), OnnxError> {
    let mut r = Reader { buf, pos: 0 };
    let (mut name, mut dims) = (String::new(), Vec::new());
    while let Some((number, field)) = r.field()? {
        match (number, field) {
            (1, Field::Bytes(b)) => name = String::from_utf8_lossy(b).into_owned(),
            (2, Field::Bytes(b)) => {
                // TypeProto.tensor_type (1) → Tensor.shape (2) → Shape.dim (1) → dim_value (1).
                for tensor in sub(b, 1)? {
                    for shape in sub(tensor, 2)? {
                        for dim in sub(shape, 1)? {
                            let mut d = Reader { buf: dim, pos: 0 };
                            let mut value = None;
                            while let Some((n, f)) = d.field()? {
                                if let (1, Field::Varint(v)) = (n, f) {
                                    value = Some(v as i64);
                                }
                            }
                            dims.push(value);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok((name, dims))
}

/// Every length-delimited field `number` of a message.
fn sub(buf: &[u8], number: u64) -> Result<Vec<&[u8]>, OnnxError> {
    let mut r = Reader { buf, pos: 0 };
    let mut found = Vec::new();
    while let Some((n, field)) = r.field()? {
        if let (true, Field::Bytes(b)) = (n == number, field) {
            found.push(b);
        }
    }
    Ok(found)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Protobuf encoding helpers for hand-made models.
    pub fn key(number: u64, wire: u64) -> Vec<u8> {
        varint(number << 3 | wire)
    }

    pub fn varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    pub fn bytes(number: u64, payload: &[u8]) -> Vec<u8> {
        [
            key(number, 2),
            varint(payload.len() as u64),
            payload.to_vec(),
        ]
        .concat()
    }

    /// A model whose graph has input `name` of `dims` and one initializer, optionally stored as
    /// external data at `location`.
    pub fn model(name: &str, dims: &[i64], external: Option<&str>) -> Vec<u8> {
        let dim_list: Vec<u8> = dims
            .iter()
            .flat_map(|&d| bytes(1, &[key(1, 0), varint(d as u64)].concat()))
            .collect();
        let shape = bytes(2, &dim_list);
        let tensor_type = bytes(1, &[key(1, 0), varint(1), shape].concat());
        let input = bytes(
            11,
            &[bytes(1, name.as_bytes()), bytes(2, &tensor_type)].concat(),
        );
        let mut tensor = bytes(8, b"weights");
        if let Some(loc) = external {
            let entry = [bytes(1, b"location"), bytes(2, loc.as_bytes())].concat();
            tensor.extend(bytes(13, &entry));
            tensor.extend([key(14, 0), varint(1)].concat());
        }
        let graph = [input, bytes(5, &tensor)].concat();
        [key(1, 0), varint(8), bytes(7, &graph)].concat()
    }

    #[test]
    fn input_shapes_are_read() {
        let s = inspect(&model("data", &[1, 3, 416, 416], None)).unwrap();
        assert_eq!(
            s.inputs,
            vec![(
                "data".to_string(),
                vec![Some(1), Some(3), Some(416), Some(416)]
            )]
        );
    }

    #[test]
    fn external_data_is_refused_with_its_location() {
        let err = inspect(&model("data", &[1, 3, 8, 8], Some("../../etc/shadow"))).unwrap_err();
        assert_eq!(
            err,
            OnnxError::ExternalData {
                tensor: "weights".into(),
                location: "../../etc/shadow".into()
            }
        );
    }

    #[test]
    fn truncated_and_hostile_input_is_an_error_not_a_panic() {
        let m = model("data", &[1, 3, 8, 8], None);
        for cut in 1..m.len() {
            let _ = inspect(&m[..cut]);
        }
        assert!(inspect(&m[..m.len() - 1]).is_err());
        // Graphs nested in attributes, deeper than the limit.
        let mut g = Vec::new();
        for _ in 0..40 {
            let attr = bytes(6, &g);
            let node = bytes(5, &attr);
            g = bytes(1, &node);
        }
        let deep = bytes(7, &g);
        assert_eq!(inspect(&deep).unwrap_err(), OnnxError::TooDeep(MAX_DEPTH));
    }

    #[test]
    fn the_bundled_model_has_no_external_data_and_its_declared_input() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models/nanodet-m-416/nanodet-m-416.onnx");
        let bytes = std::fs::read(&path).unwrap();
        let s = inspect(&bytes).unwrap();
        assert_eq!(s.inputs.len(), 1, "{:?}", s.inputs);
    }
}
