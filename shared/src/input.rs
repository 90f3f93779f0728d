//! Inputs: what a player sends in `input`, declared once as a struct the server checks and
//! clients are typed from.
//!
//! A game's input type derives [`Input`] (with serde's `Serialize` and `Deserialize`) and
//! declares its bounds where its fields are declared:
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use tickroom_shared::input::Input;
//!
//! #[derive(Debug, Clone, Default, Serialize, Deserialize, Input)]
//! #[serde(deny_unknown_fields)]
//! pub struct Steer {
//!     /// Where to go.
//!     #[input(range = -1.0..=1.0)]
//!     pub dir: [f32; 2],
//!     /// Buttons held.
//!     #[serde(default)]
//!     #[input(bits = 0b11)]
//!     pub buttons: u8,
//! }
//!
//! assert!(Steer { dir: [1.0, -0.5], buttons: 3 }.check().is_ok());
//! assert!(Steer { dir: [f32::NAN, 0.0], buttons: 0 }.check().is_err());
//! assert!(Steer { dir: [0.0, 0.0], buttons: 4 }.check().is_err());
//! assert_eq!(Steer::schema().typescript_interface().lines().next(),
//!            Some("export interface Steer {"));
//! ```
//!
//! What the engine checks for every input before the game's own `validate`:
//! - every float in it is finite (no NaN, no infinity), declared or not;
//! - `#[input(range = LO..=HI)]`: each number of the field (of an array, list or option
//!   too) is within `LO..=HI`, compared in the field's own type;
//! - `#[input(bits = MASK)]`: an unsigned integer has no bit outside `MASK`;
//! - `#[input(max_len = N)]`: a string has at most `N` bytes, a list at most `N` items;
//! - fields whose type also derives `Input` are checked the same way.
//!
//! A bound that does not fit its field is a compile error (`bits` on a float):
//!
//! ```compile_fail
//! # use serde::{Deserialize, Serialize};
//! # use tickroom_shared::input::Input;
//! #[derive(Debug, Clone, Default, Serialize, Deserialize, Input)]
//! struct Aim {
//!     #[input(bits = 1)]
//!     angle: f32,
//! }
//! ```
//!
//! and so is a serde attribute that would make the wire differ from the schema:
//!
//! ```compile_fail
//! # use serde::{Deserialize, Serialize};
//! # use tickroom_shared::input::Input;
//! #[derive(Debug, Clone, Default, Serialize, Deserialize, Input)]
//! #[serde(rename_all = "camelCase")]
//! struct Aim {
//!     angle_deg: f32,
//! }
//! ```
//!
//! [`Input::schema`] describes the same thing as data: the server prints it as TypeScript
//! (`tickroom-server input-types`) and the TypeScript client checks inputs against it before
//! sending them, so a game's input type is written once.

use std::borrow::Cow;

use serde::{Serialize, de::DeserializeOwned};

pub use tickroom_derive::Input;

/// An input a game refused, or that broke its declared bounds; `reason` is logged and sent
/// as the `invalid_input` error's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid input: {reason}")]
pub struct InvalidInput {
    /// Why, for people: `"dir: numbers must be within -1..=1"`.
    pub reason: Cow<'static, str>,
}

impl InvalidInput {
    /// A refusal for `reason`.
    pub fn new(reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    /// A field's numbers are not all finite (what the derive's check says).
    pub fn not_finite(field: &str) -> Self {
        Self::new(format!("{field}: numbers must be finite"))
    }

    /// A field's numbers are not all within `lo..=hi`.
    pub fn out_of_range(field: &str, lo: f64, hi: f64) -> Self {
        Self::new(format!("{field}: numbers must be within {lo}..={hi}"))
    }

    /// A field has bits outside `mask`.
    pub fn unknown_bits(field: &str, mask: u64) -> Self {
        Self::new(format!("{field}: only bits {mask:#b} may be set"))
    }

    /// A field's string or list is longer than `n` (bytes or items).
    pub fn too_long(field: &str, n: u32) -> Self {
        Self::new(format!("{field}: longer than {n}"))
    }
}

/// A game's input: a struct with named fields, sent as a msgpack map. Derive it with
/// `#[derive(Input)]`; see the [module](self) for the attributes.
pub trait Input: Serialize + DeserializeOwned + Default + Clone + Send + Sync + 'static {
    /// The input's fields, their types and declared bounds.
    fn schema() -> InputSchema;

