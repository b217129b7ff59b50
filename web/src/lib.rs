//! rarvm in the browser: the interpreter and the Entish compiler behind a small
//! JavaScript API (wasm-bindgen), for the playground page in `www/`.
//!
//! [`session`] holds the logic, in plain Rust so host tests reach it; this module only
//! wraps it for JavaScript. Every value that crosses is a number, a string of JSON or
//! bytes.

pub mod console;
pub mod session;

use wasm_bindgen::prelude::*;

use rarvm::host::Decision;
use session::{ConsoleMode, Diag};

/// The examples the page offers, as JSON: `[{"name": …, "source": …, "args": …,
/// "console": …}]`.
#[wasm_bindgen]
pub fn examples() -> String {
    let list: Vec<serde_json::Value> = session::EXAMPLES
        .iter()
        .map(|(name, source, args, console)| {
            serde_json::json!({"name": name, "source": source, "args": args, "console": console})
        })
        .collect();
    serde_json::Value::Array(list).to_string()
}

/// Compiles `source` (Entish if `name` ends in `.et`, assembler otherwise) and returns
/// the errors as JSON, `[]` when there are none: `[{"line", "col", "message"}]`.
#[wasm_bindgen]
pub fn check(name: &str, source: &str) -> String {
    match session::compile(name, source) {
        Ok(_) => "[]".into(),
        Err(diags) => diags_json(&diags),
    }
}

/// The blake3 hash of `bytes`, in hex.
#[wasm_bindgen]
pub fn hash_hex(bytes: &[u8]) -> String {
    rarvm::image::hash_hex(bytes)
}

fn diags_json(diags: &[Diag]) -> String {
    let list: Vec<serde_json::Value> = diags
        .iter()
        .map(|d| serde_json::json!({"line": d.line, "col": d.col, "message": d.message}))
        .collect();
    serde_json::Value::Array(list).to_string()
}

/// A root process the page runs in slices.
#[wasm_bindgen]
pub struct Session(session::Session);

#[wasm_bindgen]
impl Session {
    /// A new root running `source`'s entry with `args` (words separated by spaces or
    /// commas) under `gas` and `mem` bytes; `console` is `none`, `allowed` (a console key
    /// it may write to) or `ask` (a console key whose writes ask the page).
    ///
    /// # Errors
    /// The compile errors as JSON (see [`check`]), or a bad argument or arity.
    #[wasm_bindgen(constructor)]
    pub fn new(
        name: &str,
        source: &str,
        args: &str,
        gas: u64,
        mem: u64,
        console: &str,
    ) -> Result<Session, JsError> {
        let console = ConsoleMode::parse(console)
            .map_err(|e| JsError::new(&diags_json(&[Diag::nowhere(e)])))?;
        session::Session::new(name, source, args, gas, mem, console)
            .map(Session)
            .map_err(|d| JsError::new(&diags_json(&d)))
    }

    /// A session resuming the image `bytes`, with nothing to run until granted.
    ///
    /// # Errors
    /// What is wrong with the image.
    pub fn from_image(bytes: &[u8], console: &str) -> Result<Session, JsError> {
        let console = ConsoleMode::parse(console).map_err(|e| JsError::new(&e))?;
        session::Session::from_image(bytes, console)
            .map(Session)
            .map_err(|e| JsError::new(&e))
    }

    /// Runs at most `gas` of the budget; returns what [`Session::state`] returns.
    pub fn slice(&mut self, gas: u64) -> String {
        self.0.slice(gas);
        self.state()
    }

    /// Adds `gas` to the budget and `mem` bytes to the root's memory allowance.
    pub fn grant(&mut self, gas: u64, mem: u64) {
        self.0.grant(gas, mem);
    }

    /// Answers the question the root waits on (`needs` is `"right"`): `once`, `always` or
    /// `deny`.
    ///
    /// # Errors
    /// Any other word.
    pub fn answer(&mut self, decision: &str) -> Result<(), JsError> {
        let decision = match decision {
            "once" => Decision::Once,
            "always" => Decision::Always,
            "deny" => Decision::Deny,
            other => {
                return Err(JsError::new(&format!(
                    "{other:?} is not one of once, always, deny"
                )))
            }
        };
        self.0.answer(decision);
        Ok(())
    }

    /// The root's status, counters, port, position, the budget left, what the session
    /// needs to go on (`"run"`, `"gas"`, `"memory"`, `"right"` or `"done"`) and, for
    /// `"right"`, the `question`, as JSON.
    pub fn state(&self) -> String {
        self.0.state().to_string()
    }

    /// Every process of the tree, as JSON.
    pub fn tree(&self) -> String {
        self.0.tree().to_string()
    }

    /// Console output written since the last call.
    pub fn take_console(&mut self) -> String {
        self.0.take_console()
    }

    /// The canonical image of the tree.
    pub fn image(&self) -> Vec<u8> {
        self.0.image()
    }
}
