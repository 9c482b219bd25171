//! `str_enum!`: a fieldless enum whose variants each have one stable name, with the `ALL`,
//! `as_str` and `Display` that go with it, and optionally a `FromStr` that reads the names back.
//!
//! Kinds, states and methods are named in logs, in the store, in notice keys and on the command
//! line; writing each name once, next to its variant, keeps those spellings from drifting apart.
//! Serde keeps its own `#[serde(rename_all = …)]` on the enum, which the names follow.
//!
//! ```text
//! str_enum! {
//!     /// The kinds of notice.
//!     #[derive(Debug, Clone, Copy, PartialEq, Eq)]
//!     pub enum NoticeKind {
//!         Announcement => "announcement",
//!         Reminder => "reminder",
//!     }
//!     from_str: "notice kind";
//! }
//! ```
//!
//! The `from_str:` line is optional. With it, `FromStr` accepts exactly the names `as_str` gives
//! and refuses anything else with `unknown <what> "<text>"`; an enum that reads its names more
//! leniently leaves the line out and implements `FromStr` itself.

macro_rules! str_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)?
        }
        $(from_str: $what:literal;)?
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: [$name; [$(stringify!($variant)),+].len()] = [$($name::$variant),+];

            /// The stable name, as logs, the store and the command line write it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        $(
            impl ::std::str::FromStr for $name {
                type Err = String;

                fn from_str(s: &str) -> Result<$name, String> {
                    $name::ALL
                        .into_iter()
                        .find(|v| v.as_str() == s)
                        .ok_or_else(|| format!("unknown {} {s:?}", $what))
                }
            }
        )?
    };
}

pub(crate) use str_enum;

#[cfg(test)]
mod tests {
    str_enum! {
        /// Two fruits, read back exactly.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Fruit {
            /// The first.
            Apple => "apple",
            BloodOrange => "blood-orange",
        }
        from_str: "fruit";
    }

    str_enum! {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Unread {
            Only => "only",
        }
    }

    #[test]
    fn names_go_out_and_read_back() {
        assert_eq!(Fruit::ALL, [Fruit::Apple, Fruit::BloodOrange]);
        for f in Fruit::ALL {
            assert_eq!(f.to_string(), f.as_str());
            assert_eq!(f.as_str().parse(), Ok(f));
        }
        assert_eq!(Fruit::BloodOrange.as_str(), "blood-orange");
        assert_eq!(
            "Apple".parse::<Fruit>(),
            Err("unknown fruit \"Apple\"".to_string())
        );
        assert_eq!(Unread::ALL.map(Unread::as_str), ["only"]);
        assert_eq!(Unread::Only.to_string(), "only");
    }
}
