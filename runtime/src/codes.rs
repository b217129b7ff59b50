//! The code enums: one macro makes every `#[repr(u8)]` code the machine shares with images,
//! programs and engines (statuses, faults, `child.info` fields, key error codes, the JIT's
//! exit reasons) with its list, its decoder and its names, so no copy of them is kept by
//! hand.

/// Defines a `#[repr(u8)]` enum from one line per variant, `Variant = code => "name",`,
/// with `ALL` (in declaration order), `from_u8` and `name`.
///
/// ```
/// rarvm_runtime::code_enum! {
///     /// A traffic light.
///     pub enum Light {
///         Red = 0 => "red",
///         Green = 1 => "green",
///     }
/// }
/// assert_eq!(Light::from_u8(1), Some(Light::Green));
/// assert_eq!(Light::ALL.map(Light::name), ["red", "green"]);
/// ```
#[macro_export]
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $code:literal => $text:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        $vis enum $name {
            $($(#[$vmeta])* $variant = $code,)*
        }

        impl $name {
            /// Every code, in declaration order.
            pub const ALL: [$name; [$(stringify!($variant)),*].len()] = [$($name::$variant),*];

            /// The variant whose code is `v`, if any.
            pub const fn from_u8(v: u8) -> Option<$name> {
                match v {
                    $($code => Some($name::$variant),)*
                    _ => None,
                }
            }

            /// The name the command line, JSON and the specification use.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}
