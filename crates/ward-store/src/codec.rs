//! Conversions between rows and domain values: times as Unix seconds, flags as 0/1, lists as
//! space-separated text.

use sqlx::any::AnyRow;
use sqlx::Row;
use ward_core::clock::Timestamp;
use ward_core::error::Cause;
use ward_core::StoreError;

pub(crate) fn get<'r, T>(row: &'r AnyRow, col: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(col)
        .map_err(|e| StoreError::Backend(Cause::context(format!("column {col}: {e}"), e)))
}

pub(crate) fn time(row: &AnyRow, col: &str) -> Result<Timestamp, StoreError> {
    get::<i64>(row, col).map(Timestamp)
}

pub(crate) fn opt_time(row: &AnyRow, col: &str) -> Result<Option<Timestamp>, StoreError> {
    get::<Option<i64>>(row, col).map(|t| t.map(Timestamp))
}

pub(crate) fn flag(row: &AnyRow, col: &str) -> Result<bool, StoreError> {
    get::<i64>(row, col).map(|v| v != 0)
}

pub(crate) fn list(row: &AnyRow, col: &str) -> Result<Vec<String>, StoreError> {
    get::<String>(row, col).map(|s| s.split_ascii_whitespace().map(str::to_string).collect())
}

pub(crate) fn join(items: &[String]) -> String {
    items.join(" ")
}