    /// Checks a decoded input against its declared bounds (and finite floats).
    fn check(&self) -> Result<(), InvalidInput>;
}

/// The shape of an input type, for clients: its fields in declaration order.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputSchema {
    /// The Rust type's name (the TypeScript interface's).
    pub name: String,
    /// Whether a key that is not a field is refused (`#[serde(deny_unknown_fields)]`);
    /// otherwise it is ignored.
    pub deny_unknown_fields: bool,
    /// The fields, in declaration order.
    pub fields: Vec<InputField>,
}

/// One field of an [`InputSchema`].
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputField {
    /// The key on the wire.
    pub name: String,
    /// Whether the key may be left out (`#[serde(default)]`, or an `Option`).
    pub optional: bool,
    /// The field's documentation, from its doc comment.
    pub doc: String,
    /// What its value must be.
    #[serde(rename = "type")]
    pub ty: InputType,
}

/// The type of an input field's value, with its bounds.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InputType {
    /// A number.
    Number {
        /// The Rust type (`f32`, `u8`, ...): a value is rounded to it before it is compared.
        number: NumberType,
        /// The smallest value allowed (the type's own for an integer; none for a float
        /// without a declared range).
        min: Option<f64>,
        /// The largest value allowed, likewise.
        max: Option<f64>,
        /// For an unsigned integer with `bits`: the only bits it may have.
        bits: Option<u64>,
    },
    /// `true` or `false`.
    Bool,
    /// A UTF-8 string of at most `max_len` bytes.
    String {
        /// The longest allowed, in bytes.
        max_len: Option<u32>,
    },
    /// An array of exactly `len` items.
    Array {
        /// The items' type.
        of: Box<InputType>,
        /// How many.
        len: u32,
    },
    /// An array of at most `max_len` items.
    List {
        /// The items' type.
        of: Box<InputType>,
        /// The most allowed.
        max_len: Option<u32>,
    },
    /// The value or nil.
    Option {
        /// The value's type.
        of: Box<InputType>,
    },
    /// A nested map: another type that derives [`Input`].
    Object {
        /// Its schema.
        schema: InputSchema,
    },
}

/// The Rust number types an input may hold.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum NumberType {
    F32,
    F64,
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
}

impl InputType {
    /// Narrows every number inside to `min..=max` (the derive's `range`).
    pub fn with_range(self, lo: f64, hi: f64) -> Self {
        self.map_numbers(&|ty| match ty {
            InputType::Number {
                number,
                min,
                max,
                bits,
            } => InputType::Number {
                number,
                min: Some(min.map_or(lo, |m| m.max(lo))),
                max: Some(max.map_or(hi, |m| m.min(hi))),
                bits,
            },
            other => other,
        })
    }

    /// Allows only the bits of `mask` in every number inside (the derive's `bits`).
    pub fn with_bits(self, mask: u64) -> Self {
        self.map_numbers(&|ty| match ty {
            InputType::Number {
                number, min, max, ..
            } => InputType::Number {
                number,
                min,
                max,
                bits: Some(mask),
            },
            other => other,
        })
    }

    /// Bounds the length of the string or list, inside an option too (the derive's
    /// `max_len`).
    pub fn with_max_len(self, n: u32) -> Self {
        match self {
            InputType::String { .. } => InputType::String { max_len: Some(n) },
            InputType::List { of, .. } => InputType::List {
                of,
                max_len: Some(n),
            },
            InputType::Option { of } => InputType::Option {
                of: Box::new(of.with_max_len(n)),
            },
            other => other,
        }
    }

    fn map_numbers(self, f: &dyn Fn(InputType) -> InputType) -> Self {
        match self {
            n @ InputType::Number { .. } => f(n),
            InputType::Array { of, len } => InputType::Array {
                of: Box::new(of.map_numbers(f)),
                len,
            },
            InputType::List { of, max_len } => InputType::List {
                of: Box::new(of.map_numbers(f)),
                max_len,
            },
            InputType::Option { of } => InputType::Option {
                of: Box::new(of.map_numbers(f)),
            },
            other => other,
        }
    }

