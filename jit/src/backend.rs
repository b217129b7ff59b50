//! The Cranelift backend: compiles functions into executable memory owned by the engine.

use cranelift_codegen::isa::CallConv;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Linkage, Module};
use rarvm_runtime::verify::VerifiedModule;

use crate::translate::{native_signature, translate};

/// Owns the executable memory of every function it compiled; freed when dropped.
pub(crate) struct Backend {
    module: Option<JITModule>,
    ctx: Context,
    fctx: FunctionBuilderContext,
    cc: CallConv,
    next_name: u64,
}

impl Backend {
    /// A backend for the host's architecture (x86-64 or aarch64).
    ///
    /// # Errors
    /// The host is not supported by Cranelift.
    pub fn new() -> Result<Backend, String> {
        let mut flags = settings::builder();
        let set = |flags: &mut settings::Builder, k: &str, v: &str| {
            flags
                .set(k, v)
                .map_err(|e| format!("cranelift setting {k}: {e}"))
        };
        set(&mut flags, "opt_level", "speed")?;
        set(&mut flags, "is_pic", "false")?;
        set(&mut flags, "use_colocated_libcalls", "false")?;
        set(
            &mut flags,
            "enable_verifier",
            if cfg!(debug_assertions) {
                "true"
            } else {
                "false"
            },
        )?;
        let isa = cranelift_native::builder()
            .map_err(|e| format!("no JIT for this host: {e}"))?
            .finish(settings::Flags::new(flags))
            .map_err(|e| format!("no JIT for this host: {e}"))?;
        let cc = isa.default_call_conv();
        let module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
        let ctx = module.make_context();
        Ok(Backend {
            module: Some(module),
            ctx,
            fctx: FunctionBuilderContext::new(),
            cc,
            next_name: 0,
        })
    }

    /// Compiles functions `funcs` of `m` and returns their native entries, in order.
    ///
    /// # Errors
    /// Cranelift rejected the generated code (a bug in the translator).
    pub fn compile(
        &mut self,
        m: &VerifiedModule,
        funcs: &[u32],
        metered: bool,
    ) -> Result<Vec<Compiled>, String> {
        let module = self.module.as_mut().expect("present until dropped");
        let mut ids = Vec::with_capacity(funcs.len());
        let mut frames = Vec::with_capacity(funcs.len());
        let dump = std::env::var_os("RARVM_JIT_DUMP").is_some();
        for &f in funcs {
            let signature = native_signature(self.cc);
            let name = format!("rarvm_fn{}", self.next_name);
            self.next_name += 1;
            let id = module
                .declare_function(&name, Linkage::Local, &signature)
                .map_err(|e| format!("declaring `{}`: {e}", m.func(f).name))?;
            self.ctx.func.signature = signature;
            let this = module.declare_func_in_func(id, &mut self.ctx.func);
            let mut b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fctx);
            translate(&mut b, m, f, self.cc, this, metered);
            b.finalize(module.target_config());
            if dump {
                self.ctx.set_disasm(true);
                eprintln!(
                    "; ---- {} (CLIF)\n{}",
                    m.func(f).name,
                    self.ctx.func.display()
                );
            }
            module
                .define_function(id, &mut self.ctx)
                .map_err(|e| format!("compiling `{}`: {e:?}", m.func(f).name))?;
            let layout = self
                .ctx
                .compiled_code()
                .and_then(|c| c.buffer.frame_layout());
            // Below the frame pointer, plus the saved frame pointer and return address, plus
            // a margin for what the prologue pushes before the frame is set up.
            frames.push(layout.map_or(4096, |l| l.frame_to_fp_offset) + 16 + 64);
            if dump {
                if let Some(code) = self.ctx.compiled_code().and_then(|c| c.vcode.as_ref()) {
                    eprintln!("; ---- {} (machine code)\n{code}", m.func(f).name);
                }
            }
            module.clear_context(&mut self.ctx);
            ids.push(id);
        }
        module
            .finalize_definitions()
            .map_err(|e| format!("finalizing code: {e}"))?;
        Ok(ids
            .into_iter()
            .zip(frames)
            .map(|(id, frame)| Compiled {
                code: module.get_finalized_function(id),
                frame,
            })
            .collect())
    }
}

/// One compiled function.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Compiled {
    /// Its native entry.
    pub code: *const u8,
    /// An upper bound of the host stack its frame takes.
    pub frame: u32,
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(module) = self.module.take() {
            // SAFETY: the engine that owns this backend owns every table holding pointers
            // into this code and drops them with it; no native code runs during drop.
            unsafe { module.free_memory() };
        }
    }
}
