//! Counters of host work, for tests that hold it against the gas a program was charged
//! (`docs/SPEC.md` §7.1): deterministic where timing is not.
//!
//! With the `meter` feature the shared semantics count, per thread, the bytes they zero,
//! copy or fill for processes and the bytes of modules and images they decode or encode.
//! Without it every function here is empty and costs nothing.

/// Host work counted since the last [`take`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// Bytes zeroed, copied or filled for processes: memory, frames, locals, ports.
    pub touched: u64,
    /// Bytes of module and image encodings decoded and verified.
    pub decoded: u64,
    /// Bytes of images encoded.
    pub encoded: u64,
}

#[cfg(feature = "meter")]
thread_local! {
    static WORK: std::cell::Cell<Work> = const {
        std::cell::Cell::new(Work { touched: 0, decoded: 0, encoded: 0 })
    };
}

#[cfg(feature = "meter")]
fn add(f: impl FnOnce(&mut Work)) {
    WORK.with(|w| {
        let mut v = w.get();
        f(&mut v);
        w.set(v);
    });
}

/// Counts `bytes` zeroed, copied or filled.
#[inline(always)]
pub fn touched(bytes: u64) {
    #[cfg(feature = "meter")]
    add(|w| w.touched = w.touched.saturating_add(bytes));
    #[cfg(not(feature = "meter"))]
    let _ = bytes;
}

/// Counts `bytes` of encodings decoded.
#[inline(always)]
pub fn decoded(bytes: u64) {
    #[cfg(feature = "meter")]
    add(|w| w.decoded = w.decoded.saturating_add(bytes));
    #[cfg(not(feature = "meter"))]
    let _ = bytes;
}

/// Counts `bytes` of images encoded.
#[inline(always)]
pub fn encoded(bytes: u64) {
    #[cfg(feature = "meter")]
    add(|w| w.encoded = w.encoded.saturating_add(bytes));
    #[cfg(not(feature = "meter"))]
    let _ = bytes;
}

/// The work counted on this thread since the last call, and starts counting anew (always
/// zero without the `meter` feature).
pub fn take() -> Work {
    #[cfg(feature = "meter")]
    return WORK.with(|w| w.replace(Work::default()));
    #[cfg(not(feature = "meter"))]
    Work::default()
}

/// True when this build counts work.
pub const ENABLED: bool = cfg!(feature = "meter");