    /// The TypeScript type of a value.
    fn typescript(&self) -> String {
        match self {
            InputType::Number { .. } => "number".into(),
            InputType::Bool => "boolean".into(),
            InputType::String { .. } => "string".into(),
            InputType::Array { of, len } => {
                let item = of.typescript();
                let items = vec![item; *len as usize];
                format!("[{}]", items.join(", "))
            }
            InputType::List { of, .. } => match **of {
                InputType::Option { .. } => format!("({})[]", of.typescript()),
                _ => format!("{}[]", of.typescript()),
            },
            InputType::Option { of } => format!("{} | null", of.typescript()),
            InputType::Object { schema } => schema.name.clone(),
        }
    }

    /// What the bounds say, for a doc comment: `""` when nothing beyond the type.
    fn bounds(&self) -> String {
        match self {
            InputType::Number {
                number,
                min,
                max,
                bits,
            } => {
                let mut out = format!("{number:?}").to_lowercase();
                if let (Some(lo), Some(hi)) = (min, max) {
                    out += &format!(" in {lo}..={hi}");
                } else if matches!(number, NumberType::F32 | NumberType::F64) {
                    out += ", finite";
                }
                if let Some(b) = bits {
                    out += &format!(", bits {b:#b} only");
                }
                out
            }
            InputType::String { max_len: Some(n) } => format!("at most {n} bytes"),
            InputType::List {
                of,
                max_len: Some(n),
            } => join_bounds(format!("at most {n} items"), of.bounds()),
            InputType::List { of, .. } | InputType::Array { of, .. } => {
                join_bounds(String::new(), of.bounds())
            }
            InputType::Option { of } => of.bounds(),
            _ => String::new(),
        }
    }

    /// Nested input types used by this one, in order of first use.
    fn objects<'a>(&'a self, out: &mut Vec<&'a InputSchema>) {
        match self {
            InputType::Array { of, .. } | InputType::List { of, .. } | InputType::Option { of } => {
                of.objects(out)
            }
            InputType::Object { schema } => schema.objects(out),
            _ => {}
        }
    }
}

fn join_bounds(a: String, b: String) -> String {
    match (a.is_empty(), b.is_empty()) {
        (_, true) => a,
        (true, false) => format!("each {b}"),
        (false, false) => format!("{a}, each {b}"),
    }
}

impl InputSchema {
    /// This type and every nested input type, once each, nested ones first.
    fn objects<'a>(&'a self, out: &mut Vec<&'a InputSchema>) {
        for f in &self.fields {
            f.ty.objects(out);
        }
        if !out.contains(&self) {
            out.push(self);
        }
    }

    /// The TypeScript interface of this type alone (nested input types are named, not
    /// declared: see [`typescript_module`]).
    pub fn typescript_interface(&self) -> String {
        let mut out = format!("export interface {} {{\n", self.name);
        for f in &self.fields {
            let bounds = f.ty.bounds();
            let doc = match (f.doc.is_empty(), bounds.is_empty()) {
                (true, true) => String::new(),
                (false, true) => f.doc.clone(),
                (true, false) => format!("({bounds})"),
                (false, false) => format!("{} ({bounds})", f.doc),
            };
            if !doc.is_empty() {
                out += &format!("  /** {} */\n", doc.replace("*/", "* /"));
            }
            let opt = if f.optional { "?" } else { "" };
            out += &format!("  {}{opt}: {};\n", ts_key(&f.name), f.ty.typescript());
        }
        out += "}\n";
        out
    }
}

/// A property name as TypeScript needs it: bare when it is an identifier, quoted otherwise.
fn ts_key(name: &str) -> String {
    let ident = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if ident {
        name.to_owned()
    } else {
        format!("{name:?}")
    }
}

/// A TypeScript module declaring each game's input: an interface per input type (and per
/// nested one), and `INPUTS`, each game's schema by name ([`schemas_json`]), for
/// `@tickroom/client`'s `checkInput` and the `inputSchema` option. `games` is
/// `(game name, schema)` pairs. Two different input types of one name are refused:
/// TypeScript would see one.
pub fn typescript_module(games: &[(&str, &InputSchema)]) -> Result<String, String> {
    let mut out = String::from(
        "// Generated from the games' input types (`#[derive(Input)]`) by `input-types`.\n\
         // Do not edit: generate it again when an input type changes.\n\n\
         import type { InputSchema } from \"@tickroom/client\";\n\n",
    );
    // Each distinct schema once, nested ones first.
    let mut declared: Vec<&InputSchema> = Vec::new();
    for (_, schema) in games {
        schema.objects(&mut declared);
    }
    for (i, s) in declared.iter().enumerate() {
        if declared[..i].iter().any(|d| d.name == s.name) {
            return Err(format!(
                "two different input types are named `{}`: rename one",
                s.name
            ));
        }
        out += &s.typescript_interface();
        out += "\n";
    }
    out += "/** Each game's input type by game name. */\nexport interface Inputs {\n";
    for (game, schema) in games {
        out += &format!("  {}: {};\n", ts_key(game), schema.name);
    }
    out += "}\n\n/** Each game's input schema by game name. */\nexport const INPUTS: { [G in keyof Inputs]: InputSchema } = ";
    out += &schemas_json(games);
    out += ";\n";
    Ok(out)
}

