//! How ward's columns hold domain values: times as Unix seconds, flags as 0/1, lists as
//! space-separated text. Each is a column type that decodes itself, so the row structs of every
//! module (`#[derive(sqlx::FromRow)]`) read a row declaratively, `Option<Time>` for a nullable
//! time included; the row → domain conversion is then a plain `From`/`TryFrom`.

use sqlx::any::{AnyTypeInfo, AnyValueRef};
use sqlx::error::BoxDynError;
use sqlx::{Any, Decode, Type};
use ward_core::clock::Timestamp;
use ward_core::error::Cause;
use ward_core::StoreError;

/// Declares a column type `$name($inner)` stored as `$raw` and read through `$from`.
macro_rules! column {
    ($(#[$doc:meta])* $name:ident($inner:ty) as $raw:ty, $from:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub(crate) struct $name(pub $inner);

        impl Type<Any> for $name {
            fn type_info() -> AnyTypeInfo {
                <$raw as Type<Any>>::type_info()
            }
            fn compatible(ty: &AnyTypeInfo) -> bool {
                <$raw as Type<Any>>::compatible(ty)
            }
        }

        impl<'r> Decode<'r, Any> for $name {
            fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
                let raw = <$raw as Decode<'r, Any>>::decode(value)?;
                let from: fn($raw) -> $inner = $from;
                Ok($name(from(raw)))
            }
        }
    };
}

column!(
    /// A time: Unix seconds.
    Time(Timestamp) as i64, Timestamp
);
column!(
    /// A flag: 0 or 1 (any non-zero reads as set).
    Flag(bool) as i64, |v| v != 0
);
column!(
    /// A list: its items separated by spaces.
    Words(Vec<String>) as String,
    |s| s.split_ascii_whitespace().map(str::to_string).collect()
);

impl From<Time> for Timestamp {
    fn from(t: Time) -> Self {
        t.0
    }
}

/// `Option<Time>` → `Option<Timestamp>`.
pub(crate) fn opt(t: Option<Time>) -> Option<Timestamp> {
    t.map(|t| t.0)
}

/// A stored value that no domain value matches (an unknown enum name, say): the database holds
/// something this version of ward never writes.
pub(crate) fn unknown(what: &str, value: &str) -> StoreError {
    StoreError::Backend(Cause::from(format!("unknown {what} {value:?}")))
}

pub(crate) fn join(items: &[String]) -> String {
    items.join(" ")
}
