//! Typed identifiers: a user's id and a session's id are different types, so one can no longer
//! be passed where the other is expected (decision 243).
//!
//! Both are written exactly as before (32 lowercase hex characters, see
//! [`crate::random::random_id`]); serde sees them as plain strings (`#[serde(transparent)]`), so
//! the database columns, the JSON on the wire and the OpenAPI document do not change. Only the
//! Rust types do: the store's methods take `&UserId` or `&SessionId`, and the compiler refuses a
//! session id handed to a method that wants a user id:
//!
//! ```compile_fail
//! use ward_core::{SessionId, UserId};
//! fn sessions_of_user(_user: &UserId) {}
//! let session = SessionId::from("0123");
//! sessions_of_user(&session); // expected `&UserId`, found `&SessionId`
//! ```
//!
//! ```
//! use ward_core::{SessionId, UserId};
//! fn sessions_of_user(_user: &UserId) {}
//! sessions_of_user(&UserId::from("0123"));
//! assert_eq!(SessionId::from("0123").as_str(), "0123");
//! ```

use std::borrow::Borrow;
use std::fmt;

use crate::random::{random_id, Random};

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new random id (128 bits, lowercase hex: the form ward has always written).
            pub fn random(random: &dyn Random) -> Self {
                $name(random_id(random))
            }

            /// The id as written in the database and on the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        /// Any text read back from the database or a request: ids are opaque, so every string
        /// is a (possibly unknown) id and a lookup answers "no such …".
        impl From<String> for $name {
            fn from(id: String) -> Self {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.to_string())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

string_id! {
    /// The id of a user ([`crate::model::User::id`]): what sessions, tokens, factors and audit
    /// events point at. Not a [`SessionId`]: a method that takes a `&UserId` does not accept a
    /// session's id by mistake.
    UserId
}

string_id! {
    /// The id of a session ([`crate::model::Session::id`]), what revocation, `sid` claims and
    /// lock tickets name. Not a [`UserId`]: a method that takes a `&SessionId` does not accept
    /// a user's id by mistake.
    SessionId
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counting;
    impl Random for Counting {
        fn fill(&self, buf: &mut [u8]) {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = u8::try_from(i).unwrap_or(0);
            }
        }
    }

    #[test]
    fn ids_are_written_as_before() {
        let user = UserId::random(&Counting);
        assert_eq!(user.as_str(), random_id(&Counting));
        assert_eq!(user.as_str(), "000102030405060708090a0b0c0d0e0f");
        assert_eq!(user.to_string(), user.as_str());
        let session = SessionId::random(&Counting);
        assert_eq!(session.as_str(), user.as_str());
    }

    #[test]
    fn ids_are_plain_strings_in_json() {
        let id = SessionId::from("abc");
        let json = serde_json::to_string(&id).unwrap_or_default();
        assert_eq!(json, "\"abc\"");
        let back: UserId = serde_json::from_str("\"abc\"").unwrap_or_else(|_| UserId::from(""));
        assert_eq!(back, "abc");
    }
}