/// Each game's schema by game name, as a JSON object (what `input-types --json` prints).
pub fn schemas_json(games: &[(&str, &InputSchema)]) -> String {
    let map: std::collections::BTreeMap<&str, &InputSchema> = games.iter().copied().collect();
    serde_json::to_string_pretty(&map).expect("schemas serialize")
}

/// A type an input field may have. Implemented for the number types, `bool`, `String`,
/// `Arc<str>`, `Box<str>`, arrays, `Vec`, `Option`, and every `#[derive(Input)]` type.
pub trait InputValue {
    /// What the value must be, before any declared bound.
    fn describe() -> InputType;

    /// Whether every float inside is finite.
    fn finite(&self) -> bool {
        true
    }

    /// The bounds of the input types nested inside.
    fn check_nested(&self) -> Result<(), InvalidInput> {
        Ok(())
    }
}

/// A number type an input may hold.
pub trait Number: Copy + PartialOrd {
    /// The number as the schema writes it.
    fn to_f64(self) -> f64;
}

/// An unsigned integer type: what `#[input(bits = MASK)]` applies to.
pub trait Unsigned: Number {
    /// Whether it has only bits of `mask`.
    fn only(self, mask: Self) -> bool;

    /// The number as the schema writes a mask.
    fn to_u64(self) -> u64;
}

/// The numbers inside a value, which `#[input(range = LO..=HI)]` (bounds written in the
/// number's own type) and `#[input(bits = MASK)]` apply to: a number, or arrays, lists and
/// options of them.
pub trait Numbers {
    /// The number type inside.
    type Num: Number;

    /// Whether `test` holds for every number inside (true for none).
    fn all(&self, test: impl FnMut(Self::Num) -> bool) -> bool;
}

/// A value `#[input(max_len = N)]` applies to: a string (bytes) or a list (items), or an
/// option of one.
pub trait Length {
    /// Whether it has at most `n` bytes or items.
    fn at_most(&self, n: usize) -> bool;
}

macro_rules! numbers {
    ($($t:ty => $n:ident, $min:expr, $max:expr, $finite:expr;)*) => {$(
        impl InputValue for $t {
            fn describe() -> InputType {
                InputType::Number { number: NumberType::$n, min: $min, max: $max, bits: None }
            }
            fn finite(&self) -> bool {
                #[allow(clippy::redundant_closure_call)]
                ($finite)(*self)
            }
        }
        impl Number for $t {
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
        impl Numbers for $t {
            type Num = $t;
            fn all(&self, mut test: impl FnMut($t) -> bool) -> bool {
                test(*self)
            }
        }
    )*};
}

numbers! {
    f32 => F32, None, None, |v: f32| v.is_finite();
    f64 => F64, None, None, |v: f64| v.is_finite();
    u8 => U8, Some(0.0), Some(u8::MAX as f64), |_| true;
    u16 => U16, Some(0.0), Some(u16::MAX as f64), |_| true;
    u32 => U32, Some(0.0), Some(u32::MAX as f64), |_| true;
    u64 => U64, Some(0.0), Some(u64::MAX as f64), |_| true;
    i8 => I8, Some(i8::MIN as f64), Some(i8::MAX as f64), |_| true;
    i16 => I16, Some(i16::MIN as f64), Some(i16::MAX as f64), |_| true;
    i32 => I32, Some(i32::MIN as f64), Some(i32::MAX as f64), |_| true;
    i64 => I64, Some(i64::MIN as f64), Some(i64::MAX as f64), |_| true;
}

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl Unsigned for $t {
            fn only(self, mask: $t) -> bool {
                self & !mask == 0
            }
            fn to_u64(self) -> u64 {
                self.into()
            }
        }
    )*};
}

unsigned!(u8, u16, u32, u64);

impl InputValue for bool {
    fn describe() -> InputType {
        InputType::Bool
    }
}

macro_rules! strings {
    ($($t:ty),*) => {$(
        impl InputValue for $t {
            fn describe() -> InputType {
                InputType::String { max_len: None }
            }
        }
        impl Length for $t {
            fn at_most(&self, n: usize) -> bool {
                self.len() <= n
            }
        }
    )*};
}

strings!(String, std::sync::Arc<str>, Box<str>);

impl<T: InputValue, const N: usize> InputValue for [T; N] {
    fn describe() -> InputType {
        InputType::Array {
            of: Box::new(T::describe()),
            len: N as u32,
        }
    }
    fn finite(&self) -> bool {
        self.iter().all(T::finite)
    }
    fn check_nested(&self) -> Result<(), InvalidInput> {
        self.iter().try_for_each(T::check_nested)
    }
}

impl<T: InputValue> InputValue for Vec<T> {
    fn describe() -> InputType {
        InputType::List {
            of: Box::new(T::describe()),
            max_len: None,
        }
    }
    fn finite(&self) -> bool {
        self.iter().all(T::finite)
    }
    fn check_nested(&self) -> Result<(), InvalidInput> {
        self.iter().try_for_each(T::check_nested)
    }
}

impl<T: InputValue> InputValue for Option<T> {
    fn describe() -> InputType {
        InputType::Option {
            of: Box::new(T::describe()),
        }
    }
    fn finite(&self) -> bool {
        self.as_ref().is_none_or(T::finite)
    }
    fn check_nested(&self) -> Result<(), InvalidInput> {
        self.as_ref().map_or(Ok(()), T::check_nested)
    }
}

impl<T: Numbers, const N: usize> Numbers for [T; N] {
    type Num = T::Num;
    fn all(&self, mut test: impl FnMut(T::Num) -> bool) -> bool {
        self.iter().all(|v| v.all(&mut test))
    }
}

impl<T: Numbers> Numbers for Vec<T> {
    type Num = T::Num;
    fn all(&self, mut test: impl FnMut(T::Num) -> bool) -> bool {
        self.iter().all(|v| v.all(&mut test))
    }
}

impl<T: Numbers> Numbers for Option<T> {
    type Num = T::Num;
    fn all(&self, test: impl FnMut(T::Num) -> bool) -> bool {
        self.as_ref().is_none_or(|v| v.all(test))
    }
}

impl<T> Length for Vec<T> {
    fn at_most(&self, n: usize) -> bool {
        self.len() <= n
    }
}

impl<T: Length> Length for Option<T> {
    fn at_most(&self, n: usize) -> bool {
        self.as_ref().is_none_or(|v| v.at_most(n))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Input)]
    struct Aim {
        /// Degrees.
        #[input(range = 0..=359)]
        angle: u16,
        zoom: f64,
    }

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Input)]
    #[serde(deny_unknown_fields)]
    struct Every {
        #[input(range = -1.0..=1.0)]
        dir: [f32; 2],
        #[serde(default)]
        #[input(bits = 0b101)]
        buttons: u8,
        #[serde(rename = "say")]
        #[input(max_len = 4)]
        chat: Option<String>,
        #[serde(default)]
        #[input(max_len = 2)]
        aims: Vec<Aim>,
        #[serde(default)]
        name: Arc<str>,
        #[serde(default)]
        #[input(range = -5..=5)]
        steps: Vec<i8>,
    }

    fn ok() -> Every {
        Every {
            dir: [0.5, -1.0],
            buttons: 0b100,
            chat: Some("gg".into()),
            aims: vec![Aim {
                angle: 90,
                zoom: 2.0,
            }],
            name: "a".into(),
            steps: vec![-5, 5],
        }
    }

    fn reason(e: Every) -> String {
        e.check().unwrap_err().reason.into_owned()
    }

    #[test]
    fn declared_bounds_are_checked_field_by_field() {
        assert_eq!(ok().check(), Ok(()));
        let nan = Every {
            dir: [f32::NAN, 0.0],
            ..ok()
        };
        assert_eq!(reason(nan), "dir: numbers must be finite");
        let far = Every {
            dir: [0.0, 1.5],
            ..ok()
        };
        assert_eq!(reason(far), "dir: numbers must be within -1..=1");
        let bits = Every {
            buttons: 0b10,
            ..ok()
        };
        assert_eq!(reason(bits), "buttons: only bits 0b101 may be set");
        let long = Every {
            chat: Some("hello".into()),
            ..ok()
        };
        assert_eq!(reason(long), "say: longer than 4");
        let many = Every {
            aims: vec![Aim::default(); 3],
            ..ok()
        };
        assert_eq!(reason(many), "aims: longer than 2");
        let nested = Every {
            aims: vec![Aim {
                angle: 360,
                zoom: 1.0,
            }],
            ..ok()
        };
        assert_eq!(reason(nested), "angle: numbers must be within 0..=359");
        let nested_nan = Every {
            aims: vec![Aim {
                angle: 0,
                zoom: f64::INFINITY,
            }],
            ..ok()
        };
        assert_eq!(reason(nested_nan), "zoom: numbers must be finite");
        let step = Every {
            steps: vec![6],
            ..ok()
        };
        assert_eq!(reason(step), "steps: numbers must be within -5..=5");
        assert_eq!(Every { chat: None, ..ok() }.check(), Ok(()));
    }

    #[test]
    fn the_schema_says_what_the_check_does() {
        let s = Every::schema();
        assert_eq!(s.name, "Every");
        assert!(s.deny_unknown_fields);
        let names: Vec<&str> = s.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["dir", "buttons", "say", "aims", "name", "steps"]);
        let optional: Vec<bool> = s.fields.iter().map(|f| f.optional).collect();
        assert_eq!(optional, [false, true, true, true, true, true]);
        assert_eq!(
            s.fields[0].ty,
            InputType::Array {
                of: Box::new(InputType::Number {
                    number: NumberType::F32,
                    min: Some(-1.0),
                    max: Some(1.0),
                    bits: None
                }),
                len: 2
            }
        );
        assert_eq!(
            s.fields[1].ty,
            InputType::Number {
                number: NumberType::U8,
                min: Some(0.0),
                max: Some(255.0),
                bits: Some(0b101)
            }
        );
        assert_eq!(
            s.fields[2].ty,
            InputType::Option {
                of: Box::new(InputType::String { max_len: Some(4) })
            }
        );
        let InputType::List { of, max_len } = &s.fields[3].ty else {
            panic!("aims is a list: {:?}", s.fields[3].ty);
        };
        assert_eq!(*max_len, Some(2));
        assert_eq!(
            **of,
            InputType::Object {
                schema: Aim::schema()
            }
        );
        assert_eq!(Aim::schema().fields[0].doc, "Degrees.");
        let InputType::List { of, .. } = &s.fields[5].ty else {
            panic!("steps is a list");
        };
        assert_eq!(
            **of,
            InputType::Number {
                number: NumberType::I8,
                min: Some(-5.0),
                max: Some(5.0),
                bits: None
            }
        );
    }

    #[test]
    fn typescript_declares_nested_types_first_and_each_once() {
        let ts = typescript_module(&[("a", &Every::schema()), ("b", &Aim::schema())]).unwrap();
        let aim = ts.find("export interface Aim {").unwrap();
        let every = ts.find("export interface Every {").unwrap();
        assert!(aim < every, "{ts}");
        assert_eq!(ts.matches("export interface Aim {").count(), 1);
        assert!(ts.contains("  dir: [number, number];\n"), "{ts}");
        assert!(ts.contains("  say?: string | null;\n"), "{ts}");
        assert!(ts.contains("  aims?: Aim[];\n"), "{ts}");
        assert!(ts.contains("  /** Degrees. (u16 in 0..=359) */\n"), "{ts}");
        assert!(ts.contains("  a: Every;\n  b: Aim;\n"), "{ts}");
    }

    #[test]
    fn two_input_types_of_one_name_are_refused() {
        mod other {
            use serde::{Deserialize, Serialize};
            #[derive(Debug, Clone, Default, Serialize, Deserialize, crate::input::Input)]
            pub struct Aim {
                pub x: f32,
            }
        }
        let err =
            typescript_module(&[("a", &Aim::schema()), ("b", &other::Aim::schema())]).unwrap_err();
        assert!(err.contains("`Aim`"), "{err}");
    }
}
